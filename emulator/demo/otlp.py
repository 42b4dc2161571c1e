"""What the OTLP receiver got, as plain typed records the summary is built from.

Every request is first turned into the OTLP/JSON shape (`google.protobuf.json_format.MessageToDict`:
camelCase names, base64 ids, 64-bit integers as strings) and written to disk; the records below
are parsed from those same dicts, so what the summary shows is exactly what the files hold.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JsonDict = dict[str, Any]
Attributes = dict[str, Any]


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str  # hex
    span_id: str  # hex
    parent_span_id: str  # hex, "" for a root span
    name: str
    start_ns: int
    end_ns: int
    status: str  # "OK" | "ERROR" | "UNSET"
    status_message: str
    attributes: Attributes
    links: tuple[tuple[str, str], ...] = ()  # (trace id, span id) hex

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class LogRecord:
    service: str
    time_ns: int
    severity: str
    body: str
    trace_id: str  # hex, "" when not correlated
    span_id: str
    attributes: Attributes


@dataclass(frozen=True)
class MetricPoint:
    service: str
    name: str
    unit: str
    kind: str  # "sum" | "gauge" | "histogram"
    value: float  # sum/gauge value; histogram: sum of the observations
    count: int  # histogram observations (1 for sum/gauge points)
    max: float | None  # histogram max when sent, gauge/sum value otherwise
    attributes: Attributes


@dataclass
class Telemetry:
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def hex_id(value: str | None) -> str:
    """OTLP/JSON from MessageToDict carries ids base64-encoded; the summary shows hex."""
    return base64.b64decode(value).hex() if value else ""


def any_value(value: JsonDict) -> Any:
    if not value:
        return None
    kind, raw = next(iter(value.items()))
    if kind == "intValue":
        return int(raw)
    if kind == "doubleValue":
        return float(raw)
    if kind == "arrayValue":
        return [any_value(v) for v in raw.get("values", [])]
    if kind == "kvlistValue":
        return attributes(raw.get("values", []))
    if kind == "bytesValue":
        return base64.b64decode(raw)
    return raw


def attributes(kvs: list[JsonDict]) -> Attributes:
    return {kv["key"]: any_value(kv.get("value", {})) for kv in kvs}


def _service(resource: JsonDict) -> str:
    return str(attributes(resource.get("attributes", [])).get("service.name", "?"))


def _status(span: JsonDict) -> tuple[str, str]:
    status = span.get("status", {})
    code = str(status.get("code", "STATUS_CODE_UNSET")).removeprefix("STATUS_CODE_")
    return code, str(status.get("message", ""))


def parse_request(signal: str, doc: JsonDict, into: Telemetry) -> None:
    """Add the spans, logs or metric points of one decoded Export*ServiceRequest to `into`."""
    if signal == "traces":
        for group in doc.get("resourceSpans", []):
            service = _service(group.get("resource", {}))
            for scope in group.get("scopeSpans", []):
                for s in scope.get("spans", []):
                    code, message = _status(s)
                    into.spans.append(
                        Span(
                            service=service,
                            trace_id=hex_id(s.get("traceId")),
                            span_id=hex_id(s.get("spanId")),
                            parent_span_id=hex_id(s.get("parentSpanId")),
                            name=str(s.get("name", "")),
                            start_ns=int(s.get("startTimeUnixNano", 0)),
                            end_ns=int(s.get("endTimeUnixNano", 0)),
                            status=code,
                            status_message=message,
                            attributes=attributes(s.get("attributes", [])),
                            links=tuple(
                                (hex_id(link.get("traceId")), hex_id(link.get("spanId")))
                                for link in s.get("links", [])
                            ),
                        )
                    )
    elif signal == "logs":
        for group in doc.get("resourceLogs", []):
            service = _service(group.get("resource", {}))
            for scope in group.get("scopeLogs", []):
                for r in scope.get("logRecords", []):
                    body = any_value(r.get("body", {}))
                    into.logs.append(
                        LogRecord(
                            service=service,
                            time_ns=int(r.get("timeUnixNano") or r.get("observedTimeUnixNano") or 0),
                            severity=str(r.get("severityText") or "")
                            or str(r.get("severityNumber", "")).removeprefix("SEVERITY_NUMBER_"),
                            body=body if isinstance(body, str) else json.dumps(body, default=str),
                            trace_id=hex_id(r.get("traceId")),
                            span_id=hex_id(r.get("spanId")),
                            attributes=attributes(r.get("attributes", [])),
                        )
                    )
    elif signal == "metrics":
        for group in doc.get("resourceMetrics", []):
            service = _service(group.get("resource", {}))
            for scope in group.get("scopeMetrics", []):
                for m in scope.get("metrics", []):
                    into.metrics.extend(_points(service, m))


def _points(service: str, metric: JsonDict) -> list[MetricPoint]:
    name, unit = str(metric.get("name", "")), str(metric.get("unit", ""))
    out: list[MetricPoint] = []
    for kind in ("sum", "gauge", "histogram"):
        for p in metric.get(kind, {}).get("dataPoints", []):
            attrs = attributes(p.get("attributes", []))
            if kind == "histogram":
                top = p.get("max")
                out.append(
                    MetricPoint(
                        service,
                        name,
                        unit,
                        kind,
                        float(p.get("sum", 0.0)),
                        int(p.get("count", 0)),
                        float(top) if top is not None else None,
                        attrs,
                    )
                )
            else:
                value = float(p.get("asDouble", p.get("asInt", 0)))
                out.append(MetricPoint(service, name, unit, kind, value, 1, value, attrs))
    return out


def save_and_parse(received: list[tuple[str, Any]], out_dir: Path) -> Telemetry:
    """Write each request as `<n>-<signal>.json` in `out_dir` (emptied of earlier runs' files
    first) and parse them. `received` holds (signal, protobuf message) in arrival order."""
    from google.protobuf.json_format import MessageToDict

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    telemetry = Telemetry()
    for n, (signal, message) in enumerate(received, 1):
        doc: JsonDict = MessageToDict(message)
        path = out_dir / f"{n:03d}-{signal}.json"
        path.write_text(json.dumps(doc, indent=1) + "\n", "utf-8")
        telemetry.files.append(path)
        parse_request(signal, doc, telemetry)
    return telemetry
