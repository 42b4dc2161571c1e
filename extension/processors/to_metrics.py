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
COUNTER, HISTOGRAM, GAUGE = MetricKind.COUNTER, MetricKind.HISTOGRAM, MetricKind.GAUGE

#: Stats counter name -> attribute key for its label (health metrics).
_LABEL_KEYS = {
    "dropped": "reason",
    "logs_filtered": "reason",
    "telemetry_rejected": "reason",
    "export_failed": "exporter",
    "exported": "exporter",
    "internal_errors": "component",
    "processing_errors": "event_type",
}


def _outcome(
    out: list[Measurement], status: str | None, error_type: str | None, time_ns: int, base: Attributes
) -> None:
    out.append(Measurement("faas.invocations", COUNTER, 1, "{invocation}", time_ns, base))
    err = error_type_of(status, error_type)
    if err is not None:
        out.append(Measurement("faas.errors", COUNTER, 1, "{error}", time_ns, {**base, "error.type": err}))
        if status == "timeout":
            out.append(Measurement("faas.timeouts", COUNTER, 1, "{timeout}", time_ns, base))


def runtime_done(rd: RuntimeDone, time_ns: int, base: Attributes) -> list[Measurement]:
    """Invocation outcome at runtimeDone: the earliest moment it is known (report comes later)."""
    out: list[Measurement] = []
    _outcome(out, rd.status, rd.error_type, time_ns, base)
    if rd.duration_ms is not None:
        out.append(Measurement("faas.invoke_duration", HISTOGRAM, rd.duration_ms, "ms", time_ns, base))
    if rd.produced_bytes is not None:
        out.append(Measurement("aws.lambda.response_size", HISTOGRAM, rd.produced_bytes, "By", time_ns, base))
    return out


def report(rep: Report, time_ns: int, base: Attributes, *, counted: bool) -> list[Measurement]:
    """Billing and memory at report; the outcome too when no runtimeDone was seen (`counted` False)."""
    out: list[Measurement] = []
    if not counted:
        _outcome(out, rep.status, rep.error_type, time_ns, base)
        if rep.duration_ms is not None:
            out.append(Measurement("faas.invoke_duration", HISTOGRAM, rep.duration_ms, "ms", time_ns, base))
    if rep.billed_duration_ms is not None:
        out.append(
            Measurement("aws.lambda.billed_duration", HISTOGRAM, rep.billed_duration_ms, "ms", time_ns, base)
        )
    if rep.max_memory_used_mb is not None:
        out.append(
            Measurement("faas.mem_usage", HISTOGRAM, rep.max_memory_used_mb * MIB, "By", time_ns, base)
        )
        if rep.memory_size_mb:
            ratio = rep.max_memory_used_mb / rep.memory_size_mb
            out.append(Measurement("aws.lambda.memory_utilization", GAUGE, ratio, "1", time_ns, base))
    for span in rep.spans:
        if span.name == "extensionOverhead" and span.duration_ms is not None:
            out.append(
                Measurement("aws.lambda.extension_overhead", HISTOGRAM, span.duration_ms, "ms", time_ns, base)
            )
    return out


def synthetic(reason_error_type: str, time_ns: int, base: Attributes) -> list[Measurement]:
    """Outcome of an invocation that never reported (shutdown by timeout or crash)."""
    out: list[Measurement] = []
    status = "timeout" if reason_error_type == TIMEOUT_ERROR_TYPE else "error"
    _outcome(out, status, reason_error_type, time_ns, base)
    return out


def coldstart(time_ns: int, base: Attributes) -> Measurement:
    return Measurement("faas.coldstarts", COUNTER, 1, "{coldstart}", time_ns, base)


def phase_report(
    kind: str, rec: PhaseDone, time_ns: int, base: Attributes, init_type: str, error_type: str | None = None
) -> list[Measurement]:
    """Init (or restore) duration and errors from initReport / restoreReport (`error_type` may come
    from the RuntimeDone event when the report has none)."""
    out: list[Measurement] = []
    attrs = {**base, "aws.lambda.initialization_type": init_type}
    if rec.duration_ms is not None:
        name = "faas.init_duration" if kind == "init" else "aws.lambda.restore_duration"
        out.append(Measurement(name, HISTOGRAM, rec.duration_ms, "ms", time_ns, attrs))
    err = error_type_of(rec.status, rec.error_type or error_type)
    if err is not None:
        out.append(
            Measurement(
                f"aws.lambda.{kind}_errors", COUNTER, 1, "{error}", time_ns, {**attrs, "error.type": err}
            )
        )
    return out


def init_duration(ms: float, time_ns: int, base: Attributes, init_type: str) -> Measurement:
    attrs = {**base, "aws.lambda.initialization_type": init_type}
    return Measurement("faas.init_duration", HISTOGRAM, ms, "ms", time_ns, attrs)


def logs_dropped(rec: LogsDropped, time_ns: int, base: Attributes) -> list[Measurement]:
    out: list[Measurement] = []
    if rec.dropped_records is not None:
        out.append(
            Measurement("aws.lambda.logs_dropped", COUNTER, rec.dropped_records, "{record}", time_ns, base)
        )
    if rec.dropped_bytes is not None:
        out.append(
            Measurement("aws.lambda.logs_dropped_bytes", COUNTER, rec.dropped_bytes, "By", time_ns, base)
        )
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
            out.append(Measurement(f"lambda_sidecar.{name}", COUNTER, delta, "1", now_ns, attrs))
        return tuple(out)
