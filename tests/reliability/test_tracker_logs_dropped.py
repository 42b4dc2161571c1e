"""A runtimeDone lost in a platform drop must not hold the invoke until its deadline (unit test).

Found by the flood case: the platform dropped `platform.runtimeDone` along with the flood, and the
extension waited for it until deadline minus budget (an invoke billed ~20 s instead of ~0.4 s).
`platform.logsDropped` now releases the wait.
"""

from __future__ import annotations

import asyncio
from typing import cast

from extension.lifecycle.invocation_tracker import InvocationTracker
from extension.pipeline import Pipeline
from extension.processors.processor import TelemetryProcessor
from extension.signals import Signals
from extension.sources.telemetry_api.schema import parse_event
from extension.stats import Stats
from tests.support.tracking import wait_runtime_done


async def test_logs_dropped_releases_the_runtime_done_wait() -> None:
    tracker = InvocationTracker()
    tracker.expect("req-1")
    waiting = asyncio.create_task(wait_runtime_done(tracker, "req-1", 30.0))
    await asyncio.sleep(0)
    assert not waiting.done()
    tracker.observe([("function", None), ("platform.logsDropped", None)])
    assert await asyncio.wait_for(waiting, 1.0) is True


async def test_without_drops_the_wait_still_needs_runtime_done() -> None:
    tracker = InvocationTracker()
    tracker.expect("req-1")
    tracker.observe([("function", "req-1"), ("platform.start", "req-1")])
    assert await wait_runtime_done(tracker, "req-1", 0.05) is False
    tracker.observe([("platform.runtimeDone", "req-1")])
    assert await wait_runtime_done(tracker, "req-1", 0.05) is True
    assert tracker.awaiting_report() == ["req-1"]  # reports are still awaited at SHUTDOWN


class _NoSignals:
    """Stands in for the processor: this test is about the tracker path of `Pipeline.ingest`."""

    instance_id = None

    def process(self, events: object) -> Signals:
        return Signals()


async def test_the_pipeline_hands_logs_dropped_to_the_tracker() -> None:
    tracker = InvocationTracker()
    pipeline = Pipeline(cast(TelemetryProcessor, _NoSignals()), [], tracker, Stats())
    tracker.expect("req-1")
    waiting = asyncio.create_task(wait_runtime_done(tracker, "req-1", 30.0))
    await asyncio.sleep(0)
    dropped = {
        "time": "2026-01-01T00:00:00.000Z",
        "type": "platform.logsDropped",
        "record": {"droppedBytes": 10, "droppedRecords": 1, "reason": "slow"},
    }
    event = parse_event(dropped)
    assert event is not None
    pipeline.ingest([event])
    assert await asyncio.wait_for(waiting, 1.0) is True
