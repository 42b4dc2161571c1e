"""Joins what ran (the invoker's view) with what the OTLP receiver got into one summary.

Pure functions over plain records, shared by the terminal and the HTML renderers, so both show
the same timeline: per invocation its span waterfall (offsets and durations relative to the
invocation span; the cold start's init span on its own scale, it is usually 20-50x longer), the
log records correlated to it (by `faas.invocation_id` or trace id; init logs by the init span's
trace), the cache reads the function made, and the Lambda metrics per function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.demo.otlp import LogRecord, MetricPoint, Span, Telemetry
from emulator.demo.scenario import MARKER, CacheRead, FunctionRun

CHILD_ORDER = ("responseLatency", "responseDuration", "runtimeOverhead", "extensionOverhead")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Bar:
    label: str
    kind: str  # "init" | "invoke" | a child span name: picks the colour
    depth: int
    offset_ms: float  # from the start of the scale
    duration_ms: float
    error: bool = False


@dataclass(frozen=True)
class LogLine:
    phase: str  # "init" | "invoke"
    severity: str
    message: str  # first line
    extra_lines: int  # lines not shown (tracebacks, multi-line messages)
    rest: str  # those lines (the HTML report can unfold them)
    trace_short: str  # last 8 hex digits of the trace id (X-Ray ids start with the epoch)


@dataclass(frozen=True)
class InvocationView:
    function: str
    index: int
    what: str
    request_id: str
    status: str  # the invoker's: success | error | timeout
    error_type: str | None
    span_found: bool
    cold: bool
    trace_id: str
    duration_ms: float  # the invocation span (Lambda's Duration); the invoker's time if no span
    response_ms: float  # when the invoker had the response (before the extension's post-invoke work)
    billed_ms: float | None
    init_ms: float | None
    memory_used_mb: int | None
    memory_mb: int | None
    scale_ms: float
    bars: tuple[Bar, ...]
    init: Bar | None  # own scale: scale = its duration
    logs: tuple[LogLine, ...]
    cache_reads: tuple[CacheRead, ...]
    hidden_probe_logs: int


@dataclass(frozen=True)
class FunctionView:
    name: str
    sample: str
    story: str
    invocations: tuple[InvocationView, ...]


@dataclass(frozen=True)
class MetricRow:
    label: str
    values: tuple[str, ...]  # one per function, then the total


@dataclass
class Summary:
    functions: list[FunctionView]
    metric_columns: list[str]
    metric_rows: list[MetricRow]
    aws_calls: dict[str, int]
    cache_totals: dict[str, int]  # X-Cache value -> reads seen by the functions
    otlp_files: list[Path]
    counts: dict[str, int] = field(default_factory=dict)  # spans / logs / metric points / requests
    notes: list[str] = field(default_factory=list)


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def _first_line(text: str) -> tuple[str, int]:
    lines = text.rstrip("\n").split("\n")
    return lines[0], len(lines) - 1


def _invocation_span(spans: Iterable[Span], request_id: str) -> Span | None:
    for s in spans:
        if s.attributes.get("faas.invocation_id") == request_id and not s.parent_span_id:
            return s
    for s in spans:  # a parent propagated from the X-Ray header makes it a non-root span
        if s.attributes.get("faas.invocation_id") == request_id:
            return s
    return None


def _init_span(spans: list[Span], invocation: Span) -> Span | None:
    linked = {span_id for _, span_id in invocation.links}
    for s in spans:
        if s.span_id in linked and s.name.startswith(("init ", "restore ")):
            return s
    if not invocation.attributes.get("faas.coldstart"):
        return None
    before = [
        s
        for s in spans
        if s.service == invocation.service
        and s.name.startswith("init ")
        and s.start_ns <= invocation.start_ns
    ]
    return max(before, key=lambda s: s.start_ns) if before else None


#: Levels of descendants shown under an invocation (the function's own spans nest under it).
MAX_BAR_DEPTH = 4


def _bars(invocation: Span, spans: list[Span]) -> tuple[Bar, ...]:
    by_parent: dict[str, list[Span]] = {}
    for s in spans:
        if s.parent_span_id and s.trace_id == invocation.trace_id:
            by_parent.setdefault(s.parent_span_id, []).append(s)
    rank = {name: i for i, name in enumerate(CHILD_ORDER)}
    origin = invocation.start_ns
    out = [Bar(invocation.name, "invoke", 0, 0.0, invocation.duration_ms, invocation.status == "ERROR")]

    def walk(parent_id: str, depth: int) -> None:
        children = sorted(
            by_parent.get(parent_id, ()), key=lambda s: (s.start_ns, rank.get(s.name, len(rank)))
        )
        for c in children:
            out.append(
                Bar(c.name, c.name, depth, (c.start_ns - origin) / 1e6, c.duration_ms, c.status == "ERROR")
            )
            if depth < MAX_BAR_DEPTH:
                walk(c.span_id, depth + 1)

    walk(invocation.span_id, 1)
    return tuple(out)


def _log_lines(logs: Iterable[LogRecord], phase: str) -> tuple[list[LogLine], int]:
    lines: list[LogLine] = []
    hidden = 0
    for r in sorted(logs, key=lambda r: r.time_ns):
        if r.body.startswith(MARKER + " "):
            hidden += 1
            continue
        first, extra = _first_line(r.body)
        rest = r.body.rstrip("\n").split("\n", 1)[1] if extra else ""
        lines.append(LogLine(phase, r.severity or "-", first, extra, rest, r.trace_id[-8:]))
    return lines, hidden


def invocation_view(run: FunctionRun, index: int, telemetry: Telemetry) -> InvocationView:
    inv = run.invocations[index]
    spans = [s for s in telemetry.spans if s.service == run.plan.name]
    span = _invocation_span(spans, inv.request_id)
    init = _init_span(spans, span) if span is not None else None
    attrs = span.attributes if span is not None else {}
    service_logs = [r for r in telemetry.logs if r.service == run.plan.name]
    invoke_logs = [
        r
        for r in service_logs
        if r.attributes.get("faas.invocation_id") == inv.request_id
        or (span is not None and r.trace_id == span.trace_id and "faas.invocation_id" not in r.attributes)
    ]
    init_logs = [r for r in service_logs if init is not None and r.trace_id == init.trace_id]
    logs_init, hidden_init = _log_lines(init_logs, "init")
    logs_invoke, hidden_invoke = _log_lines(invoke_logs, "invoke")
    reads = _reads_for(run, inv.request_id)
    duration = span.duration_ms if span is not None else inv.duration_ms
    memory_bytes = attrs.get("faas.max_memory")
    return InvocationView(
        function=run.plan.name,
        index=inv.index,
        what=inv.what,
        request_id=inv.request_id,
        status=inv.status,
        error_type=error_type_of(inv.error_type, inv.response, attrs.get("error.type")),
        span_found=span is not None,
        cold=bool(attrs.get("faas.coldstart")),
        trace_id=span.trace_id if span is not None else "",
        duration_ms=duration,
        response_ms=inv.duration_ms,
        billed_ms=_float(attrs.get("aws.lambda.billed_duration_ms")),
        init_ms=_float(attrs.get("aws.lambda.init_duration_ms")) or (init.duration_ms if init else None),
        memory_used_mb=_int(attrs.get("aws.lambda.max_memory_used_mb")),
        memory_mb=int(memory_bytes) // MIB if isinstance(memory_bytes, int) else None,
        scale_ms=max(duration, 0.001),
        bars=_bars(span, spans) if span is not None else (),
        init=Bar(init.name, "init", 0, 0.0, init.duration_ms, init.status == "ERROR") if init else None,
        logs=tuple(logs_init + logs_invoke),
        cache_reads=tuple(reads),
        hidden_probe_logs=hidden_init + hidden_invoke,
    )


def _reads_for(run: FunctionRun, request_id: str) -> list[CacheRead]:
    """The invocation's reads, preceded by the init-time reads of the runtime process that then
    served it first (each cold start is a new process: the probe records its pid)."""
    first_request: dict[int, str] = {}
    for read in run.cache_reads:
        if read.request_id is not None:
            first_request.setdefault(read.pid, read.request_id)
    return [
        r
        for r in run.cache_reads
        if r.request_id == request_id or (r.request_id is None and first_request.get(r.pid) == request_id)
    ]


def error_type_of(invoker: str | None, response: object, span_error: object = None) -> str | None:
    """The function's own error type (`ValueError`) when its response says so: Lambda normalises
    the platform-side type to `Runtime.Unknown` for anything that is not `Runtime.*`/`Function.*`."""
    if isinstance(response, dict) and isinstance(response.get("errorType"), str):
        return str(response["errorType"])
    if invoker:
        return invoker
    return str(span_error) if span_error else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# ---- metrics ----------------------------------------------------------------------------------


def _points(points: list[MetricPoint], name: str, service: str | None) -> list[MetricPoint]:
    return [p for p in points if p.name == name and (service is None or p.service == service)]


def _total(points: list[MetricPoint]) -> str:
    return f"{sum(p.value for p in points):g}" if points else "0"


def _avg_max(points: list[MetricPoint], scale: float = 1.0, unit: str = "ms") -> str:
    count = sum(p.count for p in points)
    if not count:
        return "-"
    avg = sum(p.value for p in points) / count / scale
    tops = [p.max for p in points if p.max is not None]
    top = max(tops) / scale if tops else None
    if unit == "ms":
        return f"{fmt_ms(avg)} / {fmt_ms(top)}" if top is not None else fmt_ms(avg)
    return f"{avg:.0f} / {top:.0f} {unit}" if top is not None else f"{avg:.0f} {unit}"


def _labelled(points: list[MetricPoint], key: str) -> str:
    by: dict[str, float] = {}
    for p in points:
        label = str(p.attributes.get(key, "?"))
        by[label] = by.get(label, 0.0) + p.value
    return ", ".join(f"{k} {v:g}" for k, v in sorted(by.items())) if by else "-"


METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    # (label, metric name, how)
    ("invocations", "faas.invocations", "total"),
    ("errors (by type)", "faas.errors", "by:error.type"),
    ("timeouts", "faas.timeouts", "total"),
    ("cold starts", "faas.coldstarts", "total"),
    ("duration avg / max (runtime)", "faas.invoke_duration", "avg_max"),
    ("billed duration (total)", "aws.lambda.billed_duration", "sum_ms"),
    ("init duration avg / max", "faas.init_duration", "avg_max"),
    ("memory used avg / max", "faas.mem_usage", "mib"),
    ("extension overhead avg / max", "aws.lambda.extension_overhead", "avg_max"),
    ("response size avg / max", "aws.lambda.response_size", "bytes"),
    ("cache requests (extension)", "lambda_sidecar.cache_requests", "by:label"),
    ("exported items", "lambda_sidecar.exported", "total"),
    ("dropped items", "lambda_sidecar.dropped", "total"),
)


def metric_table(points: list[MetricPoint], services: list[str]) -> list[MetricRow]:
    rows: list[MetricRow] = []
    for label, name, how in METRIC_ROWS:
        values: list[str] = []
        for service in [*services, None]:
            pts = _points(points, name, service)
            if how == "total":
                values.append(_total(pts))
            elif how.startswith("by:"):
                values.append(_labelled(pts, how[3:]))
            elif how == "avg_max":
                values.append(_avg_max(pts))
            elif how == "sum_ms":
                values.append(fmt_ms(sum(p.value for p in pts)) if pts else "-")
            elif how == "mib":
                values.append(_avg_max(pts, MIB, "MiB"))
            else:
                values.append(_avg_max(pts, 1.0, "B"))
        rows.append(MetricRow(label, tuple(values)))
    return rows


def build(runs: list[FunctionRun], telemetry: Telemetry, aws_calls: dict[str, int]) -> Summary:
    functions = [
        FunctionView(
            r.plan.name,
            r.plan.sample,
            r.plan.story,
            tuple(invocation_view(r, i, telemetry) for i in range(len(r.invocations))),
        )
        for r in runs
    ]
    services = [r.plan.name for r in runs]
    cache_totals: dict[str, int] = {}
    for r in runs:
        for read in r.cache_reads:
            cache_totals[read.x_cache] = cache_totals.get(read.x_cache, 0) + 1
    summary = Summary(
        functions=functions,
        metric_columns=[*services, "all"],
        metric_rows=metric_table(telemetry.metrics, services),
        aws_calls=dict(sorted(aws_calls.items())),
        cache_totals=dict(sorted(cache_totals.items())),
        otlp_files=list(telemetry.files),
        counts={
            "requests": len(telemetry.files),
            "spans": len(telemetry.spans),
            "log records": len(telemetry.logs),
            "metric points": len(telemetry.metrics),
        },
    )
    missing = [v.request_id for f in functions for v in f.invocations if not v.span_found]
    if missing:
        summary.notes.append(
            f"no invocation span received for {len(missing)} invocation(s): {', '.join(missing)}"
        )
    return summary
