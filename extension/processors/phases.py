"""Init and SnapStart restore phases: assembled from their Start/RuntimeDone/Report events.

At most one phase of each kind is open. A second `platform.initStart` while one is open means
the first init failed and Lambda re-ran it inside the first invoke (a "suppressed init", phase
`invoke`); a real capture shows that no initRuntimeDone/initReport ever arrives for the first
one, so the tracker hands it back to be closed as failed instead of waiting forever.
"""

from __future__ import annotations

from collections.abc import Callable

from extension.processors.xray import parse_xray_header, span_id_from_hex
from extension.sources.telemetry_api.schema import InitStart, PhaseDone


class Phase:
    """An init or SnapStart restore phase being assembled from its three events."""

    __slots__ = (
        "done_ns",
        "kind",
        "report",
        "report_ns",
        "request_id",
        "runtime_done",
        "sampled",
        "span_id",
        "start",
        "start_ns",
        "trace_id",
    )

    def __init__(self, kind: str, trace_id: bytes, span_id: bytes) -> None:
        self.kind = kind  # "init" | "restore"
        self.trace_id = trace_id
        self.span_id = span_id
        self.sampled = True
        self.request_id: str | None = None
        self.start: InitStart | None = None
        self.start_ns: int | None = None
        self.runtime_done: PhaseDone | None = None
        self.done_ns: int | None = None
        self.report: PhaseDone | None = None
        self.report_ns: int | None = None

    @property
    def initialization_type(self) -> str | None:
        for rec in (self.start, self.runtime_done, self.report):
            if rec is not None and rec.initialization_type:
                return rec.initialization_type
        return "snap-start" if self.kind == "restore" else None

    @property
    def phase(self) -> str | None:
        for rec in (self.start, self.runtime_done, self.report):
            if rec is not None and rec.phase:
                return rec.phase
        return None


class PhaseTracker:
    """Open phases by kind ("init", "restore"). Ids come from the phase's tracing context when
    Lambda gives one, else from `ids` (random in production, a counter in tests)."""

    def __init__(self, ids: Callable[[int], bytes]) -> None:
        self._ids = ids
        self._open: dict[str, Phase] = {}

    def start(self, kind: str, rec: InitStart, time_ns: int) -> tuple[Phase, Phase | None]:
        """The new phase, and the previous open one of the same kind (to close as failed)."""
        previous = self._open.pop(kind, None)
        ph = self._new(kind, rec)
        ph.start, ph.start_ns = rec, time_ns
        self._open[kind] = ph
        return ph, previous

    def runtime_done(self, kind: str, rec: PhaseDone, time_ns: int) -> None:
        ph = self._open.get(kind)
        if ph is None:
            ph = self._open[kind] = self._new(kind, None)
        ph.runtime_done, ph.done_ns = rec, time_ns

    def report(self, kind: str, rec: PhaseDone, time_ns: int) -> Phase:
        """The completed phase (no longer open)."""
        ph = self._open.pop(kind, None) or self._new(kind, None)
        ph.report, ph.report_ns = rec, time_ns
        return ph

    def take_open(self) -> list[Phase]:
        phases = list(self._open.values())
        self._open.clear()
        return phases

    def _new(self, kind: str, rec: InitStart | None) -> Phase:
        tracing = rec.tracing if rec is not None else None
        ctx = parse_xray_header(tracing.value if tracing else None)
        span_id = span_id_from_hex(tracing.span_id if tracing else None) or self._ids(8)
        ph = Phase(kind, ctx.trace_id if ctx else self._ids(16), span_id)
        if ctx is not None and ctx.sampled is not None:
            ph.sampled = ctx.sampled
        return ph
