"""Our signal records as JSON-ready dicts with OTLP/JSON field names (HTTP JSON `otel`, file, stdout).

Field names follow the OTLP/JSON mapping (lowerCamelCase, ids as hex, enums as integers,
timestamps as integer nanoseconds), but attributes are plain JSON objects instead of OTLP's
`[{key, value: {stringValue}}]` lists: these records are meant for log pipelines and people, which
index plain objects far better. Each record carries a `signal` field (`span`, `log`, `metric`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from extension.signals import LogData, Measurement, Resource, Signals, SpanData


def hex_id(value: bytes | None) -> str:
    return value.hex() if value else ""


def json_default(value: Any) -> Any:
    """Fallback for `json.dumps`: bytes as hex, tuples/sets as lists, anything else as str."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def dumps(obj: Any) -> str:
    """Compact JSON; non-finite floats become null-safe strings (JSON has no NaN)."""
    try:
        return json.dumps(obj, separators=(",", ":"), default=json_default, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(obj), separators=(",", ":"), default=json_default)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def span_dict(span: SpanData) -> dict[str, Any]:
    return {
        "signal": "span",
        "traceId": hex_id(span.trace_id),
        "spanId": hex_id(span.span_id),
        "parentSpanId": hex_id(span.parent_span_id),
        "name": span.name,
        "kind": int(span.kind),
        "startTimeUnixNano": span.start_ns,
        "endTimeUnixNano": span.end_ns,
        "attributes": dict(span.attributes),
        "status": {"code": int(span.status), "message": span.status_message},
        "events": [
            {"name": e.name, "timeUnixNano": e.time_ns, "attributes": dict(e.attributes)} for e in span.events
        ],
        "links": [
            {
                "traceId": hex_id(link.trace_id),
                "spanId": hex_id(link.span_id),
                "attributes": dict(link.attributes),
            }
            for link in span.links
        ],
        "flags": 1 if span.sampled else 0,
    }


def log_dict(log: LogData) -> dict[str, Any]:
    return {
        "signal": "log",
        "timeUnixNano": log.time_ns,
        "observedTimeUnixNano": log.observed_ns,
        "severityNumber": log.severity_number,
        "severityText": log.severity_text,
        "body": log.body,
        "attributes": dict(log.attributes),
        "traceId": hex_id(log.trace_id),
        "spanId": hex_id(log.span_id),
    }


def metric_dict(measurement: Measurement) -> dict[str, Any]:
    return {
        "signal": "metric",
        "name": measurement.name,
        "kind": measurement.kind.value,
        "value": measurement.value,
        "unit": measurement.unit,
        "timeUnixNano": measurement.time_ns,
        "attributes": dict(measurement.attributes),
    }


def records(signals: Signals, resource: Resource | None = None) -> list[dict[str, Any]]:
    """Every span, log and measurement of `signals` as a dict (raw events are not included)."""
    out: list[dict[str, Any]] = [span_dict(s) for s in signals.spans]
    out.extend(log_dict(rec) for rec in signals.logs)
    out.extend(metric_dict(m) for m in signals.metrics)
    if resource is not None:
        res = dict(resource.attributes)
        for rec in out:
            rec["resource"] = res
    return out
