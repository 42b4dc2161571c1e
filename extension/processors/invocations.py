"""Per-request state that outlives a Telemetry API batch (and a freeze).

`platform.report` for request N arrives one invoke later (or at SHUTDOWN), so what we know
about N (INVOKE deadline, trace context, start, runtimeDone) is kept here, keyed by requestId,
until its span can be built. The table is bounded: a flood of requests that never report
cannot grow memory; the oldest open request is evicted and counted.
"""

from __future__ import annotations

from collections import OrderedDict

from extension.processors.xray import XRayContext, derived_id, parse_xray_header, span_id_from_hex
from extension.signals import SpanData
from extension.sources.telemetry_api.schema import Report, RuntimeDone, Start, Tracing
from extension.stats import Stats

MAX_OPEN_INVOCATIONS = 1000
#: Completed invocations remembered for late log records and to ignore late platform events.
RECENT_INVOCATIONS = 64

_TRACE_SALT = b"lsc-trace"
_SPAN_SALT = b"lsc-span"


class Invocation:
    """Everything known about one request so far. Ids are settled as early as possible (INVOKE or
    platform.start) so log records correlate before the span exists."""

    __slots__ = (
        "coldstart",
        "counted",
        "deadline_ns",
        "done",
        "header_trace",
        "held",
        "invoke_ns",
        "parent_span_id",
        "report",
        "report_ns",
        "request_id",
        "runtime_done",
        "runtime_done_ns",
        "sampled",
        "settled",
        "span_id",
        "span_id_from_lambda",
        "start",
        "start_ns",
        "trace_id",
    )

    def __init__(self, request_id: str, coldstart: bool) -> None:
        self.request_id = request_id
        self.coldstart = coldstart
        self.trace_id = derived_id(request_id, 16, _TRACE_SALT)
        self.span_id = derived_id(request_id, 8, _SPAN_SALT)
        self.parent_span_id: bytes | None = None
        self.sampled = True
        self.header_trace = False
        self.span_id_from_lambda = False
        self.invoke_ns: int | None = None
        self.deadline_ns: int | None = None
        self.start: Start | None = None
        self.start_ns: int | None = None
        self.runtime_done: RuntimeDone | None = None
        self.runtime_done_ns: int | None = None
        self.report: Report | None = None
        self.report_ns: int | None = None
        self.counted = False  # invocation metrics emitted (at runtimeDone, else at report)
        self.done = False  # span emitted (or synthesised): later platform events are ignored
        #: The span id is final (platform.start seen, or the span emitted); until then the
        #: function's root spans wait in `held` (see TelemetryProcessor.function_signals).
        self.settled = False
        self.held: list[SpanData] = []

    def apply_header(self, header: str | None) -> None:
        """Adopt the X-Ray context once; the first header wins so ids never change mid-invocation."""
        if self.header_trace:
            return
        ctx: XRayContext | None = parse_xray_header(header)
        if ctx is None:
            return
        self.header_trace = True
        self.trace_id = ctx.trace_id
        self.parent_span_id = ctx.parent_span_id
        if ctx.sampled is not None:
            self.sampled = ctx.sampled

    def apply_tracing(self, tracing: Tracing | None) -> None:
        if tracing is None:
            return
        self.apply_header(tracing.value)
        if not self.span_id_from_lambda:
            sid = span_id_from_hex(tracing.span_id)
            if sid is not None:
                self.span_id = sid
                self.span_id_from_lambda = True


class InvocationTable:
    """Open invocations (bounded, oldest evicted), recently completed ones, and the current one."""

    def __init__(self, stats: Stats, max_open: int = MAX_OPEN_INVOCATIONS) -> None:
        self._stats = stats
        self._max_open = max(1, max_open)
        self.open: OrderedDict[str, Invocation] = OrderedDict()
        self._recent: OrderedDict[str, Invocation] = OrderedDict()
        self.current: Invocation | None = None
        self._seen_any = False

    def get_or_create(self, request_id: str) -> Invocation:
        inv = self.open.get(request_id)
        if inv is not None:
            return inv
        recent = self._recent.get(request_id)
        if recent is not None:
            return recent
        inv = Invocation(request_id, coldstart=not self._seen_any)
        self._seen_any = True
        self.open[request_id] = inv
        while len(self.open) > self._max_open:
            _, evicted = self.open.popitem(last=False)
            self._stats.dropped("invocation_state_evicted")
            if evicted.held:
                self._stats.dropped("function_spans_evicted", len(evicted.held))
        return inv

    def find(self, request_id: str) -> Invocation | None:
        return self.open.get(request_id) or self._recent.get(request_id)

    def complete(self, inv: Invocation) -> None:
        inv.done = True
        self.open.pop(inv.request_id, None)
        self._recent[inv.request_id] = inv
        while len(self._recent) > RECENT_INVOCATIONS:
            self._recent.popitem(last=False)

    def take_open(self) -> list[Invocation]:
        """Every still-open invocation, oldest first, removing them (shutdown)."""
        items = list(self.open.values())
        for inv in items:
            self.complete(inv)
        return items
