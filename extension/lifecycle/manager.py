"""The extension's state machine: INVOKE and SHUTDOWN handling between `/event/next` calls.

Rule: nothing of ours is in flight when we call `/event/next` (the environment may freeze right
after). Every wait and every export is bounded by the event's own deadline, converted once from
epoch milliseconds to loop time on arrival.

Timed mode (Lambda Managed Instances, registered for SHUTDOWN only): no INVOKE paces us and the
environment never freezes, so the one `/event/next` waits for SHUTDOWN while a timer task on the
same loop exports every `SIDECAR_FLUSH_INTERVAL_SECONDS`, and at once when a queue fills
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances.html). Timers are used
only there: elsewhere a freeze could stop them mid-export.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from extension.config import PipelineSettings
from extension.lifecycle.extensions_api import LifecycleEvent
from extension.lifecycle.flush_policy import Decision, FlushScheduler
from extension.lifecycle.invocation_tracker import InvocationTracker
from extension.log import get_logger
from extension.pipeline import Pipeline
from extension.stats import Stats

log = get_logger("lifecycle")

#: Kept free before each deadline: the /next call itself and scheduling jitter.
DEADLINE_MARGIN_S = 0.05
#: At SHUTDOWN, leave this much of the budget unused so we exit before SIGKILL.
SHUTDOWN_SAFETY_S = 0.15
#: Share of the SHUTDOWN budget spent waiting for late telemetry (the last platform.report).
SHUTDOWN_DRAIN_SHARE = 0.4
#: Timed mode: the shortest interval honoured (0 would spin), the longest a timed export may take
#: (nobody waits on it, but a stuck backend must not hold the timer for long), and the share of
#: the SHUTDOWN budget left to an export in progress before it is cut off (its data is kept).
MIN_TIMER_INTERVAL_S = 0.05
MAX_TIMED_FLUSH_S = 5.0
SHUTDOWN_TIMER_SHARE = 0.2


def timer_interval(settings: PipelineSettings) -> float:
    return max(MIN_TIMER_INTERVAL_S, settings.flush_interval_s)


#: Without the Telemetry API there is no runtimeDone to cut a probe off at: bound it by this.
UNOBSERVED_PROBE_S = 0.1


@dataclass
class Hooks:
    """Optional collaborators called at lifecycle points (the cache's refresh-ahead, shutdowns)."""

    on_invoke: Callable[[], None] | None = None
    #: Called with the SHUTDOWN deadline (loop time) once the pipeline is shut down.
    on_shutdown: Callable[[float], Awaitable[None]] | None = None
    #: Called with the seconds left before our /next, to finish background work (bounded).
    before_next: Callable[[float], Awaitable[None]] | None = None
    #: Timed mode calls `on_invoke` at every timer export instead (there are no INVOKE events).


class LifecycleManager:
    def __init__(
        self,
        next_event: Callable[[], Awaitable[LifecycleEvent]],
        pipeline: Pipeline,
        tracker: InvocationTracker,
        settings: PipelineSettings,
        stats: Stats,
        hooks: Hooks,
        timed: bool = False,
    ) -> None:
        self._next_event = next_event
        self._pipeline = pipeline
        self._tracker = tracker
        self._settings = settings
        self._stats = stats
        self._hooks = hooks
        self._scheduler = FlushScheduler(settings, time.time())
        self._timed = timed
        self.invokes = 0
        #: Timed mode: exports made by the timer (interval or full queues).
        self.timed_flushes = 0

    async def run(self) -> int:
        """Loop on /event/next until SHUTDOWN; returns the process exit code."""
        if self._timed:
            return await self._run_timed()
        while True:
            try:
                event = await self._next_event()
            except Exception as exc:
                log.error("/event/next failed (%s); exiting", exc)
                return 1
            if event.event_type == "SHUTDOWN":
                await self._guarded(self._on_shutdown(event), "shutdown")
                return 0
            if event.event_type == "INVOKE":
                await self._guarded(self._on_invoke(event), "invoke")

    async def _guarded(self, work: Awaitable[None], what: str) -> None:
        try:
            await work
        except Exception:
            self._stats.add("internal_errors", label=what)
            if self._stats.first_time(f"lifecycle_{what}"):
                log.exception("unexpected error while handling %s; counted, continuing", what)

    def _loop_deadline(self, deadline_ms: int) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + (deadline_ms / 1000.0 - time.time())

    async def _on_invoke(self, event: LifecycleEvent) -> None:
        self.invokes += 1
        loop = asyncio.get_running_loop()
        invoke_deadline = self._loop_deadline(event.deadline_ms) - DEADLINE_MARGIN_S
        await self._handle_invoke(event, invoke_deadline)
        if self._hooks.before_next is not None:
            budget = self._settings.export_budget_ms / 1000.0
            await self._hooks.before_next(min(budget, invoke_deadline - loop.time()))

    async def _handle_invoke(self, event: LifecycleEvent, invoke_deadline: float) -> None:
        self._pipeline.on_invoke(event)
        if self._hooks.on_invoke is not None:
            self._hooks.on_invoke()
        probe = self._start_probe(event.request_id, invoke_deadline)
        try:
            await self._flush_per_policy(event, invoke_deadline)
        finally:
            if probe is not None:
                await probe  # ends at runtimeDone or its deadline: nothing left in flight

    def _start_probe(self, request_id: str, invoke_deadline: float) -> asyncio.Future[None] | None:
        """Retry failing destinations while this invoke's function code runs (free of billed
        time), cut off when the function is done, so a dead backend never holds the invoke."""
        if not self._pipeline.probe_due():
            return None
        loop = asyncio.get_running_loop()
        budget = self._settings.export_budget_ms / 1000.0
        stop: asyncio.Future[Any]
        if self._pipeline.telemetry_active:
            stop = self._tracker.runtime_done_future(request_id)
        else:
            stop = loop.create_future()  # never completes: the short deadline bounds the probe
            budget = min(budget, UNOBSERVED_PROBE_S)
        deadline = min(loop.time() + budget, invoke_deadline)
        return asyncio.ensure_future(self._pipeline.probe(deadline, stop))

    async def _flush_per_policy(self, event: LifecycleEvent, invoke_deadline: float) -> None:
        loop = asyncio.get_running_loop()
        decision = self._scheduler.on_invoke(time.time(), self._pipeline.needs_flush())
        if decision is Decision.NONE:
            return
        budget = self._settings.export_budget_ms / 1000.0
        if decision is Decision.WAIT_AND_FLUSH and self._pipeline.telemetry_active:
            await self._await_runtime_done(event.request_id, invoke_deadline - budget, budget)
        flush_deadline = min(loop.time() + budget, invoke_deadline)
        await self._pipeline.flush(flush_deadline)
        self._scheduler.flushed(time.time())

    async def _await_runtime_done(self, request_id: str, wait_until: float, budget: float) -> None:
        """Wait for this invoke's runtimeDone; meanwhile, whenever a destination's queue crosses
        its threshold (a function logging heavily), export at once: the function is still
        running, so this costs no billed time and keeps the bounded queues from overflowing."""
        loop = asyncio.get_running_loop()
        done = self._tracker.runtime_done_future(request_id)
        pressure = self._pipeline.pressure
        while not done.done():
            remaining = wait_until - loop.time()
            if remaining <= 0:
                self._stats.add("runtime_done_wait_timeouts")
                return
            pressed = asyncio.ensure_future(pressure.wait())
            try:
                await asyncio.wait((done, pressed), timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                pressed.cancel()
            if not done.done() and pressure.is_set():
                self._stats.add("flushes_under_pressure")
                await self._pipeline.flush(min(loop.time() + budget, wait_until))

    async def _on_shutdown(self, event: LifecycleEvent) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._loop_deadline(event.deadline_ms) - SHUTDOWN_SAFETY_S
        remaining = max(0.0, deadline - loop.time())
        log.info("SHUTDOWN (%s): %.0f ms to flush", event.shutdown_reason or "unknown", remaining * 1000)
        if self._pipeline.telemetry_active:
            drained = await self._tracker.wait_reports(remaining * SHUTDOWN_DRAIN_SHARE)
            if not drained:
                self._stats.add("shutdown_reports_missing", len(self._tracker.awaiting_report()))
        await self._pipeline.shutdown(event.shutdown_reason, deadline)
        if self._hooks.on_shutdown is not None:
            await self._hooks.on_shutdown(deadline)

    # ---------------------------------------------------------------------------------------
    # Timed mode (no INVOKE events, no freeze)
    # ---------------------------------------------------------------------------------------

    async def _run_timed(self) -> int:
        interval = timer_interval(self._settings)
        log.info("no INVOKE events (Lambda Managed Instances): exporting every %g s", interval)
        stop = asyncio.Event()
        timer = asyncio.ensure_future(self._timer(stop, interval))
        try:
            while True:
                try:
                    event = await self._next_event()
                except Exception as exc:
                    log.error("/event/next failed (%s); exiting", exc)
                    return 1
                if event.event_type == "SHUTDOWN":
                    await self._stop_timer(timer, stop, event)
                    await self._guarded(self._on_shutdown(event), "shutdown")
                    return 0
                # Nothing else was registered for; an unexpected event is ignored.
        finally:
            if not timer.done():
                timer.cancel()
                await asyncio.gather(timer, return_exceptions=True)

    async def _timer(self, stop: asyncio.Event, interval: float) -> None:
        """Export at every interval and whenever a destination's queue crosses its threshold."""
        loop = asyncio.get_running_loop()
        pressure = self._pipeline.pressure
        due = loop.time() + interval
        while not stop.is_set():
            remaining = due - loop.time()
            if remaining > 0 and not pressure.is_set():
                await _first_of((stop, pressure), remaining)
            if stop.is_set():
                return
            if loop.time() >= due:
                due = loop.time() + interval
                if self._hooks.on_invoke is not None:
                    self._hooks.on_invoke()
            elif pressure.is_set():
                self._stats.add("flushes_under_pressure")
            else:
                continue
            budget = max(self._settings.export_budget_ms / 1000.0, min(interval, MAX_TIMED_FLUSH_S))
            self.timed_flushes += 1
            await self._guarded(self._pipeline.flush(loop.time() + budget), "timed_flush")

    async def _stop_timer(
        self, timer: asyncio.Future[None], stop: asyncio.Event, event: LifecycleEvent
    ) -> None:
        """Let an export in progress finish within a share of the SHUTDOWN budget, then cut it off
        (the destination puts the batch back, so the final flush still sends it)."""
        stop.set()
        loop = asyncio.get_running_loop()
        limit = max(0.0, self._loop_deadline(event.deadline_ms) - SHUTDOWN_SAFETY_S - loop.time())
        await asyncio.wait((timer,), timeout=limit * SHUTDOWN_TIMER_SHARE)
        if not timer.done():
            timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)


async def _first_of(events: tuple[asyncio.Event, ...], limit_s: float) -> None:
    """Wait until one of `events` is set or `limit_s` seconds passed."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
