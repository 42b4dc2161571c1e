"""An instrumented function: the OpenTelemetry SDK and OTLP/HTTP exporter, configured the usual
way (from the environment), a child span per step, a counter and an SDK log record.

With the layer's wrapper (`AWS_LAMBDA_EXEC_WRAPPER=/opt/lambda-sidecar/instrument`) the SDK
exports to the extension's receiver on 127.0.0.1:4318 and is flushed after each invoke; the
function's spans appear in the backend nested under the extension's invocation span, because the
root span starts from the Lambda trace context (`_X_AMZN_TRACE_ID`, read by the AWS X-Ray Lambda
propagator). README "Instrumented functions" explains the setup.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# Exporters without arguments read OTEL_EXPORTER_OTLP_* (the wrapper points them at the receiver).
trace.set_tracer_provider(TracerProvider())
trace.get_tracer_provider().add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # type: ignore[attr-defined]
# The wrapper flushes after each invoke: no periodic export needed.
_reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)
metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))
_logs.set_logger_provider(LoggerProvider())
_logs.get_logger_provider().add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))  # type: ignore[attr-defined]

tracer = trace.get_tracer("sample.instrumented", "1.0.0")
steps_done = metrics.get_meter("sample.instrumented").create_counter("orders.steps", unit="1")
log = logging.getLogger("sample.instrumented")
log.addHandler(LoggingHandler())
log.setLevel(logging.INFO)
_propagator = AwsXRayLambdaPropagator()

STEPS = ("validate", "price", "store")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    order = str(event.get("order", "o-1"))
    # The root span's parent is the invocation's X-Ray context: the extension nests it under its
    # invocation span.
    with tracer.start_as_current_span(
        "process order", context=_propagator.extract({}), kind=trace.SpanKind.SERVER
    ):
        for step in STEPS:
            with tracer.start_as_current_span(step) as span:
                span.set_attribute("order.id", order)
                time.sleep(0.005)
                steps_done.add(1, {"step": step})
        log.info("order %s processed", order)
    return {"order": order, "steps": len(STEPS)}
