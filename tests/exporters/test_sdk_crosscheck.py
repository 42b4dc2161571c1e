"""Cross-checks against the OpenTelemetry SDK, an independent OTLP producer.

1. The SDK's own OTLP exporters (HTTP and gRPC) send to our receivers, and the receivers decode
   what they sent: the receivers other tests rely on are correct.
2. The SDK's encoder and ours produce the same protobuf fields for the same span and log.
"""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as sdk_encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics as sdk_encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind as SdkSpanKind
from opentelemetry.trace import Status, StatusCode

from emulator.backends.otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver, attrs
from extension.exporters.otlp_encode import MS_BOUNDS, encode_logs, encode_metrics, encode_traces
from extension.signals import LogData, Measurement, MetricKind, Resource, SpanData, SpanEvent, SpanKind
from extension.signals import StatusCode as OurStatus

pytestmark = pytest.mark.integration

SDK_RESOURCE = SdkResource.create({"service.name": "sdk-check", "faas.name": "fn"})


def _sdk_span(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("crosscheck")
    with tracer.start_as_current_span(
        "outer", kind=SdkSpanKind.SERVER, attributes={"a": 1, "b": ["x", "y"]}
    ) as s:
        s.add_event("evt", {"k": True})
        with tracer.start_as_current_span("inner") as inner:
            inner.set_status(Status(StatusCode.ERROR, "boom"))


def test_sdk_http_exporters_decode_in_our_receiver() -> None:
    with OtlpHttpReceiver() as rx:
        provider = TracerProvider(resource=SDK_RESOURCE)
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=rx.url("traces"))))
        _sdk_span(provider)
        provider.shutdown()

        reader = InMemoryMetricReader()
        meters = MeterProvider(resource=SDK_RESOURCE, metric_readers=[reader])
        meters.get_meter("crosscheck").create_counter("calls").add(3, {"route": "/x"})
        data = reader.get_metrics_data()
        assert data is not None
        assert OTLPMetricExporter(endpoint=rx.url("metrics")).export(data).name == "SUCCESS"
        meters.shutdown()

        logs = LoggerProvider(resource=SDK_RESOURCE)
        logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=rx.url("logs"))))
        memory = InMemoryLogRecordExporter()
        logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
        logs.get_logger("crosscheck").emit(body="hello", attributes={"n": 1})
        logs.shutdown()

        spans = {s.name: s for s in rx.wait_for_spans(2)}
        assert set(spans) == {"outer", "inner"}
        assert spans["inner"].parent_span_id == spans["outer"].span_id
        assert attrs(spans["outer"].attributes) == {"a": 1, "b": ["x", "y"]}
        assert spans["outer"].events[0].name == "evt"
        assert spans["inner"].status.code == 2 and spans["inner"].status.message == "boom"
        assert rx.resource_attributes("traces")["service.name"] == "sdk-check"
        (calls,) = [m for m in rx.wait_for_metrics(1) if m.name == "calls"]
        assert calls.sum.data_points[0].as_int == 3
        assert attrs(calls.sum.data_points[0].attributes) == {"route": "/x"}
        (record,) = rx.wait_for_logs(1)
        assert record.body.string_value == "hello" and attrs(record.attributes) == {"n": 1}


def test_sdk_grpc_exporter_decodes_in_our_receiver() -> None:
    with OtlpGrpcReceiver() as rx:
        provider = TracerProvider(resource=SDK_RESOURCE)
        exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{rx.port}", insecure=True, headers={"x-key": "v"})
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _sdk_span(provider)
        provider.shutdown()
        spans = rx.wait_for_spans(2)
        assert {s.name for s in spans} == {"outer", "inner"}
        assert rx.requests[0].headers["x-key"] == "v"


def test_our_span_encoding_matches_the_sdk_encoder() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=SDK_RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    _sdk_span(provider)
    sdk_spans = {s.name: s for s in memory.get_finished_spans()}
    outer = sdk_spans["outer"]
    ctx = outer.context
    assert ctx is not None and outer.start_time is not None and outer.end_time is not None
    ours = SpanData(
        trace_id=ctx.trace_id.to_bytes(16, "big"),
        span_id=ctx.span_id.to_bytes(8, "big"),
        parent_span_id=None,
        name="outer",
        kind=SpanKind.SERVER,
        start_ns=outer.start_time,
        end_ns=outer.end_time,
        status=OurStatus.UNSET,
        attributes=dict(outer.attributes or {}),
        events=tuple(SpanEvent(e.name, e.timestamp, dict(e.attributes or {})) for e in outer.events),
    )
    theirs = sdk_encode_spans([outer]).resource_spans[0].scope_spans[0].spans[0]
    wire = encode_traces([ours], Resource(dict(SDK_RESOURCE.attributes)))
    mine = ExportTraceServiceRequest.FromString(wire).resource_spans[0].scope_spans[0].spans[0]
    for field in (
        "trace_id",
        "span_id",
        "parent_span_id",
        "name",
        "kind",
        "start_time_unix_nano",
        "end_time_unix_nano",
    ):
        assert getattr(mine, field) == getattr(theirs, field), field
    assert list(mine.attributes) == list(theirs.attributes)
    assert list(mine.events) == list(theirs.events)
    assert mine.status == theirs.status
    # bits 0-7 carry the W3C trace flags (OTLP spec); this SDK version leaves them unset, we set
    # "sampled" so backends that honour it keep our spans
    assert mine.flags & 0xFF == 0x01


