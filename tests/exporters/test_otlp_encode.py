"""OTLP encoding: decode what we encoded with `opentelemetry-proto` and compare, field by field
and against the same request built with the protobuf classes (`otlp_reference`); edge cases of
attribute values; metric aggregation rules; reading `partial_success` from responses."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from emulator.backends.otlp_receivers import any_value as decode_value
from emulator.backends.otlp_receivers import attrs
from extension.exporters.otlp_encode import (
    DEFAULT_BOUNDS,
    MS_BOUNDS,
    SCOPE_NAME,
    any_value,
    encode_logs,
    encode_metrics,
    encode_traces,
    partial_success,
)
from extension.exporters.protowire import WireError, varint
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
from tests.exporters import samples

DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def test_spans_round_trip() -> None:
    spans = (samples.span(0), samples.span(1, StatusCode.ERROR))
    wire = encode_traces(spans, samples.RESOURCE)
    req = ExportTraceServiceRequest.FromString(wire)
    rs = req.resource_spans[0]
    assert attrs(rs.resource.attributes) == dict(samples.RESOURCE.attributes)
    assert rs.scope_spans[0].scope.name == SCOPE_NAME
    out = rs.scope_spans[0].spans
    assert len(out) == 2
    for original, decoded in zip(spans, out, strict=True):
        assert decoded.trace_id == original.trace_id
        assert decoded.span_id == original.span_id
        assert decoded.parent_span_id == original.parent_span_id
        assert decoded.name == original.name
        assert decoded.kind == int(original.kind)
        assert decoded.start_time_unix_nano == original.start_ns
        assert decoded.end_time_unix_nano == original.end_ns
        assert attrs(decoded.attributes) == dict(original.attributes)
        assert decoded.status.code == int(original.status)
        assert decoded.status.message == original.status_message
        assert [(e.name, e.time_unix_nano, attrs(e.attributes)) for e in decoded.events] == [
            (e.name, e.time_ns, dict(e.attributes)) for e in original.events
        ]
        assert [(link.trace_id, link.span_id) for link in decoded.links] == [
            (link.trace_id, link.span_id) for link in original.links
        ]
        assert decoded.flags & 0x01 == 1


def test_root_span_has_no_parent() -> None:

    root = samples.span(0)._replace(parent_span_id=None)
    req = ExportTraceServiceRequest.FromString(encode_traces([root], samples.RESOURCE))
    assert req.resource_spans[0].scope_spans[0].spans[0].parent_span_id == b""


def test_logs_round_trip_with_string_and_map_bodies() -> None:
    records = (samples.log(0), samples.log(1, body={"message": "hi", "level": "INFO", "n": [1, 2]}))
    req = ExportLogsServiceRequest.FromString(encode_logs(records, samples.RESOURCE))
    out = req.resource_logs[0].scope_logs[0].log_records
    assert decode_value(out[0].body) == "line 0"
    assert decode_value(out[1].body) == {"message": "hi", "level": "INFO", "n": [1, 2]}
    for original, decoded in zip(records, out, strict=True):
        assert decoded.time_unix_nano == original.time_ns
        assert decoded.observed_time_unix_nano == original.observed_ns
        assert decoded.severity_number == original.severity_number
        assert decoded.severity_text == original.severity_text
        assert decoded.trace_id == original.trace_id
        assert decoded.span_id == original.span_id
        assert attrs(decoded.attributes) == dict(original.attributes)


def _value(value: object) -> object:
    return decode_value(AnyValue.FromString(any_value(value)))


def test_any_value_covers_every_attribute_type() -> None:
    for value in ["s", True, False, 0, -5, 2**62, 1.5, None, [1, "a", [True]], {"a": {"b": [1.0]}}]:
        assert _value(value) == value
    assert _value(2**70) == str(2**70)  # beyond int64: kept as text
    assert _value(b"\x00\x01") == b"\x00\x01"
    assert _value(("t", 1)) == ["t", 1]


def _metrics(measurements: list) -> dict:  # type: ignore[type-arg]
    req = ExportMetricsServiceRequest.FromString(encode_metrics(measurements, samples.RESOURCE))
    return {m.name: m for m in req.resource_metrics[0].scope_metrics[0].metrics}


def test_counters_become_monotonic_delta_sums_per_attribute_set() -> None:
    m = samples.measurement
    out = _metrics(
        [
            m("invocations", 1, MetricKind.COUNTER, "{invocation}", t=5, trigger="a"),
            m("invocations", 1, MetricKind.COUNTER, "{invocation}", t=9, trigger="a"),
            m("invocations", 1, MetricKind.COUNTER, "{invocation}", t=7, trigger="b"),
        ]
    )
    s = out["invocations"].sum
    assert s.is_monotonic and s.aggregation_temporality == DELTA
    points = {attrs(p.attributes)["trigger"]: p for p in s.data_points}
    assert points["a"].as_double == 2 and points["b"].as_double == 1
    assert points["a"].start_time_unix_nano == samples.T0 + 5
    assert points["a"].time_unix_nano == samples.T0 + 9


def test_histograms_have_ms_bounds_and_exact_stats() -> None:
    m = samples.measurement
    values = [0.5, 1.0, 3.0, 120.0, 120.0, 1_000_000.0]
    out = _metrics([m("faas.duration", v, MetricKind.HISTOGRAM, "ms", t=i) for i, v in enumerate(values)])
    h = out["faas.duration"].histogram
    assert h.aggregation_temporality == DELTA
    (p,) = h.data_points
    assert list(p.explicit_bounds) == list(MS_BOUNDS)
    assert len(p.bucket_counts) == len(MS_BOUNDS) + 1
    assert p.count == len(values) and sum(p.bucket_counts) == len(values)
    assert math.isclose(p.sum, sum(values))
    assert p.min == 0.5 and p.max == 1_000_000.0
    assert p.bucket_counts[0] == 2  # (-inf, 1]: upper bound inclusive
    assert p.bucket_counts[1] == 1  # (1, 5]
    assert p.bucket_counts[MS_BOUNDS.index(250)] == 2  # (100, 250]
    assert p.bucket_counts[-1] == 1  # overflow


def test_gauges_keep_the_last_value_by_time() -> None:
    m = samples.measurement
    out = _metrics(
        [
            m("mem", 64, MetricKind.GAUGE, "MBy", t=3),
            m("mem", 99, MetricKind.GAUGE, "MBy", t=9),
            m("mem", 70, MetricKind.GAUGE, "MBy", t=5),
        ]
    )
    (p,) = out["mem"].gauge.data_points
    assert p.as_double == 99
    assert p.time_unix_nano == samples.T0 + 9


def test_attribute_order_does_not_split_series() -> None:
    m = samples.measurement
    a = m("c", 1, MetricKind.COUNTER, "1", x="1", y="2")
    b = m("c", 1, MetricKind.COUNTER, "1", y="2", x="1")
    assert len(_metrics([a, b])["c"].sum.data_points) == 1


# -- byte for byte against the protobuf classes, and edge cases ------------------------------


def _one_log(record: LogData) -> Any:
    wire = encode_logs([record], samples.RESOURCE)
    assert wire == reference.encode_logs([record], samples.RESOURCE).SerializeToString()
    return ExportLogsServiceRequest.FromString(wire).resource_logs[0].scope_logs[0].log_records[0]


def _one_span(span: SpanData) -> Any:
    wire = encode_traces([span], samples.RESOURCE)
    assert wire == reference.encode_traces([span], samples.RESOURCE).SerializeToString()
    return ExportTraceServiceRequest.FromString(wire).resource_spans[0].scope_spans[0].spans[0]


def test_every_message_type_equals_the_protobuf_built_request_byte_for_byte() -> None:
    m = samples.measurement
    measurements = [
        m("faas.duration", 3.0, t=1, trigger="http"),
        m("faas.duration", 700.0, t=2, trigger="http"),
        m("bytes", 12.0, MetricKind.HISTOGRAM, "By", t=3),
        m("invocations", 1, MetricKind.COUNTER, "{invocation}", t=4, trigger="a"),
        m("mem", 64, MetricKind.GAUGE, "MBy", t=5),
        Measurement("described", MetricKind.COUNTER, 2.0, "1", samples.T0, {}, "what it counts"),
    ]
    spans = [samples.span(i, status) for i, status in enumerate(StatusCode)]
    logs = [samples.log(0), samples.log(1, body={"m": "hi", "n": [1, 2]}), samples.log(2, body=7)]
    cases = [
        (encode_traces(spans, samples.RESOURCE), reference.encode_traces(spans, samples.RESOURCE)),
        (encode_logs(logs, samples.RESOURCE), reference.encode_logs(logs, samples.RESOURCE)),
        (
            encode_metrics(measurements, samples.RESOURCE),
            reference.encode_metrics(measurements, samples.RESOURCE),
        ),
    ]
    for wire, built in cases:
        assert type(wire) is bytes
        assert wire == built.SerializeToString()
        assert type(built).FromString(wire) == built


def test_empty_batches_and_empty_resource_still_carry_resource_and_scope() -> None:
    empty = Resource({})
    for wire, cls in (
        (encode_logs([], empty), ExportLogsServiceRequest),
        (encode_traces([], empty), ExportTraceServiceRequest),
        (encode_metrics([], empty), ExportMetricsServiceRequest),
    ):
        req = cls.FromString(wire)
        (outer,) = req.ListFields()[0][1]
        assert outer.HasField("resource") and list(outer.resource.attributes) == []
        (scope,) = outer.ListFields()[1][1]
        assert scope.scope.name == SCOPE_NAME
    assert encode_logs([], empty) == reference.encode_logs([], empty).SerializeToString()


def test_log_edge_cases_decode_to_what_was_given() -> None:
    bare = LogData(0, 0, 0, "", None)
    rec = _one_log(bare)
    assert not rec.HasField("body") and list(rec.attributes) == []
    assert (rec.time_unix_nano, rec.observed_time_unix_nano, rec.severity_number) == (0, 0, 0)
    assert rec.trace_id == b"" and rec.span_id == b"" and rec.flags == 0

    values: dict[str, Any] = {
        "empty": "",
        "unicode": "héllo ✓ 日本 🎉",
        "neg": -1,
        "min": -(2**63),
        "max": 2**63 - 1,
        "zero": 0,
        "false": False,
        "true": True,
        "double": -0.25,
        "big": 1e300,
        "bytes": b"\x00\xff",
        "none": None,
        "list": [],
        "map": {},
        "nested": {"a": [1, "x", {"b": [True, None, 2.5]}], "ü": {"k": b"v"}},
        "🔑": "emoji key",
    }
    rec = _one_log(samples.log(0)._replace(attributes=values, body={"k": [1, {"z": None}]}))
    assert attrs(rec.attributes) == {**values, "none": None}
    assert rec.attributes[len(values) - 1].key == "🔑"
    assert decode_value(rec.body) == {"k": [1, {"z": None}]}
    for body in ("", "ünï ✓", -7, 3.5, True, b"raw", ["a", 1]):
        assert decode_value(_one_log(samples.log(0)._replace(body=body)).body) == body


def test_log_trace_context_and_flags() -> None:
    sampled = _one_log(samples.log(0))
    assert sampled.flags == 0x01
    assert sampled.trace_id == samples.TRACE_ID and sampled.span_id == samples.SPAN_ID
    unsampled = _one_log(samples.log(0)._replace(sampled=False))
    assert unsampled.flags == 0 and unsampled.trace_id == samples.TRACE_ID
    no_span = _one_log(samples.log(0)._replace(span_id=None))
    assert no_span.span_id == b"" and no_span.trace_id == samples.TRACE_ID


def test_text_that_is_not_valid_unicode_is_replaced_not_fatal() -> None:
    record = samples.log(0)._replace(body="a\ud800b", attributes={"k\udfff": "v\ud800"})
    wire = encode_logs([record], samples.RESOURCE)
    rec = ExportLogsServiceRequest.FromString(wire).resource_logs[0].scope_logs[0].log_records[0]
    assert rec.body.string_value == "a\ufffdb"
    assert attrs(rec.attributes) == {"k\ufffd": "v\ufffd"}


def test_values_nested_too_deep_become_text() -> None:
    deep: Any = "leaf"
    for _ in range(20):
        deep = [deep]
    decoded = _value(deep)
    for _ in range(16):
        assert isinstance(decoded, list) and len(decoded) == 1
        decoded = decoded[0]
    assert isinstance(decoded, str) and "leaf" in decoded


def test_span_edge_cases() -> None:
    bare = SpanData(b"", b"", None, "", SpanKind.INTERNAL, 0, 0, sampled=False)
    span = _one_span(bare)
    assert span.kind == SpanKind.INTERNAL and span.flags == 0 and span.HasField("status")
    assert span.status.code == 0 and span.status.message == ""
    for status in StatusCode:
        out = _one_span(samples.span(0)._replace(status=status, status_message=f"m{status}"))
        assert out.status.code == int(status) and out.status.message == f"m{status}"
    many = samples.span(0)._replace(
        name="ünïcode ✓",
        kind=SpanKind.CLIENT,
        events=(SpanEvent("a", 1, {}), SpanEvent("", 0, {"n": -3})),
        links=(SpanLink(samples.TRACE_ID, samples.SPAN_ID), SpanLink(b"", b"", {"x": [1.5]})),
    )
    out = _one_span(many)
    assert out.name == "ünïcode ✓" and out.kind == SpanKind.CLIENT
    assert [(e.name, e.time_unix_nano, attrs(e.attributes)) for e in out.events] == [
        ("a", 1, {}),
        ("", 0, {"n": -3}),
    ]
    assert [(li.trace_id, li.span_id, attrs(li.attributes)) for li in out.links] == [
        (samples.TRACE_ID, samples.SPAN_ID, {}),
        (b"", b"", {"x": [1.5]}),
    ]


def test_metric_points_as_encoded() -> None:
    m = samples.measurement
    out = _metrics(
        [
            m("neg", -2.5, MetricKind.GAUGE, "1", t=1),
            m("zero", 0.0, MetricKind.COUNTER, "", t=0),
            m("h", 0.0, MetricKind.HISTOGRAM, "By", t=2, k=[1, 2]),
        ]
    )
    assert out["neg"].gauge.data_points[0].as_double == -2.5
    (zero,) = out["zero"].sum.data_points
    assert zero.WhichOneof("value") == "as_double" and zero.as_double == 0.0
    assert out["zero"].unit == ""
    (h,) = out["h"].histogram.data_points
    assert h.HasField("sum") and h.HasField("min") and h.HasField("max")
    assert (h.sum, h.min, h.max, h.count) == (0.0, 0.0, 0.0, 1)
    assert list(h.explicit_bounds) == list(DEFAULT_BOUNDS) and h.bucket_counts[0] == 1
    assert attrs(h.attributes) == {"k": [1, 2]}


# -- responses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "partial", "field"),
    [
        (ExportTraceServiceResponse, ExportTracePartialSuccess, "rejected_spans"),
        (ExportMetricsServiceResponse, ExportMetricsPartialSuccess, "rejected_data_points"),
        (ExportLogsServiceResponse, ExportLogsPartialSuccess, "rejected_log_records"),
    ],
)
def test_partial_success_is_read_from_every_response(response: Any, partial: Any, field: str) -> None:
    body = response(partial_success=partial(**{field: 7}, error_message="quota ✓")).SerializeToString()
    assert partial_success(body) == (7, "quota ✓")
    assert partial_success(response().SerializeToString()) == (0, "")
    only_message = response(partial_success=partial(error_message="warn")).SerializeToString()
    assert partial_success(only_message) == (0, "warn")
    # a newer server's unknown fields are skipped
    assert partial_success(b"\x10\x05" + body + b"\x1a\x01x") == (7, "quota ✓")


@pytest.mark.parametrize("garbage", [b"\x0a\x05ab", b"\xff", b"\x0b", b"\x00\x01"])
def test_malformed_responses_raise_a_wire_error(garbage: bytes) -> None:
    with pytest.raises(WireError):
        partial_success(garbage)


def test_varints_match_protobuf_for_edge_values() -> None:
    for value in (0, 1, 127, 128, 300, 2**31, 2**63 - 1, -1, -(2**63)):
        wire = AnyValue(int_value=value).SerializeToString()
        assert wire == b"\x18" + varint(value)


def test_records_sharing_trace_context_objects_keep_their_own_flags() -> None:
    """The encoder reuses the encoded trace fields while consecutive records carry the same
    context objects; a change of any of them (sampled too) must show."""
    base = samples.log(0)
    records = [
        base,
        base._replace(body="same context"),
        base._replace(sampled=False),
        base._replace(trace_id=None, span_id=None),
        base._replace(span_id=None),
        base,
    ]
    wire = encode_logs(records, samples.RESOURCE)
    assert wire == reference.encode_logs(records, samples.RESOURCE).SerializeToString()
    out = ExportLogsServiceRequest.FromString(wire).resource_logs[0].scope_logs[0].log_records
    assert [(r.flags, r.trace_id != b"", r.span_id != b"") for r in out] == [
        (1, True, True),
        (1, True, True),
        (0, True, True),
        (0, False, False),
        (1, True, False),
        (1, True, True),
    ]


def test_long_records_and_large_requests_use_multi_byte_lengths() -> None:
    """Lengths of 1, 2 and 3+ varint bytes: a short record, ~200 B, 20 KB and 300 KB bodies."""
    records = [
        LogData(1, 1, 0, "", "x"),
        samples.log(0)._replace(body="b" * 150),
        samples.log(1)._replace(body="ü" * 10_000, attributes={"big": "v" * 20_000}),
        samples.log(2)._replace(body={"k": "z" * 300_000}),
    ]
    wire = encode_logs(records, samples.RESOURCE)
    assert wire == reference.encode_logs(records, samples.RESOURCE).SerializeToString()
    out = ExportLogsServiceRequest.FromString(wire).resource_logs[0].scope_logs[0].log_records
    assert out[2].body.string_value == "ü" * 10_000 and decode_value(out[3].body) == {"k": "z" * 300_000}
