"""The function's own telemetry (issue 14): the built layer in the emulator, a function using the
real OpenTelemetry SDK and OTLP/HTTP exporter, the extension's OTLP receiver, and a real OTLP
receiver (decoding protobuf) as the backend.

The function starts its spans from the Lambda trace context with the AWS X-Ray Lambda propagator,
as users do; its spans must reach the backend nested in our invocation span (same trace, parent
chain up to the invocation span, no span missing), with its metrics and logs.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver, attrs, unused_port
from tests.integration.helpers import invocation_spans, log_bodies, make_task, metric_points, sidecar_env

pytestmark = pytest.mark.integration

#: The function: a span per step under a root started from the Lambda trace context, a counter,
#: an SDK log record; everything flushed to the extension's receiver before the handler returns.
#: It reads the receiver's port from the environment it shares with the extension.
INSTRUMENTED = """
import json, logging, os
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

base = "http://127.0.0.1:" + os.environ["SIDECAR_RECEIVER_HTTP_PORT"]
resource = Resource.create({"service.name": "instrumented", "app.tier": "test"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=base + "/v1/traces")))
reader = PeriodicExportingMetricReader(
    OTLPMetricExporter(endpoint=base + "/v1/metrics"), export_interval_millis=3_600_000
)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=base + "/v1/logs")))
tracer = tracer_provider.get_tracer("instrumented.app", "1.2.3")
counter = meter_provider.get_meter("instrumented.app").create_counter("app.steps", unit="1")
otel_log = logging.getLogger("instrumented")
otel_log.addHandler(LoggingHandler(logger_provider=logger_provider))
otel_log.setLevel(logging.INFO)
propagator = AwsXRayLambdaPropagator()


def handler(event, context):
    n = event.get("n", 0)
    parent = propagator.extract({})
    with tracer.start_as_current_span("handler", context=parent, kind=trace.SpanKind.SERVER):
        for step in ("load", "transform", "save"):
            with tracer.start_as_current_span(step) as span:
                span.set_attribute("app.n", n)
                counter.add(1, {"step": step})
        otel_log.info("processed %s", n)
    tracer_provider.force_flush()
    meter_provider.force_flush()
    logger_provider.force_flush()
    return {"n": n}
"""


def _parents_reach(span: Any, by_id: dict[bytes, Any], root_id: bytes) -> bool:
    seen = 0
    while span.parent_span_id and seen < 20:
        if span.parent_span_id == root_id:
            return True
        span = by_id.get(span.parent_span_id)
        if span is None:
            return False
        seen += 1
    return False


def test_function_spans_metrics_logs_nest_in_the_invocation(built_layer: Path, tmp_path: Path) -> None:
    port = unused_port()
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_RECEIVER_HTTP_PORT=str(port))
        task = make_task(tmp_path, INSTRUMENTED)
        with LambdaEnvironment(built_layer, task, "app.handler", env=env, freeze=True, timeout_s=10) as lam:
            results = [lam.invoke({"n": n}) for n in range(2)]
            assert [r.status for r in results] == ["success"] * 2, [r.response for r in results]
            lam.spindown()
        _assert_function_telemetry_nested(rx, [r.request_id for r in results])


#: The same function configured the usual way, from the environment (exporters without
#: arguments, global providers) and without any flush of its own: the layer's wrapper points it
#: at the receiver and flushes after each invoke.
ENV_CONFIGURED = """
import logging, os
from opentelemetry import _logs, metrics, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

resource = Resource.create({"service.name": "instrumented", "app.tier": "test"})
trace.set_tracer_provider(TracerProvider(resource=resource))
trace.get_tracer_provider().add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)
metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
_logs.set_logger_provider(LoggerProvider(resource=resource))
_logs.get_logger_provider().add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
tracer = trace.get_tracer("instrumented.app", "1.2.3")
counter = metrics.get_meter("instrumented.app").create_counter("app.steps", unit="1")
otel_log = logging.getLogger("instrumented")
otel_log.addHandler(LoggingHandler())
otel_log.setLevel(logging.INFO)
propagator = AwsXRayLambdaPropagator()


