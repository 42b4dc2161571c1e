"""What the function's SDK sends, received and exported again, decodes to what it sent.

Requests are built with the `opentelemetry-proto` classes (what an SDK sends), turned into our
records by the receiver's converter, encoded by `otlp_encode`, and parsed again with
`opentelemetry-proto`: every span, log record and data point must come out as it went in, under
its own resource (ours merged in for `faas.*`/`cloud.*`) and scope.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from emulator.backends.otlp_receivers import attrs
from extension.exporters.otlp_encode import encode_logs, encode_metrics, encode_traces
from extension.signals import Resource
from extension.sources.otlp_receiver import decode
from extension.sources.otlp_receiver.server import merge_resource

OURS = Resource({"service.name": "fn", "faas.name": "fn", "cloud.provider": "aws", "telemetry.sdk.name": "x"})
DELTA, CUMULATIVE = 1, 2


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(
        key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(double_value=v) for v in value]))
    )


def _resource(**values: Any) -> PbResource:
    return PbResource(attributes=[_kv(k.replace("_", "."), v) for k, v in values.items()])


def _converter() -> decode.Converter:
    return decode.Converter(merge_resource(OURS), lambda: 42)


def _spans_request() -> ExportTraceServiceRequest:
    root = Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        parent_span_id=b"\x03" * 8,
        trace_state="vendor=1",
        name="root",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1_000,
        end_time_unix_nano=9_000,
        attributes=[_kv("http.route", "/x"), _kv("retries", 2), _kv("ok", True), _kv("w", [0.5, 1.5])],
        events=[Span.Event(time_unix_nano=2_000, name="cache miss", attributes=[_kv("key", "k")])],
        links=[Span.Link(trace_id=b"\x04" * 16, span_id=b"\x05" * 8, attributes=[_kv("why", "batch")])],
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
    )
    child = Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x06" * 8,
        parent_span_id=b"\x02" * 8,
        name="child",
        kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=2_000,
        end_time_unix_nano=3_000,
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=_resource(service_name="svc-a", faas_name="theirs"),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name="lib.a", version="1.0"), spans=[root]),
                    ScopeSpans(scope=InstrumentationScope(name="lib.b"), spans=[child]),
                ],
            ),
            ResourceSpans(
                resource=_resource(service_name="unknown_service:python"),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="lib.c"), spans=[child])],
            ),
        ]
    )


def test_spans_come_out_as_they_went_in_under_their_own_resource_and_scope() -> None:
    sent = _spans_request()
    decoded = _converter().convert("traces", sent)
    assert (decoded.received, decoded.rejected) == (3, 0)
    out = ExportTraceServiceRequest.FromString(encode_traces(decoded.signals.spans, OURS))
    got = [
        (attrs(rs.resource.attributes), ss.scope, list(ss.spans))
        for rs in out.resource_spans
        for ss in rs.scope_spans
    ]
    want = [(rs.resource, ss.scope, list(ss.spans)) for rs in sent.resource_spans for ss in rs.scope_spans]
    assert [g[1] for g in got] == [w[1] for w in want]
    for (_, _, got_spans), (_, _, want_spans) in zip(got, want, strict=True):
        for g, w in zip(got_spans, want_spans, strict=True):
            w = Span.FromString(w.SerializeToString())
            w.flags = 1  # exported spans carry the sampled flag
            w.status.SetInParent()  # and always a status (empty when unset), as before
            assert g == w
    # theirs kept, ours merged in only for what is missing; unknown_service replaced by ours
    assert got[0][0] == {"service.name": "svc-a", "faas.name": "theirs", "cloud.provider": "aws"}
    assert got[2][0] == {"service.name": "fn", "faas.name": "fn", "cloud.provider": "aws"}


def test_otlp_json_ids_are_hex_and_decode_to_the_same_spans() -> None:
    sent = _spans_request()
    doc = json_format.MessageToDict(sent)  # base64 ids: turn them into OTLP/JSON's hex

    def to_hex(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (
                    __import__("base64").b64decode(v).hex()
                    if k in ("traceId", "spanId", "parentSpanId")
                    else to_hex(v)
                )
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [to_hex(v) for v in value]
        return value

    body = json.dumps(to_hex(doc)).encode()
    assert "01010101010101010101010101010101" in body.decode()
    assert decode.parse("traces", body, is_json=True) == sent


def test_invalid_ids_are_rejected_and_reported_as_partial_success() -> None:
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(trace_id=b"\x01" * 15, span_id=b"\x02" * 8, name="short trace id"),
                            Span(trace_id=b"\x01" * 16, span_id=b"\x00" * 8, name="zero span id"),
                            Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="good"),
                        ]
                    )
                ]
            )
        ]
    )
    decoded = _converter().convert("traces", request)
    assert [s.name for s in decoded.signals.spans] == ["good"]
    assert decoded.rejected == 2
    reply = ExportTraceServiceResponse.FromString(
        decode.response("traces", 2, decoded.message, is_json=False)
    )
    assert reply.partial_success.rejected_spans == 2
    assert json.loads(decode.response("traces", 0, "", is_json=True)) == {}


def test_malformed_bodies_raise_bad_request() -> None:
    for body, is_json in (
        (b"\xff\xff\xff", False),
        (b"{", True),
        (b"[]", True),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', True),
    ):
        try:
            decode.parse("traces", body, is_json)
        except decode.BadRequest:
            continue
        raise AssertionError(f"accepted {body!r}")


def test_logs_come_out_as_they_went_in() -> None:
    record = LogRecord(
        time_unix_nano=5,
        observed_time_unix_nano=6,
        severity_number=9,
        severity_text="INFO",
        body=AnyValue(string_value="processed 1"),
        attributes=[_kv("code.function", "handler")],
        flags=1,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
    )
    sent = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=_resource(service_name="svc"),
                scope_logs=[ScopeLogs(scope=InstrumentationScope(name="app"), log_records=[record])],
            )
        ]
    )
    decoded = _converter().convert("logs", sent)
    out = ExportLogsServiceRequest.FromString(encode_logs(decoded.signals.logs, OURS))
    assert [r for rl in out.resource_logs for sl in rl.scope_logs for r in sl.log_records] == [record]
    assert out.resource_logs[0].scope_logs[0].scope.name == "app"


def _sum_request(value: int, start: int, end: int, temporality: int) -> ExportMetricsServiceRequest:
    point = NumberDataPoint(
        start_time_unix_nano=start, time_unix_nano=end, as_int=value, attributes=[_kv("step", "a")]
    )
    metric = Metric(
        name="app.steps",
        unit="1",
        sum=Sum(data_points=[point], aggregation_temporality=temporality, is_monotonic=True),
    )
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=_resource(service_name="svc"), scope_metrics=[ScopeMetrics(metrics=[metric])]
            )
        ]
    )


def _exported_sums(measurements: Any) -> list[tuple[int, int, float]]:
    out = ExportMetricsServiceRequest.FromString(encode_metrics(measurements, OURS))
    return [
        (p.start_time_unix_nano, p.time_unix_nano, p.as_double)
        for rm in out.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.sum.data_points
        if m.sum.is_monotonic and m.sum.aggregation_temporality == DELTA
    ]


def test_cumulative_sums_become_deltas_per_series() -> None:
    converter = _converter()
    first = converter.convert("metrics", _sum_request(3, 100, 200, CUMULATIVE)).signals.metrics
    second = converter.convert("metrics", _sum_request(7, 100, 300, CUMULATIVE)).signals.metrics
    stale = converter.convert("metrics", _sum_request(7, 100, 300, CUMULATIVE)).signals.metrics
    reset = converter.convert("metrics", _sum_request(2, 400, 500, CUMULATIVE)).signals.metrics
    assert _exported_sums(first) == [(100, 200, 3.0)]
    assert _exported_sums(second) == [(200, 300, 4.0)]
    assert stale == ()
    assert _exported_sums(reset) == [(400, 500, 2.0)]
    delta = converter.convert("metrics", _sum_request(5, 600, 700, DELTA)).signals.metrics
    assert _exported_sums(delta) == [(600, 700, 5.0)]


def test_histograms_keep_their_bounds_and_buckets() -> None:
    point = HistogramDataPoint(
        start_time_unix_nano=1,
        time_unix_nano=2,
        count=4,
        sum=10.0,
        bucket_counts=[1, 2, 1],
        explicit_bounds=[1.0, 5.0],
        min=0.5,
        max=6.0,
    )
    summary = Metric(name="s", summary=Summary(data_points=[SummaryDataPoint(count=1)]))
    metric = Metric(
        name="lat", unit="s", histogram=Histogram(data_points=[point], aggregation_temporality=DELTA)
    )
    sent = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[metric, summary])])]
    )
    decoded = _converter().convert("metrics", sent)
    assert (decoded.received, decoded.rejected) == (2, 1)
    out = ExportMetricsServiceRequest.FromString(encode_metrics(decoded.signals.metrics, OURS))
    (got,) = [m for rm in out.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert got.name == "lat" and got.unit == "s"
    assert list(got.histogram.data_points) == [point]


def test_cumulative_histograms_become_deltas_without_an_invented_min_or_max() -> None:
    def request(count: int, total: float, buckets: list[int], end: int) -> ExportMetricsServiceRequest:
        point = HistogramDataPoint(
            start_time_unix_nano=1,
            time_unix_nano=end,
            count=count,
            sum=total,
            bucket_counts=buckets,
            explicit_bounds=[10.0],
            min=1.0,
            max=50.0,
        )
        metric = Metric(
            name="lat",
            unit="ms",
            histogram=Histogram(data_points=[point], aggregation_temporality=CUMULATIVE),
        )
        return ExportMetricsServiceRequest(
            resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[metric])])]
        )

    converter = _converter()
    converter.convert("metrics", request(2, 11.0, [1, 1], 10))
    delta = converter.convert("metrics", request(5, 71.0, [2, 3], 20)).signals.metrics
    out = ExportMetricsServiceRequest.FromString(encode_metrics(delta, OURS))
    (point,) = out.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points
    assert (point.start_time_unix_nano, point.time_unix_nano) == (10, 20)
    assert (point.count, point.sum, list(point.bucket_counts)) == (3, 60.0, [1, 2])
    assert not point.HasField("min") and not point.HasField("max")
