"""Platform events -> raw measurements (exporters aggregate them per flush).

Names follow the OpenTelemetry FaaS semantic conventions where they exist (`faas.invocations`,
`faas.errors`, `faas.timeouts`, `faas.coldstarts`, `faas.invoke_duration`, `faas.init_duration`,
`faas.mem_usage`); Lambda-only quantities use `aws.lambda.*`. Durations are histograms in
milliseconds (the unit Lambda reports, so no rounding games); memory is in bytes (Lambda's "MB"
is MiB). Attribute sets are tiny and bounded: never a request id on a metric.
"""

from __future__ import annotations

from extension.processors.outcome import TIMEOUT_ERROR_TYPE, error_type_of
from extension.signals import Attributes, Measurement, MetricKind
from extension.sources.telemetry_api.schema import LogsDropped, PhaseDone, Report, RuntimeDone
from extension.stats import Stats

MIB = 1024 * 1024
C, H, G = MetricKind.COUNTER, MetricKind.HISTOGRAM, MetricKind.GAUGE

#: Stats counter name -> attribute key for its label (health metrics).
_LABEL_KEYS = {
    "dropped": "reason",
    "filtered": "reason",
    "telemetry_rejected": "reason",
    "export_failed": "exporter",
    "exported": "exporter",
    "internal_errors": "component",
    "processing_errors": "event_type",
}


def _outcome(
    out: list[Measurement], status: str | None, error_type: str | None, t: int, base: Attributes
) -> None:
    out.append(Measurement("faas.invocations", C, 1, "{invocation}", t, base))
    err = error_type_of(status, error_type)
    if err is not None:
        out.append(Measurement("faas.errors", C, 1, "{error}", t, {**base, "error.type": err}))
        if status == "timeout":
            out.append(Measurement("faas.timeouts", C, 1, "{timeout}", t, base))


def runtime_done(rd: RuntimeDone, t: int, base: Attributes) -> list[Measurement]:
    """Invocation outcome at runtimeDone: the earliest moment it is known (report comes later)."""
    out: list[Measurement] = []
    _outcome(out, rd.status, rd.error_type, t, base)
    if rd.duration_ms is not None:
        out.append(Measurement("faas.invoke_duration", H, rd.duration_ms, "ms", t, base))
    if rd.produced_bytes is not None:
        out.append(Measurement("aws.lambda.response_size", H, rd.produced_bytes, "By", t, base))
    return out


def report(rep: Report, t: int, base: Attributes, *, counted: bool) -> list[Measurement]:
    """Billing and memory at report; the outcome too when no runtimeDone was seen (`counted` False)."""
    out: list[Measurement] = []
    if not counted:
        _outcome(out, rep.status, rep.error_type, t, base)
        if rep.duration_ms is not None:
            out.append(Measurement("faas.invoke_duration", H, rep.duration_ms, "ms", t, base))
    if rep.billed_duration_ms is not None:
        out.append(Measurement("aws.lambda.billed_duration", H, rep.billed_duration_ms, "ms", t, base))
    if rep.max_memory_used_mb is not None:
        out.append(Measurement("faas.mem_usage", H, rep.max_memory_used_mb * MIB, "By", t, base))
        if rep.memory_size_mb:
            ratio = rep.max_memory_used_mb / rep.memory_size_mb
            out.append(Measurement("aws.lambda.memory_utilization", G, ratio, "1", t, base))
    for span in rep.spans:
        if span.name == "extensionOverhead" and span.duration_ms is not None:
            out.append(Measurement("aws.lambda.extension_overhead", H, span.duration_ms, "ms", t, base))
    return out


def synthetic(reason_error_type: str, t: int, base: Attributes) -> list[Measurement]:
    """Outcome of an invocation that never reported (shutdown by timeout or crash)."""
    out: list[Measurement] = []
    status = "timeout" if reason_error_type == TIMEOUT_ERROR_TYPE else "error"
    _outcome(out, status, reason_error_type, t, base)
    return out


def coldstart(t: int, base: Attributes) -> Measurement:
    return Measurement("faas.coldstarts", C, 1, "{coldstart}", t, base)


def phase_report(
    kind: str, rec: PhaseDone, t: int, base: Attributes, init_type: str, error_type: str | None = None
) -> list[Measurement]:
    """Init (or restore) duration and errors from initReport / restoreReport (`error_type` may come
    from the RuntimeDone event when the report has none)."""
    out: list[Measurement] = []
    attrs = {**base, "aws.lambda.initialization_type": init_type}
    if rec.duration_ms is not None:
        name = "faas.init_duration" if kind == "init" else "aws.lambda.restore_duration"
        out.append(Measurement(name, H, rec.duration_ms, "ms", t, attrs))
    err = error_type_of(rec.status, rec.error_type or error_type)
    if err is not None:
        out.append(Measurement(f"aws.lambda.{kind}_errors", C, 1, "{error}", t, {**attrs, "error.type": err}))
    return out


def init_duration(ms: float, t: int, base: Attributes, init_type: str) -> Measurement:
    attrs = {**base, "aws.lambda.initialization_type": init_type}
    return Measurement("faas.init_duration", H, ms, "ms", t, attrs)


def logs_dropped(rec: LogsDropped, t: int, base: Attributes) -> list[Measurement]:
    out: list[Measurement] = []
    if rec.dropped_records is not None:
        out.append(Measurement("aws.lambda.logs_dropped", C, rec.dropped_records, "{record}", t, base))
    if rec.dropped_bytes is not None:
        out.append(Measurement("aws.lambda.logs_dropped_bytes", C, rec.dropped_bytes, "By", t, base))
    return out


class HealthMetrics:
    """Our own Stats counters as `lambda_sidecar.<name>` delta counters since the last call."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        self._last: dict[tuple[str, str], int] = {}

    def collect(self, now_ns: int) -> tuple[Measurement, ...]:
        out: list[Measurement] = []
        for key, value in list(self._stats.counters.items()):
            delta = value - self._last.get(key, 0)
            if delta <= 0:
                continue
            self._last[key] = value
            name, label = key
            attrs = {_LABEL_KEYS.get(name, "label"): label} if label else {}
            out.append(Measurement(f"lambda_sidecar.{name}", C, delta, "1", now_ns, attrs))
        return tuple(out)
