"""Async client for the Extensions and Telemetry APIs (after the fast path registered us).

`/event/next` is a long poll: no timeout, since the whole environment may be frozen while it
waits. Every other call is bounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from extension.lifecycle.registration import API_PREFIX


@dataclass(frozen=True)
class LifecycleEvent:
    event_type: str  # "INVOKE" | "SHUTDOWN"
    deadline_ms: int
    request_id: str = ""
    trace_header: str | None = None
    invoked_function_arn: str = ""
    shutdown_reason: str = ""


def parse_event(status: int, body: bytes) -> LifecycleEvent:
    """An /event/next answer as a LifecycleEvent; raises RuntimeError for a non-200 answer."""
    if status != 200:
        raise RuntimeError(f"/event/next failed: HTTP {status}: {body[:300].decode(errors='replace')}")
    data: dict[str, Any] = json.loads(body)
    tracing = data.get("tracing") if isinstance(data.get("tracing"), dict) else None
    return LifecycleEvent(
        event_type=str(data.get("eventType", "")).upper(),
        deadline_ms=int(data.get("deadlineMs", 0)),
        request_id=str(data.get("requestId", "")),
        trace_header=str(tracing.get("value")) if tracing and tracing.get("value") else None,
        invoked_function_arn=str(data.get("invokedFunctionArn", "")),
        shutdown_reason=str(data.get("shutdownReason", "")).lower(),
    )


class ExtensionsApiClient:
    def __init__(self, runtime_api: str, extension_id: str) -> None:
        self._base = f"http://{runtime_api}"
        self._id = extension_id
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def next_event(self) -> LifecycleEvent:
        async with self._http().get(
            f"{self._base}{API_PREFIX}/event/next", headers={"Lambda-Extension-Identifier": self._id}
        ) as resp:
            return parse_event(resp.status, await resp.read())

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
