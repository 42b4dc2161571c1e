"""The Telemetry API listener: validates Lambda's POSTs and hands typed events on.

Answers honestly and never raises: 200 only when the batch was accepted, 400 for malformed
JSON or a body that is not an array, 413 for oversized bodies, 415 for a non-JSON content type.
Every rejection is counted. It never logs per request (our own log lines come back to us as
`extension` records).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence

from aiohttp import web

from extension.sources.telemetry_api.schema import TelemetryEvent, parse_batch
from extension.stats import Stats

#: Lambda sends at most ~2 x maxBytes plus metadata per POST; allow generous headroom.
BODY_LIMIT_FACTOR = 4


class TelemetryApiSource:
    """Lifecycle: construct (no I/O) → `await start()` → `await shutdown()` (idempotent)."""

    def __init__(
        self,
        sock: socket.socket,
        on_events: Callable[[Sequence[TelemetryEvent]], None],
        stats: Stats,
        max_bytes: int,
    ) -> None:
        self._sock = sock
        self._on_events = on_events
        self._stats = stats
        self._accepting = True
        self._app = web.Application(client_max_size=BODY_LIMIT_FACTOR * max_bytes + 65536)
        self._app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    def stop_intake(self) -> None:
        """After this, batches are answered 200 but only counted (we are past our deadline)."""
        self._accepting = False

    async def shutdown(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            return await self._handle_post(request)
        except web.HTTPRequestEntityTooLarge:
            self._stats.add("telemetry_rejected", label="too_large")
            return _error(413, "body too large")
        except Exception:  # a listener must never take the extension down
            self._stats.add("internal_errors", label="telemetry_listener")
            return _error(500, "internal error")

    async def _handle_post(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            self._stats.add("telemetry_rejected", label="method")
            return _error(405, "only POST is accepted")
        if "json" not in request.content_type:
            self._stats.add("telemetry_rejected", label="content_type")
            return _error(415, f"content type {request.content_type!r} is not JSON")
        body = await request.read()
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the C stack allows
            self._stats.add("telemetry_rejected", label="not_json")
            return _error(400, "body is not valid JSON")
        result = parse_batch(payload)
        if result.error is not None:
            self._stats.add("telemetry_rejected", label="not_array")
            return _error(400, result.error)
        self._stats.add("telemetry_batches")
        self._stats.add("telemetry_events", len(result.events))
        if result.invalid:
            self._stats.dropped("invalid_event", result.invalid)
        if result.unknown_types:
            self._stats.add("unknown_event_types", result.unknown_types)
        if not self._accepting:
            self._stats.dropped("after_shutdown_deadline", len(result.events))
            return web.json_response({"status": "ok"})
        self._on_events(result.events)
        return web.json_response({"status": "ok"})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
