"""OTLP encoding: decode what we encoded and compare; metric aggregation rules."""

from __future__ import annotations

import math

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from emulator.backends.otlp_receivers import any_value as decode_value
from emulator.backends.otlp_receivers import attrs
from extension.exporters.otlp_encode import (
    MS_BOUNDS,
    SCOPE_NAME,
    any_value,
    encode_logs,
    encode_metrics,
    encode_traces,
)
from extension.signals import MetricKind, StatusCode
from tests.exporters import samples

DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def test_spans_round_trip() -> None:
    spans = (samples.span(0), samples.span(1, StatusCode.ERROR))
    wire = encode_traces(spans, samples.RESOURCE).SerializeToString()
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
    from dataclasses import replace

    root = replace(samples.span(0), parent_span_id=None)
    req = ExportTraceServiceRequest.FromString(encode_traces([root], samples.RESOURCE).SerializeToString())
    assert req.resource_spans[0].scope_spans[0].spans[0].parent_span_id == b""


def test_logs_round_trip_with_string_and_map_bodies() -> None:
    records = (samples.log(0), samples.log(1, body={"message": "hi", "level": "INFO", "n": [1, 2]}))
    req = ExportLogsServiceRequest.FromString(encode_logs(records, samples.RESOURCE).SerializeToString())
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


def test_any_value_covers_every_attribute_type() -> None:
    for value in ["s", True, False, 0, -5, 2**62, 1.5, None, [1, "a", [True]], {"a": {"b": [1.0]}}]:
        assert decode_value(any_value(value)) == value
    assert decode_value(any_value(2**70)) == str(2**70)  # beyond int64: kept as text
    assert decode_value(any_value(b"\x00\x01")) == b"\x00\x01"
    assert decode_value(any_value(("t", 1))) == ["t", 1]


def _metrics(measurements: list) -> dict:  # type: ignore[type-arg]
    req = ExportMetricsServiceRequest.FromString(
        encode_metrics(measurements, samples.RESOURCE).SerializeToString()
    )
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
