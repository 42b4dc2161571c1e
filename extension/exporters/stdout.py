"""stdout destination: metrics as CloudWatch Embedded Metric Format lines, spans/logs as JSON lines.

Lambda ships the extension's stdout to CloudWatch Logs, where EMF lines become metrics with no
extra service or network call. The same lines come back to us as `extension` Telemetry API
records: every line starts with `SELF_JSON_PREFIX`, so the log processor recognises and skips them.

EMF rules kept here (CloudWatch EMF specification): one JSON object per line; `_aws.Timestamp` in
epoch ms; at most 100 metrics per directive and 100 values per metric array; at most 30
dimensions per set; every dimension a top-level string member. Measurements are grouped by
attribute set and minute, so one line describes one series' values in one CloudWatch period.
Identifier-like attributes (request ids) become searchable properties, never dimensions, because
each distinct dimension value is a billed custom metric.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from extension.exporters.base import KIND_LOGS, KIND_METRICS, KIND_SPANS, ExportResult
from extension.exporters.jsonify import dumps, log_dict, span_dict
from extension.exporters.otlp_encode import freeze
from extension.log import SELF_JSON_KEY
from extension.signals import Measurement, Resource, Signals

MAX_METRICS_PER_LINE = 100
MAX_VALUES_PER_METRIC = 100
MAX_DIMENSIONS = 30
MAX_DIMENSION_VALUE = 1024
MAX_METRIC_NAME = 255
FUNCTION_DIMENSION = "faas.name"
_MINUTE_NS = 60_000_000_000

#: OTel/UCUM units → CloudWatch units.
_UNITS = {
    "ms": "Milliseconds",
    "s": "Seconds",
    "us": "Microseconds",
    "By": "Bytes",
    "KiBy": "Kilobytes",
    "kBy": "Kilobytes",
    "MiBy": "Megabytes",
    "MB": "Megabytes",
    "MBy": "Megabytes",
    "GiBy": "Gigabytes",
    "%": "Percent",
    "1": "Count",
}
_ID_SUFFIXES = ("_id", ".id", "invocation_id", "request_id", "requestid", "execution")
_SIGNAL_KINDS = {"metrics": KIND_METRICS, "spans": KIND_SPANS, "logs": KIND_LOGS}


def cloudwatch_unit(unit: str) -> str:
    if unit in _UNITS:
        return _UNITS[unit]
    if unit.startswith("{") and unit.endswith("}"):  # UCUM annotations such as {invocation}
        return "Count"
    return "None"


def _is_dimension(key: str, value: Any) -> bool:
    if isinstance(value, float) or not isinstance(value, str | bool | int):
        return False
    if isinstance(value, str) and not 0 < len(value) <= MAX_DIMENSION_VALUE:
        return False
    lowered = key.lower()
    return not lowered.endswith(_ID_SUFFIXES)


def _dimension_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def function_name(resource: Resource) -> str:
    for key in ("faas.name", "service.name"):
        value = resource.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return "unknown"


def emf_lines(measurements: Sequence[Measurement], resource: Resource, namespace: str) -> list[str]:
    """Measurements → EMF JSON lines (no trailing newline)."""
    groups: dict[Any, tuple[Mapping[str, Any], list[Measurement]]] = {}
    for measurement in measurements:
        if not math.isfinite(measurement.value) or not 0 < len(measurement.name) <= MAX_METRIC_NAME:
            continue
        key = (freeze(measurement.attributes), measurement.time_ns // _MINUTE_NS)
        groups.setdefault(key, (measurement.attributes, []))[1].append(measurement)
    fname = function_name(resource)
    lines: list[str] = []
    for attrs, items in groups.values():
        dims = {FUNCTION_DIMENSION: fname}
        props: dict[str, Any] = {}
        for attribute, value in attrs.items():
            if attribute in (FUNCTION_DIMENSION, SELF_JSON_KEY, "_aws"):
                continue
            if _is_dimension(attribute, value) and len(dims) < MAX_DIMENSIONS:
                dims[attribute] = _dimension_value(value)
            else:
                props[attribute] = value
        dim_sets = [[FUNCTION_DIMENSION]]
        if len(dims) > 1:
            dim_sets.append(list(dims))
        values: dict[str, list[float]] = {}
        units: dict[str, str] = {}
        for measurement in items:
            if (
                measurement.name in dims
                or measurement.name in props
                or measurement.name in ("_aws", SELF_JSON_KEY)
            ):
                continue
            values.setdefault(measurement.name, []).append(measurement.value)
            units.setdefault(measurement.name, cloudwatch_unit(measurement.unit))
        timestamp_ms = max(measurement.time_ns for measurement in items) // 1_000_000
        while values:
            chunk = list(values)[:MAX_METRICS_PER_LINE]
            line: dict[str, Any] = {
                SELF_JSON_KEY: "emf",  # first: our lines are recognised by their exact start
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": namespace,
                            "Dimensions": dim_sets,
                            "Metrics": [{"Name": n, "Unit": units[n]} for n in chunk],
                        }
                    ],
                },
            }
            line.update(props)
            line.update(dims)
            for name in chunk:
                vals = values[name]
                head, rest = vals[:MAX_VALUES_PER_METRIC], vals[MAX_VALUES_PER_METRIC:]
                line[name] = head[0] if len(head) == 1 else head
                if rest:
                    values[name] = rest
                else:
                    del values[name]
            lines.append(dumps(line))
    return lines


class StdoutExporter:
    """Writes one batch with a single `write` + `flush`, so lines of one batch are never
    interleaved with the function's output by partial writes."""

    def __init__(self, signals: Sequence[str], namespace: str, stream: TextIO | None = None) -> None:
        self.name = "stdout"
        self.accepts = frozenset(_SIGNAL_KINDS[s] for s in signals if s in _SIGNAL_KINDS)
        self._namespace = namespace
        self._stream = stream

    async def start(self) -> None:
        return None

    def render(self, signals: Signals, resource: Resource) -> list[str]:
        lines: list[str] = []
        if KIND_METRICS in self.accepts and signals.metrics:
            lines.extend(emf_lines(signals.metrics, resource, self._namespace))
        if KIND_SPANS in self.accepts:
            lines.extend(dumps({SELF_JSON_KEY: "span", **span_dict(s)}) for s in signals.spans)
        if KIND_LOGS in self.accepts:
            lines.extend(dumps({SELF_JSON_KEY: "log", **log_dict(rec)}) for rec in signals.logs)
        return lines

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        try:
            lines = self.render(signals, resource)
            if lines:
                stream = self._stream if self._stream is not None else sys.stdout
                stream.write("\n".join(lines) + "\n")
                stream.flush()
            return ExportResult.success()
        except BlockingIOError:  # a full non-blocking pipe: try again later
            return ExportResult.retryable("stdout would block")
        except (OSError, ValueError) as exc:  # closed or broken stdout: retrying will not help
            return ExportResult.permanent(f"stdout write failed: {type(exc).__name__}")
        except Exception as exc:
            return ExportResult.permanent(f"stdout: unexpected {type(exc).__name__}")

    async def shutdown(self) -> None:
        return None
