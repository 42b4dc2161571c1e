"""InvocationTracker: bounded waits on runtimeDone and report."""

from __future__ import annotations

import asyncio

from extension.lifecycle import invocation_tracker as tracker_mod
from extension.lifecycle.invocation_tracker import InvocationTracker
from tests.support.tracking import wait_runtime_done


async def test_wait_runtime_done_resolves_when_event_arrives() -> None:
    t = InvocationTracker()
    t.expect("r1")
    waiter = asyncio.create_task(wait_runtime_done(t, "r1", 5.0))
    await asyncio.sleep(0)
    t.observe([("platform.start", "r1"), ("platform.runtimeDone", "r1")])
    assert await waiter is True


async def test_wait_runtime_done_times_out() -> None:
    t = InvocationTracker()
    t.expect("r1")
    assert await wait_runtime_done(t, "r1", 0.01) is False


async def test_report_implies_runtime_done_and_clears_awaiting() -> None:
    t = InvocationTracker()
    t.expect("r1")
    t.expect("r2")
    assert t.awaiting_report() == ["r1", "r2"]
    t.observe([("platform.report", "r1")])
    assert await wait_runtime_done(t, "r1", 0) is True
    assert t.awaiting_report() == ["r2"]
    assert await t.wait_reports(0.01) is False
    t.observe([("platform.report", "r2")])
    assert await t.wait_reports(0.01) is True


async def test_state_is_bounded() -> None:
    t = InvocationTracker()
    for i in range(tracker_mod.MAX_TRACKED + 50):
        t.expect(f"r{i}")
    assert len(t.awaiting_report()) == tracker_mod.MAX_TRACKED