def handler(event, context):
    n = event.get("n", 0)
    with tracer.start_as_current_span("handler", context=propagator.extract({}), kind=trace.SpanKind.SERVER):
        for step in ("load", "transform", "save"):
            with tracer.start_as_current_span(step) as span:
                span.set_attribute("app.n", n)
                counter.add(1, {"step": step})
        otel_log.info("processed %s", n)
    return {k: os.environ.get(k) for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS")}
"""


def test_the_wrapper_points_the_sdk_at_the_receiver_and_flushes_each_invoke(
    built_layer: Path, tmp_path: Path
) -> None:
    port = unused_port()
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(
            rx.endpoint,
            tmp_path,
            SIDECAR_RECEIVER_HTTP_PORT=str(port),
            OTEL_EXPORTER_OTLP_HEADERS="x-backend-key=not-for-the-function",
            AWS_LAMBDA_EXEC_WRAPPER=str(built_layer / "lambda-sidecar" / "instrument"),
        )
        task = make_task(tmp_path, ENV_CONFIGURED)
        with LambdaEnvironment(built_layer, task, "app.handler", env=env, freeze=True, timeout_s=10) as lam:
            results = [lam.invoke({"n": n}) for n in range(2)]
            assert [r.status for r in results] == ["success"] * 2, [r.response for r in results]
            lam.spindown()
        assert results[0].response == {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_HEADERS": None,
        }
        _assert_function_telemetry_nested(rx, [r.request_id for r in results])
        assert all(r.headers.get("x-backend-key") == "not-for-the-function" for r in rx.requests)


def _assert_function_telemetry_nested(rx: OtlpHttpReceiver, ids: list[str]) -> None:
    assert rx.wait_until(lambda: set(ids) <= set(invocation_spans(rx.spans())), timeout=15)
    assert rx.wait_until(lambda: sum(s.name == "handler" for s in rx.spans()) == 2, timeout=15)
    spans = rx.spans()
    by_id = {s.span_id: s for s in spans}
    invocations = invocation_spans(spans)
    for rid in ids:
        inv = invocations[rid]
        own = [
            s
            for s in spans
            if s.trace_id == inv.trace_id and s.name in ("handler", "load", "transform", "save")
        ]
        assert sorted(s.name for s in own) == ["handler", "load", "save", "transform"]
        for span in own:
            assert _parents_reach(span, by_id, inv.span_id), span.name
        root = next(s for s in own if s.name == "handler")
        assert root.parent_span_id == inv.span_id
        # the original parent (the X-Ray Parent) is kept as a link
        assert [link.span_id for link in root.links] == [inv.parent_span_id]
    # the function's resource and scope are kept, ours merged in for faas.* / cloud.*
    for request in rx.accepted("traces"):
        for rs in request.message.resource_spans:
            a = attrs(rs.resource.attributes)
            if a.get("service.name") == "instrumented":
                assert a["app.tier"] == "test"
                assert a["faas.name"] == "sample-function"
                assert a["cloud.provider"] == "aws"
                assert {ss.scope.name for ss in rs.scope_spans} == {"instrumented.app"}
    steps = metric_points(rx.metrics(), "app.steps")
    assert sum(p.as_double or p.as_int for p in steps) == 6  # 3 steps x 2 invokes, as deltas
    # the SDK's records (the same lines also reach us on stdout, through the Telemetry API)
    logs = [
        record
        for request in rx.accepted("logs")
        for rl in request.message.resource_logs
        if attrs(rl.resource.attributes).get("service.name") == "instrumented"
        for sl in rl.scope_logs
        for record in sl.log_records
    ]
    assert sorted(log_bodies(logs)) == ["processed 0", "processed 1"]
    handler_trace = {invocations[rid].trace_id for rid in ids}
    assert {r.trace_id for r in logs} == handler_trace


def _trace_request(name: str, trace_id: bytes, span_id: bytes) -> ExportTraceServiceRequest:
    span = Span(trace_id=trace_id, span_id=span_id, name=name, start_time_unix_nano=1, end_time_unix_nano=2)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])


#: The function posts good and bad bodies itself (during an invoke, as an SDK would), and returns
#: what the receiver answered.
POSTER = """
import base64, json, os, urllib.error, urllib.request

def handler(event, context):
    port = os.environ["SIDECAR_RECEIVER_HTTP_PORT"]
    out = []
    for item in event["posts"]:
        req = urllib.request.Request(
            "http://127.0.0.1:" + port + item["path"], data=base64.b64decode(item["body"]),
            headers=item["headers"], method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                out.append([reply.status, base64.b64encode(reply.read()).decode()])
        except urllib.error.HTTPError as exc:
            out.append([exc.code, base64.b64encode(exc.read()).decode()])
    return out
"""


def test_malformed_intake_is_refused_and_nothing_else_is_lost(built_layer: Path, tmp_path: Path) -> None:
    import base64

    port = unused_port()
    good = _trace_request("good-protobuf", b"\x01" * 16, b"\x02" * 8).SerializeToString()
    good_json = json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "json-fn"}}]
                    },
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "0af7651916cd43dd8448eb211c80319c",
                                    "spanId": "b7ad6b7169203331",
                                    "name": "good-json",
                                    "kind": 3,
                                    "startTimeUnixNano": "1700000000000000000",
                                    "endTimeUnixNano": "1700000000100000000",
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()
    invalid_id = _trace_request("bad-id", b"\x01" * 15, b"\x02" * 8).SerializeToString()
    pb = {"Content-Type": "application/x-protobuf"}
    posts = [
        ("/v1/traces", b"\xff\xff\xff garbage", pb),  # 400
        ("/v1/traces", good, {"Content-Type": "text/plain"}),  # 415
        ("/v1/traces", good, {**pb, "Content-Encoding": "br"}),  # 415
        ("/v1/traces", gzip.compress(b"\x00" * (300 * 1024)), {**pb, "Content-Encoding": "gzip"}),  # 413
        ("/v1/traces", b"\x00" * (300 * 1024), pb),  # 413 (before reading it all)
        ("/v1/traces", b"{not json", {"Content-Type": "application/json"}),  # 400
        ("/v1/traces", gzip.compress(good), {**pb, "Content-Encoding": "gzip"}),  # 200
        ("/v1/traces", good_json, {"Content-Type": "application/json"}),  # 200
        ("/v1/traces", invalid_id, pb),  # 200, partial success: 1 rejected
    ]
    event = {
        "posts": [
            {"path": path, "body": base64.b64encode(body).decode(), "headers": headers}
            for path, body, headers in posts
        ]
    }
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(
            rx.endpoint, tmp_path, SIDECAR_RECEIVER_HTTP_PORT=str(port), SIDECAR_RECEIVER_MAX_BYTES="262144"
        )
        with LambdaEnvironment(
            built_layer, make_task(tmp_path, POSTER), "app.handler", env=env, timeout_s=20
        ) as lam:
            result = lam.invoke(event)
            assert result.status == "success", result.response
            answers = result.response
            lam.spindown()
            output = "\n".join(line for _, line in lam.output_lines)
        assert [status for status, _ in answers] == [400, 415, 415, 413, 413, 400, 200, 200, 200]
        partial = ExportTraceServiceResponse.FromString(base64.b64decode(answers[-1][1]))
        assert partial.partial_success.rejected_spans == 1
        assert (
            ExportTraceServiceResponse.FromString(
                base64.b64decode(answers[6][1])
            ).partial_success.rejected_spans
            == 0
        )
        assert json.loads(base64.b64decode(answers[7][1])) == {}
        assert rx.wait_until(
            lambda: {"good-protobuf", "good-json"} <= {s.name for s in rx.spans()}, timeout=15
        )
        json_span = next(s for s in rx.spans() if s.name == "good-json")
        assert json_span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
        assert json_span.span_id.hex() == "b7ad6b7169203331"
        assert json_span.kind == 3
        assert invocation_spans(rx.spans()), "platform telemetry still flows"
        summary = next(line for line in output.splitlines() if "shutdown after" in line)
        for counted in (
            "receiver_rejected{malformed}=2",
            "receiver_rejected{content_type}=1",
            "receiver_rejected{content_encoding}=1",
            "receiver_rejected{too_large}=2",
            "dropped{receiver_invalid}=1",
            "receiver_received{traces}=3",
        ):
            assert counted in summary, summary


#: The same function exporting over OTLP/gRPC (the SDK's gRPC exporters), flushing itself.
GRPC_INSTRUMENTED = (
    INSTRUMENTED.replace(
        "from opentelemetry.exporter.otlp.proto.http._log_exporter",
        "from opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    )
    .replace(
        "from opentelemetry.exporter.otlp.proto.http.metric_exporter",
        "from opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    )
    .replace(
        "from opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "from opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    )
    .replace(
        'base = "http://127.0.0.1:" + os.environ["SIDECAR_RECEIVER_HTTP_PORT"]',
        'base = "127.0.0.1:" + os.environ["SIDECAR_RECEIVER_GRPC_PORT"]',
    )
    .replace('endpoint=base + "/v1/traces"', "endpoint=base, insecure=True")
    .replace('endpoint=base + "/v1/metrics"', "endpoint=base, insecure=True")
    .replace('endpoint=base + "/v1/logs"', "endpoint=base, insecure=True")
)


def test_function_telemetry_over_grpc_nests_and_malformed_is_invalid_argument(
    built_layer: Path, tmp_path: Path
) -> None:
    import grpc

    assert "insecure=True" in GRPC_INSTRUMENTED and "proto.http" not in GRPC_INSTRUMENTED
    grpc_port = unused_port()
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_RECEIVER_GRPC_PORT=str(grpc_port))
        task = make_task(tmp_path, GRPC_INSTRUMENTED)
        with LambdaEnvironment(built_layer, task, "app.handler", env=env, timeout_s=10) as lam:
            results = [lam.invoke({"n": n}) for n in range(2)]
            assert [r.status for r in results] == ["success"] * 2, [r.response for r in results]
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
                with pytest.raises(grpc.RpcError) as err:
                    export(b"\xff\xff\xff garbage", timeout=10)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            lam.spindown()
            output = "\n".join(line for _, line in lam.output_lines)
        _assert_function_telemetry_nested(rx, [r.request_id for r in results])
        summary = next(line for line in output.splitlines() if "shutdown after" in line)
        assert "receiver_rejected{malformed}=1" in summary, summary
