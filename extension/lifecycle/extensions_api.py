"""Async client for the Extensions and Telemetry APIs (after the fast path registered us).

`/event/next` is a long poll: no timeout, since the whole environment may be frozen while it
waits. A kept-alive connection found closed before any answer (StaleConnectionError) is retried
once on a new connection: the request was never answered, so nothing is lost or repeated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from extension.http.client import HttpClient, StaleConnectionError
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
        self._url = f"http://{runtime_api}{API_PREFIX}/event/next"
        self._headers = {"Lambda-Extension-Identifier": extension_id}
        self._http: HttpClient | None = None

    async def next_event(self) -> LifecycleEvent:
        if self._http is None:
            self._http = HttpClient(max_connections=1)
        try:
            resp = await self._http.request("GET", self._url, headers=self._headers, timeout_s=None)
        except StaleConnectionError:
            resp = await self._http.request(
                "GET", self._url, headers=self._headers, timeout_s=None, new_connection=True
            )
        return parse_event(resp.status, resp.body)

    async def close(self) -> None:
        if self._http is not None:
            client, self._http = self._http, None
            await client.close()
