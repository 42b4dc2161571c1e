"""Test helper for the invocation tracker."""

from __future__ import annotations

import asyncio

from extension.lifecycle.invocation_tracker import InvocationTracker


async def wait_runtime_done(tracker: InvocationTracker, request_id: str, limit_s: float) -> bool:
    """Bounded wait on the tracker's runtimeDone future, as the lifecycle manager does."""
    fut = tracker.runtime_done_future(request_id)
    try:
        await asyncio.wait_for(asyncio.shield(fut), max(0.0, limit_s))
    except TimeoutError:
        return fut.done()
    return True
