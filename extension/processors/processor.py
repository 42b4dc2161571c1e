"""The processor façade: typed Telemetry API events -> spans, logs and measurements.

Pure and stateful per execution environment: no I/O, no implicit clock (the clock is injected,
read once per call). State that must survive batches and freezes (open invocations, the init
and restore phases, pending links) lives here, bounded. The pipeline calls `process` for each
batch, `on_invoke` for each INVOKE, `on_shutdown` once, and `health_metrics` at flush points.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from extension.config import Settings
from extension.processors import emf, to_metrics
from extension.processors import platform_lines as lines
from extension.processors.function_spans import MAX_HELD_PER_INVOCATION, MAX_UNMATCHED_SPANS, nest
from extension.processors.invocations import (
    MAX_OPEN_INVOCATIONS,
    RECENT_INVOCATIONS,
    Invocation,
    InvocationTable,
)
from extension.processors.outcome import TIMEOUT_ERROR_TYPE
from extension.processors.phases import Phase, PhaseTracker
from extension.processors.redaction import Redactor
from extension.processors.to_logs import (
    ERROR,
    INFO,
    WARN,
    Correlation,
    LogMapper,
    is_self_record,
    platform_log,
)
from extension.processors.to_spans import invocation_spans, phase_spans
from extension.signals import LogData, Measurement, Resource, Signals, SpanData, SpanLink
from extension.sources.telemetry_api.schema import (
    EventType,
    ExtensionState,
    InitStart,
    LogsDropped,
    PhaseDone,
    Report,
    RuntimeDone,
    Start,
    Subscription,
    TelemetryEvent,
    Tracing,
)
from extension.stats import Stats

_FUNCTION, _EXTENSION = EventType.FUNCTION, EventType.EXTENSION
_INIT_KINDS = {
    EventType.INIT_START: "init",
    EventType.INIT_RUNTIME_DONE: "init",
    EventType.INIT_REPORT: "init",
    EventType.RESTORE_START: "restore",
    EventType.RESTORE_RUNTIME_DONE: "restore",
    EventType.RESTORE_REPORT: "restore",
}
SUPPRESSED_INIT = ("_OTHER", "init did not report; it was re-run in the invoke phase")


def _severity(status: str | None) -> int:
    """A phase's closing platform line: INFO when it succeeded (or says nothing), else ERROR."""
    return INFO if status in (None, "success") else ERROR


class _Out:
    __slots__ = ("logs", "metrics", "raw", "spans")

    def __init__(self) -> None:
        self.spans: list[SpanData] = []
        self.logs: list[LogData] = []
        self.metrics: list[Measurement] = []
        self.raw: list[Any] = []

    def signals(self) -> Signals:
        return Signals(tuple(self.spans), tuple(self.logs), tuple(self.metrics), tuple(self.raw))