def test_our_log_encoding_matches_the_sdk_encoder() -> None:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=SDK_RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("x").emit(
        body={"msg": "hi", "n": [1, 2]},
        attributes={"k": "v"},
        severity_text="WARN",
        timestamp=1_700_000_000_000_000_001,
        observed_timestamp=1_700_000_000_000_000_002,
    )
    (sdk_log,) = memory.get_finished_logs()
    rec = sdk_log.log_record
    assert rec.timestamp is not None and rec.observed_timestamp is not None
    ours = LogData(
        time_ns=rec.timestamp,
        observed_ns=rec.observed_timestamp,
        severity_number=0,
        severity_text="WARN",
        body={"msg": "hi", "n": [1, 2]},
        attributes={"k": "v"},
    )
    theirs = sdk_encode_logs([sdk_log]).resource_logs[0].scope_logs[0].log_records[0]
    wire = encode_logs([ours], Resource({}))
    mine = ExportLogsServiceRequest.FromString(wire).resource_logs[0].scope_logs[0].log_records[0]
    for field in ("time_unix_nano", "observed_time_unix_nano", "severity_text", "body", "attributes"):
        assert getattr(mine, field) == getattr(theirs, field), field


def test_our_error_span_and_resource_match_the_sdk_encoder() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=SDK_RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    _sdk_span(provider)
    inner = {s.name: s for s in memory.get_finished_spans()}["inner"]
    ctx, parent = inner.context, inner.parent
    assert ctx is not None and parent is not None
    assert inner.start_time is not None and inner.end_time is not None
    ours = SpanData(
        trace_id=ctx.trace_id.to_bytes(16, "big"),
        span_id=ctx.span_id.to_bytes(8, "big"),
        parent_span_id=parent.span_id.to_bytes(8, "big"),
        name="inner",
        kind=SpanKind.INTERNAL,
        start_ns=inner.start_time,
        end_ns=inner.end_time,
        status=OurStatus.ERROR,
        status_message="boom",
    )
    theirs = sdk_encode_spans([inner]).resource_spans[0]
    wire = encode_traces([ours], Resource(dict(SDK_RESOURCE.attributes)))
    mine = ExportTraceServiceRequest.FromString(wire).resource_spans[0]
    assert mine.resource == theirs.resource
    a, b = mine.scope_spans[0].spans[0], theirs.scope_spans[0].spans[0]
    for field in ("parent_span_id", "kind", "status", "attributes", "events", "links"):
        assert getattr(a, field) == getattr(b, field), field


def test_our_histogram_matches_the_sdk_aggregation() -> None:
    """Same values, same explicit bounds: the SDK's delta histogram point and ours agree."""
    values = [0.5, 1.0, 3.0, 120.0, 120.0, 1_000_000.0]
    reader = InMemoryMetricReader(preferred_temporality={SdkHistogram: AggregationTemporality.DELTA})
    meters = MeterProvider(
        resource=SDK_RESOURCE,
        metric_readers=[reader],
        views=[View(instrument_name="d", aggregation=ExplicitBucketHistogramAggregation(list(MS_BOUNDS)))],
    )
    histogram = meters.get_meter("x").create_histogram("d", unit="ms")
    for v in values:
        histogram.record(v, {"k": "v"})
    data = reader.get_metrics_data()
    assert data is not None
    theirs = sdk_encode_metrics(data).resource_metrics[0].scope_metrics[0].metrics[0]
    meters.shutdown()
    ours = [Measurement("d", MetricKind.HISTOGRAM, v, "ms", 1 + i, {"k": "v"}) for i, v in enumerate(values)]
    wire = encode_metrics(ours, Resource({}))
    mine = ExportMetricsServiceRequest.FromString(wire).resource_metrics[0].scope_metrics[0].metrics[0]
    assert (mine.name, mine.unit) == (theirs.name, theirs.unit)
    assert mine.histogram.aggregation_temporality == theirs.histogram.aggregation_temporality
    (p,), (q,) = mine.histogram.data_points, theirs.histogram.data_points
    for field in ("count", "sum", "min", "max", "bucket_counts", "explicit_bounds", "attributes"):
        assert getattr(p, field) == getattr(q, field), field
