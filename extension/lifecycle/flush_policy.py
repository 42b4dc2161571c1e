"""When to export: the flush policy, as a pure decision per INVOKE (no I/O, injectable clock).

Waiting for this invoke's runtimeDone before /next costs ~25 ms of billed extensionOverhead (the
Telemetry API's minimum buffering), so only the policies that flush at the end of *this* invoke
wait. Rates and intervals use wall-clock time: the monotonic clock stops while frozen, and the
gaps between invokes are exactly the frozen time.
"""

from __future__ import annotations

import enum
from collections import deque

from extension.config import FlushPolicy, PipelineSettings

RATE_WINDOW_S = 60.0


class Decision(enum.Enum):
    NONE = "none"  # straight back to /next
    FLUSH = "flush"  # export what is buffered (runs while the function runs), done before /next
    WAIT_AND_FLUSH = "wait_and_flush"  # wait for this invoke's runtimeDone, then export


class FlushScheduler:
    def __init__(self, settings: PipelineSettings, now: float) -> None:
        self._policy = settings.flush_policy
        self._interval = settings.flush_interval_s
        self._min_rate = settings.adaptive_min_rate_per_minute
        self._last_flush = now
        self._invokes: deque[float] = deque(maxlen=1024)

    def on_invoke(self, now: float, buffers_over_threshold: bool) -> Decision:
        """Decide for the INVOKE that arrived at wall-clock `now`."""
        self._invokes.append(now)
        while self._invokes and now - self._invokes[0] > RATE_WINDOW_S:
            self._invokes.popleft()
        decision = self._decide(now)
        if decision is Decision.NONE and buffers_over_threshold:
            return Decision.FLUSH
        return decision

    def frequent(self) -> bool:
        """Adaptive's test: at least `min_rate` invokes in the last minute."""
        return len(self._invokes) >= max(2.0, self._min_rate)

    def _decide(self, now: float) -> Decision:
        due = now - self._last_flush >= self._interval
        if self._policy is FlushPolicy.END:
            return Decision.WAIT_AND_FLUSH
        if self._policy is FlushPolicy.PERIODIC:
            return Decision.FLUSH if due else Decision.NONE
        if self._policy is FlushPolicy.ADAPTIVE:
            if not self.frequent():
                return Decision.WAIT_AND_FLUSH
            return Decision.FLUSH if due else Decision.NONE
        return Decision.NONE  # SHUTDOWN policy: only at shutdown and when buffers fill

    def flushed(self, now: float) -> None:
        self._last_flush = now

    @property
    def policy(self) -> FlushPolicy:
        return self._policy
