"""The lifecycle manager's timed mode (Lambda Managed Instances: SHUTDOWN is the only event).

The "platform" here is a queue the test fills: `/event/next` stays pending until the test puts
SHUTDOWN in it, so every export seen before that was made by the timer or by queue pressure,
never by a lifecycle event. Exports go through a real Destination to a recording exporter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from extension.config import PipelineSettings, RetrySettings
from extension.exporters.base import ExportResult
from extension.exporters.destination import Destination
from extension.exporters.queue import item_count
from extension.lifecycle.extensions_api import LifecycleEvent
from extension.lifecycle.invocation_tracker import InvocationTracker
from extension.lifecycle.manager import MIN_TIMER_INTERVAL_S, Hooks, LifecycleManager, timer_interval
from extension.pipeline import Pipeline
from extension.signals import Resource, Signals
from extension.stats import Stats
from tests.unit.processors.helpers import events, settings
from tests.unit.processors.test_managed_instances import A, B, line, managed_processor, report, start

WAIT_S = 10.0  # generous: conditions are awaited, never timed


class RecordingExporter:
    name = "recorder"
    accepts = frozenset({"spans", "metrics", "logs"})

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.batches: list[Signals] = []
        self.attempts = 0
        self.hold = hold  # the first export waits on it (a backend that does not answer)
        self.changed = asyncio.Event()
        self.called = asyncio.Event()

    async def start(self) -> None:
        return None

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        self.attempts += 1
        self.called.set()
        if self.hold is not None and self.attempts == 1:
            await self.hold.wait()
        self.batches.append(signals)
        self.changed.set()
        return ExportResult.success()

    async def shutdown(self) -> None:
        return None

    def items(self) -> int:
        return sum(item_count(b) for b in self.batches)

    def request_ids(self) -> set[str]:
        return {
            str(s.attributes["faas.invocation_id"])
            for b in self.batches
            for s in b.spans
            if "faas.invocation_id" in s.attributes
        }

    async def wait_for(self, predicate: Any) -> bool:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(loop(), WAIT_S)
        except TimeoutError:
            return False
        return True


class Platform:
    """Answers /event/next from a queue the test fills."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[LifecycleEvent] = asyncio.Queue()
        self.calls = 0

    async def next_event(self) -> LifecycleEvent:
        self.calls += 1
        return await self.queue.get()

    def shutdown(self, budget_s: float = 2.0) -> None:
        deadline_ms = int((time.time() + budget_s) * 1000)
        self.queue.put_nowait(LifecycleEvent("SHUTDOWN", deadline_ms, shutdown_reason="spindown"))


def build(
    exporter: RecordingExporter, interval_s: float, buffer_items: int = 1000, ticks: list[int] | None = None
) -> tuple[LifecycleManager, Pipeline, Platform, Stats, InvocationTracker]:
    stats = Stats()
    pipe_settings = PipelineSettings(flush_interval_s=interval_s, buffer_max_items=buffer_items)
    dest = Destination(exporter, pipe_settings, RetrySettings(), stats)  # type: ignore[arg-type]
    tracker = InvocationTracker()
    pipeline = Pipeline(managed_processor(stats), [dest], tracker, stats)
    pipeline.telemetry_active = True
    pipeline.track_starts = True
    platform = Platform()
    hooks = Hooks(on_invoke=(lambda: ticks.append(1)) if ticks is not None else None)
    manager = LifecycleManager(
        platform.next_event,
        pipeline,
        tracker,
        pipe_settings,
        stats,
        hooks=hooks,
        timed=True,
    )
    return manager, pipeline, platform, stats, tracker


async def test_timer_exports_while_next_is_pending() -> None:
    exporter = RecordingExporter()
    ticks: list[int] = []
    manager, pipeline, platform, _, _ = build(exporter, interval_s=0.05, ticks=ticks)
    run = asyncio.create_task(manager.run())
    pipeline.ingest(events([start(A, 100), line(A, 110, "a"), report(A, 160, 60.0)]))
    assert await exporter.wait_for(lambda: A in exporter.request_ids())
    assert platform.calls == 1 and not run.done()  # no lifecycle event was involved
    assert manager.timed_flushes >= 1 and ticks  # the cache's refresh-ahead runs at each tick
    platform.shutdown()
    assert await asyncio.wait_for(run, WAIT_S) == 0


async def test_full_queue_exports_before_the_interval() -> None:
    exporter = RecordingExporter()
    manager, pipeline, platform, stats, _ = build(exporter, interval_s=3600, buffer_items=20)
    run = asyncio.create_task(manager.run())
    pipeline.ingest(events([start(A, 100), *(line(A, 110 + i, f"a {i}") for i in range(30))]))
    assert await exporter.wait_for(lambda: exporter.items() > 0)
    assert stats.counters[("flushes_under_pressure", "")] >= 1
    platform.shutdown()
    assert await asyncio.wait_for(run, WAIT_S) == 0


async def test_shutdown_waits_for_the_last_report_and_loses_nothing() -> None:
    exporter = RecordingExporter()
    manager, pipeline, platform, stats, tracker = build(exporter, interval_s=3600)
    waiting = asyncio.Event()
    wait_reports = tracker.wait_reports

    async def observed_wait_reports(limit_s: float) -> bool:
        waiting.set()
        return await wait_reports(limit_s)

    tracker.wait_reports = observed_wait_reports  # type: ignore[method-assign]
    run = asyncio.create_task(manager.run())
    pipeline.ingest(events([start(A, 100), start(B, 105), report(A, 160, 60.0)]))
    platform.shutdown()
    await asyncio.wait_for(waiting.wait(), WAIT_S)  # the manager now waits for B's report
    pipeline.ingest(events([report(B, 170, 65.0)]))
    assert await asyncio.wait_for(run, WAIT_S) == 0
    assert exporter.request_ids() == {A, B}
    assert not any(key[0] in ("dropped", "shutdown_reports_missing") for key in stats.counters)


async def test_shutdown_cuts_off_a_stuck_export_and_resends_its_batch() -> None:
    exporter = RecordingExporter(hold=asyncio.Event())  # never set: the first export hangs
    manager, pipeline, platform, stats, _ = build(exporter, interval_s=0.05)
    run = asyncio.create_task(manager.run())
    pipeline.ingest(events([start(A, 100), report(A, 160, 60.0)]))
    await asyncio.wait_for(exporter.called.wait(), WAIT_S)  # the timer's export is now stuck
    platform.shutdown()
    assert await asyncio.wait_for(run, WAIT_S) == 0
    assert exporter.request_ids() == {A}  # sent by the final flush
    assert not any(key[0] == "dropped" for key in stats.counters)


def test_interval_zero_is_clamped_so_the_timer_cannot_spin() -> None:
    assert timer_interval(PipelineSettings(flush_interval_s=0.0)) == MIN_TIMER_INTERVAL_S
    assert timer_interval(PipelineSettings(flush_interval_s=0.2)) == 0.2


def test_settings_accept_fractional_intervals() -> None:
    assert settings(SIDECAR_FLUSH_INTERVAL_SECONDS="0.2").pipeline.flush_interval_s == 0.2
