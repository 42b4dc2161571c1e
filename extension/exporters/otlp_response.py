"""Reading an OTLP Export*ServiceResponse (the same bytes over http/protobuf and gRPC).

A collector that accepts everything answers with an empty message (zero bytes), so protobuf's
generated types are imported only when a response actually carries a `partial_success`
(https://opentelemetry.io/docs/specs/otlp/#partial-success).
"""

from __future__ import annotations

from typing import Any

_REJECTED_FIELD = {
    "traces": "rejected_spans",
    "metrics": "rejected_data_points",
    "logs": "rejected_log_records",
}


def _response_type(signal: str) -> Any:
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        return trace_service_pb2.ExportTraceServiceResponse
    if signal == "metrics":
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        return metrics_service_pb2.ExportMetricsServiceResponse
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    return logs_service_pb2.ExportLogsServiceResponse


def rejected_count(signal: str, body: bytes, content_type: str = "") -> tuple[int, str]:
    """`partial_success` of an OTLP response body: (rejected count, server message)."""
    if not body or "json" in content_type:
        return 0, ""
    try:
        response = _response_type(signal).FromString(body)
    except Exception:
        return 0, ""
    if not response.HasField("partial_success"):
        return 0, ""
    ps = response.partial_success
    return int(getattr(ps, _REJECTED_FIELD[signal])), str(ps.error_message)[:200]
