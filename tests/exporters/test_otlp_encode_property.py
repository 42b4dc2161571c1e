"""Property: any records we can be given → our bytes → `opentelemetry-proto` decodes exactly
those records back, and the bytes equal what the protobuf classes serialize for the same request.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from emulator.backends.otlp_receivers import any_value as decode_value
from emulator.backends.otlp_receivers import attrs
from extension.exporters.otlp_encode import SCOPE_NAME, encode_logs, encode_metrics, encode_traces
from extension.signals import (
    LogData,
    Measurement,
    MetricKind,
    Resource,
    SpanData,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)
from tests.exporters import otlp_reference as reference

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u64 = st.integers(min_value=0, max_value=2**64 - 1)
times = st.integers(min_value=0, max_value=2**63 - 1)
text = st.text(max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | text
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=8,
)
attributes = st.dictionaries(text, values, max_size=6)
ids16 = st.binary(min_size=16, max_size=16)
ids8 = st.binary(min_size=8, max_size=8)
resources = st.builds(Resource, attributes)

logs = st.builds(
    LogData,
    time_ns=u64,
    observed_ns=u64,
    severity_number=st.integers(min_value=0, max_value=24),
    severity_text=text,
    body=values,
    attributes=attributes,
    trace_id=st.none() | ids16,
    span_id=st.none() | ids8,
    sampled=st.booleans(),
    origin=st.none(),  # our own records (received ones: tests/exporters/test_received_round_trip.py)
)
spans = st.builds(
    SpanData,
    trace_id=ids16,
    span_id=ids8,
    parent_span_id=st.none() | ids8,
    name=text,
    kind=st.sampled_from(SpanKind),
    start_ns=u64,
    end_ns=u64,
    status=st.sampled_from(StatusCode),
    status_message=text,
    attributes=attributes,
    events=st.lists(st.builds(SpanEvent, text, u64, attributes), max_size=3).map(tuple),
    links=st.lists(st.builds(SpanLink, ids16, ids8, attributes), max_size=3).map(tuple),
    sampled=st.booleans(),
    origin=st.none(),
    trace_state=st.just(""),
)
measurements = st.builds(
    Measurement,
    name=st.sampled_from(["a", "b", "ü"]),
    kind=st.sampled_from(MetricKind),
    value=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    unit=st.sampled_from(["ms", "By", ""]),
    time_ns=times,
    attributes=st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["1", "2", 3]), max_size=2),
    description=st.sampled_from(["", "d"]),
    origin=st.none(),
    histogram=st.none(),
    start_ns=st.just(0),
    monotonic=st.just(True),
)


def _clean(value: Any) -> Any:
    """What a decoder gives back for `value`: tuples are arrays."""
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


@PROPERTY
@given(st.lists(logs, max_size=5), resources)
def test_random_logs_decode_to_the_input(records: list[LogData], resource: Resource) -> None:
    wire = encode_logs(records, resource)
    assert wire == reference.encode_logs(records, resource).SerializeToString()
    (rl,) = ExportLogsServiceRequest.FromString(wire).resource_logs
    assert attrs(rl.resource.attributes) == _clean(dict(resource.attributes))
    (sl,) = rl.scope_logs
    assert sl.scope.name == SCOPE_NAME
    assert len(sl.log_records) == len(records)
    for record, decoded in zip(records, sl.log_records, strict=True):
        assert decoded.time_unix_nano == record.time_ns
        assert decoded.observed_time_unix_nano == record.observed_ns
        assert decoded.severity_number == record.severity_number
        assert decoded.severity_text == record.severity_text
        assert (decode_value(decoded.body) if decoded.HasField("body") else None) == _clean(record.body)
        assert attrs(decoded.attributes) == _clean(dict(record.attributes))
        assert decoded.trace_id == (record.trace_id or b"")
        assert decoded.span_id == (record.span_id or b"")
        assert decoded.flags == (1 if record.trace_id and record.sampled else 0)


@PROPERTY
@given(st.lists(spans, max_size=4), resources)
def test_random_spans_decode_to_the_input(given_spans: list[SpanData], resource: Resource) -> None:
    wire = encode_traces(given_spans, resource)
    assert wire == reference.encode_traces(given_spans, resource).SerializeToString()
    (rs,) = ExportTraceServiceRequest.FromString(wire).resource_spans
    assert attrs(rs.resource.attributes) == _clean(dict(resource.attributes))
    (ss,) = rs.scope_spans
    assert len(ss.spans) == len(given_spans)
    for span, decoded in zip(given_spans, ss.spans, strict=True):
        assert (decoded.trace_id, decoded.span_id) == (span.trace_id, span.span_id)
        assert decoded.parent_span_id == (span.parent_span_id or b"")
        assert (decoded.name, decoded.kind) == (span.name, int(span.kind))
        assert (decoded.start_time_unix_nano, decoded.end_time_unix_nano) == (span.start_ns, span.end_ns)
        assert (decoded.status.code, decoded.status.message) == (int(span.status), span.status_message)
        assert attrs(decoded.attributes) == _clean(dict(span.attributes))
        assert [(e.name, e.time_unix_nano, attrs(e.attributes)) for e in decoded.events] == [
            (e.name, e.time_ns, _clean(dict(e.attributes))) for e in span.events
        ]
        assert [(li.trace_id, li.span_id, attrs(li.attributes)) for li in decoded.links] == [
            (li.trace_id, li.span_id, _clean(dict(li.attributes))) for li in span.links
        ]
        assert decoded.flags == (1 if span.sampled else 0)


@PROPERTY
@given(st.lists(measurements, max_size=12), resources)
def test_random_measurements_encode_as_the_protobuf_classes_would(
    given: list[Measurement], resource: Resource
) -> None:
    wire = encode_metrics(given, resource)
    built = reference.encode_metrics(given, resource)
    assert wire == built.SerializeToString()
    decoded = ExportMetricsServiceRequest.FromString(wire)
    assert decoded == built
    metrics = decoded.resource_metrics[0].scope_metrics[0].metrics
    assert {(m.name, m.unit) for m in metrics} == {(m.name, m.unit) for m in given}
    points = sum(
        sum(p.count for p in m.histogram.data_points) if m.HasField("histogram") else 0 for m in metrics
    )
    assert points == sum(1 for m in given if m.kind is MetricKind.HISTOGRAM)