class TelemetryProcessor:
    """Construction does no I/O. Not thread-safe: owned by the one event loop."""

    def __init__(
        self,
        settings: Settings,
        resource: Resource,
        stats: Stats,
        *,
        clock: Callable[[], int] = time.time_ns,
        id_generator: Callable[[int], bytes] = os.urandom,
        max_open_invocations: int = MAX_OPEN_INVOCATIONS,
        concurrent_invocations: bool = False,
    ) -> None:
        """`concurrent_invocations`: several invocations run at once (Lambda Managed Instances), so
        a log line that names no request cannot be attributed to the latest platform.start."""
        processing = settings.processing
        self._settings = settings
        self._resource = resource
        self._stats = stats
        self._clock = clock
        self._fn = settings.function.name
        self._spans_on, self._metrics_on, self._logs_on = (
            processing.spans,
            processing.metrics,
            processing.logs,
        )
        self._platform_logs = processing.platform_logs and processing.logs
        self._style = processing.span_style
        self._base = {"faas.name": self._fn}
        self._table = InvocationTable(stats, max_open_invocations)
        # The extension's own credentials are secrets the function may print (botocore does):
        # redacted as exact values even with the default rules off.
        own_secrets = (
            settings.aws.secret_access_key,
            settings.aws.session_token,
            settings.aws.container_authorization_token,
            settings.cache.token,
        )
        self._redactor = Redactor.from_settings(
            processing.redact_defaults, processing.redact_patterns, own_secrets
        )
        self._logs = LogMapper(processing, stats)
        self._health = to_metrics.HealthMetrics(stats)
        self._phases = PhaseTracker(id_generator)
        self._pending_links: list[SpanLink] = []
        # Which invocation a log line without a request id (print output) belongs to. With platform
        # events subscribed it follows platform.start in the stream, which is ordered with the log
        # lines; INVOKE N+1 can arrive before N's last lines are delivered, so it must not move it.
        self._current: Correlation | None = None
        self._stream_ordered = "platform" in settings.telemetry.types
        self._concurrent = concurrent_invocations
        self._coldstart_counted = False
        self._init_duration_recorded = False
        self._redacted_reported = 0
        self._shut_down = False
        #: (trace id, X-Ray Parent) -> the invocation whose header carried them: the function's
        #: root spans have that parent (https://github.com/open-telemetry/opentelemetry-lambda/issues/449).
        self._by_parent: OrderedDict[tuple[bytes, bytes], Invocation] = OrderedDict()
        #: Trace ids of the indexed invocations (the same bound as `_by_parent`).
        self._indexed_traces: OrderedDict[bytes, None] = OrderedDict()
        #: Function spans of a trace no invocation has announced yet, by trace id: the function can
        #: export before this extension has read its INVOKE (a loaded host, a small CPU share), so
        #: they wait for it, or for the next flush (`release_unmatched`), bounded.
        self._unmatched: OrderedDict[bytes, list[SpanData]] = OrderedDict()
        self._unmatched_count = 0
        #: Spans freed by `_index` that go out with the next output.
        self._released: list[SpanData] = []
        self._nesting = self._spans_on and self._stream_ordered
        #: CloudWatch EMF lines printed by the function: "off", or metrics and "keep"/"drop" the line.
        self._emf = settings.receiver.emf
        #: The execution environment's id from `platform.initStart` (`instanceId`, the log stream
        #: name an extension cannot read from its environment); None until seen.
        self.instance_id: str | None = None

    # ---------------------------------------------------------------------------------------
    # Entry points
    # ---------------------------------------------------------------------------------------

    def process(self, events: Sequence[TelemetryEvent]) -> Signals:
        now = self._clock()
        out = _Out()
        if self._released:
            out.spans.extend(self._released)
            self._released.clear()
        for ev in events:
            kind = ev.kind
            # identity tests: hashing an Enum member (a dict lookup) is a Python-level call
            source = "function" if kind is _FUNCTION else "extension" if kind is _EXTENSION else None
            try:
                if source is not None:
                    self._log_event(ev, source, now, out)
                else:
                    out.raw.append(ev.raw)
                    self._platform(ev, now, out)
            except Exception:  # a shape nobody anticipated must cost one event, not the batch
                self._stats.add("processing_errors", 1, kind.value if kind is not None else "unknown")
        self._sync_redactions()
        return out.signals()

    def _log_event(self, ev: TelemetryEvent, source: str, now: int, out: _Out) -> None:
        record = ev.record
        # Our own output comes back only in the extension stream: a function's line is never
        # dropped as ours, whatever it says (it may be logged attacker input).
        if ev.kind is EventType.EXTENSION and is_self_record(record):
            self._stats.add("logs_filtered", 1, "self_log")
            return
        raw = ev.raw
        redacted = self._redactor.value(record)  # always: secrets can be registered at run time
        if redacted is not record:
            record, raw = redacted, {**raw, "record": redacted}
        if self._emf != "off" and source == "function":
            doc = emf.emf_document(record)
            if doc is not None:
                self._stats.add("emf_lines")
                if self._metrics_on:
                    out.metrics.extend(emf.measurements(doc, ev.time_ns or now))
                if self._emf == "drop":
                    self._stats.add("logs_filtered", 1, "emf_line")
                    out.raw.append(raw)
                    return
        if self._logs_on:
            log = self._logs.record(record, source, ev.time_ns, now, self._table.find, self._current)
            if log is None:
                return
            out.logs.append(log)
        out.raw.append(raw)

    def function_signals(self, signals: Signals) -> Signals:
        """Records received from the function's own SDK: redacted like ours, and its root spans
        of an invocation nested under our invocation span (see `function_spans.nest`). A root
        span that arrives before the invocation's span id is final waits for it in the
        invocation's state (released at platform.start or with the invocation span)."""
        spans: list[SpanData] = []
        for span in signals.spans:
            span = self._redact_span(span)  # always: secrets can be registered at run time
            if (
                self._nesting
                and span.parent_span_id
                and span.trace_id not in self._indexed_traces
                and self._unmatched_count < MAX_UNMATCHED_SPANS
            ):
                self._unmatched.setdefault(span.trace_id, []).append(span)
                self._unmatched_count += 1
                continue
            self._match(span, spans)
        logs = tuple(self._redact_log(log) for log in signals.logs)
        self._sync_redactions()
        return Signals(tuple(spans), logs, signals.metrics)

    def _match(self, span: SpanData, spans: list[SpanData]) -> None:
        """Nest `span` (into `spans`) if it is a root span of a known invocation, hold it there if
        that invocation's span id is not final yet, else pass it on unchanged."""
        parent = span.parent_span_id
        inv = self._by_parent.get((span.trace_id, parent)) if parent and self._nesting else None
        if inv is None:
            spans.append(span)
        elif inv.settled or inv.done:
            spans.append(nest(span, inv.span_id))
        elif len(inv.held) < MAX_HELD_PER_INVOCATION:
            inv.held.append(span)
        else:
            self._stats.add("function_spans_not_nested")
            spans.append(span)

    def release_unmatched(self) -> Signals:
        """Function spans whose trace no invocation announced (another trace, or an INVOKE never
        seen): out unchanged at a flush point, so holding them costs delay, never data."""
        spans = self._released
        self._released = []
        for held in self._unmatched.values():
            spans.extend(held)
        self._unmatched.clear()
        self._unmatched_count = 0
        return Signals(spans=tuple(spans))

    def _redact_span(self, span: SpanData) -> SpanData:
        attributes = self._redactor.value(span.attributes)
        return span if attributes is span.attributes else span._replace(attributes=attributes)

    def _redact_log(self, log: LogData) -> LogData:
        body, attributes = self._redactor.value(log.body), self._redactor.value(log.attributes)
        if body is log.body and attributes is log.attributes:
            return log
        return log._replace(body=body, attributes=attributes)

    def _index(self, inv: Invocation) -> None:
        if self._nesting and inv.header_trace and inv.parent_span_id is not None:
            key = (inv.trace_id, inv.parent_span_id)
            if self._by_parent.get(key) is not inv:
                self._by_parent[key] = inv
                # As many as the table remembers (open ones and the recent completed ones): a
                # completed invocation older than that is not kept alive by this index (it held
                # ~1 MB per 1,000 invokes of steady RSS before).
                while len(self._by_parent) > len(self._table.open) + RECENT_INVOCATIONS:
                    self._by_parent.popitem(last=False)
                self._indexed_traces[inv.trace_id] = None
                while len(self._indexed_traces) > len(self._table.open) + RECENT_INVOCATIONS:
                    self._indexed_traces.popitem(last=False)
            waiting = self._unmatched.pop(inv.trace_id, None)
            if waiting:
                self._unmatched_count -= len(waiting)
                for span in waiting:
                    self._match(span, self._released)

    def _settle(self, inv: Invocation, out: _Out, *, nested: bool = True) -> None:
        """The invocation's span id is final: its held root spans go out, nested (or as they
        came when the invocation span will never be exported)."""
        inv.settled = True
        if inv.held:
            out.spans.extend(nest(s, inv.span_id) if nested else s for s in inv.held)
            inv.held.clear()

    def on_invoke(self, request_id: str, deadline_ms: int, trace_header: str | None, now_ns: int) -> None:
        """INVOKE from the Extensions API: the invocation is known even if no telemetry follows."""
        inv = self._table.get_or_create(request_id)
        if inv.done:
            return
        if inv.invoke_ns is None:
            inv.invoke_ns = now_ns
        if 0 < deadline_ms < 2**63 // 1_000_000:
            inv.deadline_ns = deadline_ms * 1_000_000
        inv.apply_header(trace_header)
        self._index(inv)
        if not self._stream_ordered and not self._concurrent:
            self._current = inv

    def on_shutdown(self, reason: str, now_ns: int) -> Signals:
        """Close everything still open. After a `timeout` or `failure` shutdown, invocations Lambda
        never finished get a synthetic ERROR span (`Sandbox.Timedout` on a timeout, `Runtime.Crash`
        otherwise) and outcome metrics; after a spindown they are only counted as missing."""
        out = _Out()
        if self._shut_down:
            return out.signals()
        self._shut_down = True
        timeout = reason == "timeout"
        error_type = TIMEOUT_ERROR_TYPE if timeout else "Runtime.Crash"
        for inv in self._table.take_open():
            if inv.runtime_done is not None or inv.report is not None:
                self._emit_invocation(inv, out, end_ns=now_ns)
                continue
            if reason not in ("timeout", "failure"):
                # A normal spindown after an invocation whose platform events never came: its
                # outcome is unknown, so it is counted as missing rather than reported as an error.
                self._stats.add("invocation_events_missing", label=reason or "unknown")
                self._settle(inv, out, nested=False)
                continue
            end = now_ns
            if timeout and inv.deadline_ns is not None:
                end = min(inv.deadline_ns, now_ns)
            message = f"invocation did not complete before shutdown (reason: {reason})"
            self._emit_invocation(inv, out, end_ns=end, synthetic=(error_type, message))
            if self._metrics_on and not inv.counted:
                out.metrics.extend(to_metrics.synthetic(error_type, end, self._base))
                inv.counted = True
            if self._logs_on:
                out.logs.append(platform_log(message, ERROR, end, now_ns, inv, inv.request_id))
        for ph in self._phases.take_open():
            msg = f"{ph.kind} did not report before shutdown (reason: {reason})"
            self._emit_phase(ph, out, end_ns=now_ns, forced_error=(error_type if timeout else "_OTHER", msg))
        self._pending_links.clear()
        return out.signals()

    def health_metrics(self, now_ns: int) -> tuple[Measurement, ...]:
        """Our own counters (events received, dropped{reason}, export failures...) as deltas."""
        self._sync_redactions()
        if not self._metrics_on:
            return ()
        return self._health.collect(now_ns)

    # ---------------------------------------------------------------------------------------
    # Platform events
    # ---------------------------------------------------------------------------------------

    def _platform(self, ev: TelemetryEvent, now: int, out: _Out) -> None:
        kind, rec, event_ns = ev.kind, ev.record, ev.time_ns if ev.time_ns is not None else now
        if isinstance(rec, Start) and kind is EventType.START:
            self._on_start(rec, event_ns, now, out)
        elif isinstance(rec, RuntimeDone):
            self._on_runtime_done(rec, event_ns, now, out)
        elif isinstance(rec, Report):
            self._on_report(rec, event_ns, now, out)
        elif kind in _INIT_KINDS and isinstance(rec, InitStart | PhaseDone):
            if isinstance(rec, InitStart) and rec.instance_id:
                self.instance_id = rec.instance_id
            self._on_phase(_INIT_KINDS[kind], rec, kind, event_ns, now, out)
        elif isinstance(rec, LogsDropped):
            if self._metrics_on:
                out.metrics.extend(to_metrics.logs_dropped(rec, event_ns, self._base))
            if self._logs_on:
                out.logs.append(platform_log(lines.logs_dropped_line(rec), WARN, event_ns, now, None))
        elif isinstance(rec, ExtensionState):
            if self._platform_logs:
                sev = ERROR if rec.error_type else INFO
                out.logs.append(platform_log(lines.extension_line(rec), sev, event_ns, now, self._current))
        elif isinstance(rec, Subscription):
            if self._platform_logs:
                out.logs.append(
                    platform_log(lines.subscription_line(rec), INFO, event_ns, now, self._current)
                )
        elif kind is EventType.FAULT:
            if self._logs_on:
                out.logs.append(platform_log(str(rec).rstrip("\n"), ERROR, event_ns, now, self._current))
        elif kind is None:
            self._on_unknown(ev, event_ns, now, out)

    def _on_start(self, rec: Start, event_ns: int, now: int, out: _Out) -> None:
        inv = self._open(rec.request_id, rec.tracing)
        if inv is None:
            return
        inv.start, inv.start_ns = rec, event_ns
        inv.apply_tracing(rec.tracing)
        self._index(inv)
        self._settle(inv, out)
        self._current = None if self._concurrent else inv
        if self._platform_logs:
            out.logs.append(platform_log(lines.start_line(rec), INFO, event_ns, now, inv, inv.request_id))

    def _on_runtime_done(self, rec: RuntimeDone, event_ns: int, now: int, out: _Out) -> None:
        inv = self._open(rec.request_id, rec.tracing)
        if inv is None:
            return
        inv.runtime_done, inv.runtime_done_ns = rec, event_ns
        if self._metrics_on and not inv.counted:
            out.metrics.extend(to_metrics.runtime_done(rec, event_ns, self._base))
        inv.counted = True
        if self._platform_logs:
            sev = _severity(rec.status)
            out.logs.append(
                platform_log(lines.end_line(rec.request_id), sev, event_ns, now, inv, inv.request_id)
            )

    def _on_report(self, rec: Report, event_ns: int, now: int, out: _Out) -> None:
        inv = self._open(rec.request_id, rec.tracing)
        if inv is None:
            return
        inv.report, inv.report_ns = rec, event_ns
        if rec.init_duration_ms is not None:
            inv.coldstart = True
        if self._metrics_on:
            out.metrics.extend(to_metrics.report(rec, event_ns, self._base, counted=inv.counted))
            if rec.init_duration_ms is not None and not self._init_duration_recorded:
                init_type = self._settings.function.initialization_type
                out.metrics.append(
                    to_metrics.init_duration(rec.init_duration_ms, event_ns, self._base, init_type)
                )
                if not self._coldstart_counted:
                    out.metrics.append(to_metrics.coldstart(event_ns, self._base))
        if rec.init_duration_ms is not None:
            self._init_duration_recorded = self._coldstart_counted = True
        inv.counted = True
        self._emit_invocation(inv, out)
        self._table.complete(inv)
        if self._platform_logs:
            sev = _severity(rec.status)
            out.logs.append(platform_log(lines.report_line(rec), sev, event_ns, now, inv, inv.request_id))

    def _open(self, request_id: str | None, tracing: Tracing | None) -> Invocation | None:
        """The invocation a start/runtimeDone/report belongs to, with the event's trace context
        applied; None without a requestId, or when it is already closed (a late event: counted,
        ignored)."""
        if request_id is None:
            return None
        inv = self._table.get_or_create(request_id)
        if inv.done:
            self._stats.add("telemetry_events_late", 1)
            return None
        inv.apply_tracing(tracing)
        self._index(inv)
        return inv

    def _on_phase(
        self, kind: str, rec: InitStart | PhaseDone, ev_kind: EventType, event_ns: int, now: int, out: _Out
    ) -> None:
        if isinstance(rec, InitStart):
            ph, previous = self._phases.start(kind, rec, event_ns)
            if previous is not None:  # a new init while one is open: the previous one failed
                self._emit_phase(previous, out, end_ns=event_ns, forced_error=SUPPRESSED_INIT)
            self._current = ph
            if self._metrics_on and not self._coldstart_counted:
                out.metrics.append(to_metrics.coldstart(event_ns, self._base))
            self._coldstart_counted = True
            if self._platform_logs:
                out.logs.append(platform_log(lines.phase_start_line(kind, rec), INFO, event_ns, now, ph))
            return
        if ev_kind in (EventType.INIT_RUNTIME_DONE, EventType.RESTORE_RUNTIME_DONE):
            self._phases.runtime_done(kind, rec, event_ns)
            return
        ph = self._phases.report(kind, rec, event_ns)
        self._emit_phase(ph, out)
        if self._metrics_on:
            init_type = ph.initialization_type or self._settings.function.initialization_type
            done_error = ph.runtime_done.error_type if ph.runtime_done is not None else None
            out.metrics.extend(
                to_metrics.phase_report(kind, rec, event_ns, self._base, init_type, done_error)
            )
        if kind == "init":
            self._init_duration_recorded = True
        if self._platform_logs:
            sev = _severity(rec.status)
            out.logs.append(platform_log(lines.phase_report_line(kind, rec), sev, event_ns, now, ph))

    def _on_unknown(self, ev: TelemetryEvent, event_ns: int, now: int, out: _Out) -> None:
        """Unknown event types (a schema newer than ours) are passed through as logs, never lost silently."""
        if not self._logs_on:
            return
        body = ev.record if isinstance(ev.record, str | dict | list | int | float | bool) else None
        attrs: dict[str, Any] = {"telemetry.event.type": ev.type}
        out.logs.append(platform_log(body, INFO, event_ns, now, None, attributes=attrs))

    # ---------------------------------------------------------------------------------------
    # Span emission
    # ---------------------------------------------------------------------------------------

    def _emit_invocation(
        self,
        inv: Invocation,
        out: _Out,
        *,
        end_ns: int | None = None,
        synthetic: tuple[str, str] | None = None,
    ) -> None:
        if not self._spans_on:
            return
        self._settle(inv, out)
        links = tuple(self._pending_links)
        self._pending_links.clear()
        out.spans.extend(
            invocation_spans(
                inv, self._fn, self._style, links=links, end_ns=end_ns, synthetic_error=synthetic
            )
        )

    def _emit_phase(
        self, ph: Phase, out: _Out, *, end_ns: int | None = None, forced_error: tuple[str, str] | None = None
    ) -> None:
        if not self._spans_on:
            return
        default_type = "snap-start" if ph.kind == "restore" else self._settings.function.initialization_type
        spans = phase_spans(ph, self._fn, self._style, default_type, end_ns=end_ns, forced_error=forced_error)
        out.spans.extend(spans)
        # The first invocation span links back to the phase that made this environment ready.
        self._pending_links.append(SpanLink(ph.trace_id, ph.span_id, {"aws.lambda.phase": ph.kind}))

    def _sync_redactions(self) -> None:
        delta = self._redactor.count - self._redacted_reported
        if delta > 0:
            self._stats.add("logs_redacted", delta)
            self._redacted_reported = self._redactor.count
