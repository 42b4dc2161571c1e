"""Per-request lifecycle state the extension waits on: "has runtimeDone / report arrived?".

The Telemetry API is late: runtimeDone for request N arrives shortly after the runtime answers,
and report N only after we call /next. The lifecycle manager waits on these (bounded), so the
futures live here, keyed by requestId and pruned to a fixed number of requests.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable

from extension.sources.telemetry_api.schema import EventType

MAX_TRACKED = 256
# The listener passes event types as received (strings): compared to the enum's values.
_START = EventType.START.value
_RUNTIME_DONE = EventType.RUNTIME_DONE.value
_REPORT = EventType.REPORT.value
_LOGS_DROPPED = EventType.LOGS_DROPPED.value


class _Request:
    __slots__ = ("report", "runtime_done")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.runtime_done: asyncio.Future[None] = loop.create_future()
        self.report: asyncio.Future[None] = loop.create_future()


class InvocationTracker:
    """Construction does no I/O; must be used from the event loop that owns it."""

    def __init__(self) -> None:
        self._requests: OrderedDict[str, _Request] = OrderedDict()

    def _get(self, request_id: str) -> _Request:
        req = self._requests.get(request_id)
        if req is None:
            req = _Request(asyncio.get_running_loop())
            self._requests[request_id] = req
            while len(self._requests) > MAX_TRACKED:
                _, old = self._requests.popitem(last=False)
                for fut in (old.runtime_done, old.report):
                    if not fut.done():
                        fut.cancel()
        return req

    def expect(self, request_id: str) -> None:
        """An INVOKE for this request arrived: its runtimeDone and report are now awaited."""
        self._get(request_id)

    def observe(self, items: Iterable[tuple[str, str | None]]) -> None:
        """Feed (event type, requestId) pairs as they arrive from the listener. A platform.start
        (passed only when no INVOKE events come) makes its request expected, as INVOKE does."""
        for event_type, request_id in items:
            if event_type == _LOGS_DROPPED:
                self._release_runtime_done_waits()
                continue
            if not request_id:
                continue
            if event_type == _START:
                self.expect(request_id)
                continue
            if event_type == _RUNTIME_DONE:
                fut = self._get(request_id).runtime_done
            elif event_type == _REPORT:
                req = self._get(request_id)
                if not req.runtime_done.done():
                    req.runtime_done.set_result(None)  # a report implies the runtime is done
                fut = req.report
            else:
                continue
            if not fut.done():
                fut.set_result(None)

    def _release_runtime_done_waits(self) -> None:
        """The platform is dropping records, and the runtimeDone being waited for may be one of
        them: stop waiting (flush now) instead of holding the invoke until its deadline."""
        for req in self._requests.values():
            if not req.runtime_done.done():
                req.runtime_done.set_result(None)

    def runtime_done_future(self, request_id: str) -> asyncio.Future[None]:
        """Resolved when this request's runtimeDone (or report, or a logsDropped) arrives."""
        return self._get(request_id).runtime_done

    def awaiting_report(self) -> list[str]:
        return [rid for rid, req in self._requests.items() if not req.report.done()]

    async def wait_reports(self, limit_s: float) -> bool:
        """Wait until every expected request has its report (the last one arrives at SHUTDOWN)."""
        pending = [asyncio.shield(r.report) for r in self._requests.values() if not r.report.done()]
        if not pending:
            return True
        _, not_done = await asyncio.wait(pending, timeout=max(0.0, limit_s))
        return not not_done
