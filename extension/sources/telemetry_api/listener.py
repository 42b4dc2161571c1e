"""The Telemetry API listener: validates Lambda's POSTs and hands typed events on.

Only Lambda may post here: we subscribe with an unguessable destination path (`path`, a random
128-bit token, see `subscription.destination_path`) and answer every other path 404 with an
empty body, so another process in the environment that finds the port can neither forge
`platform.*` events nor learn what listens (issue 18).

Answers honestly and never raises: 200 only when the batch was accepted; 503 after
`stop_intake` (the batch is counted as dropped: we are past our shutdown deadline); 400 for
malformed JSON or a body that is not an array, 413 for oversized bodies (from the server, before
reading them), 415 for a non-JSON content type, 405 for another method. Every rejection is
counted. It never logs per request (our own log lines come back to us as `extension` records).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Sequence

from extension.http.messages import InvalidHeader, Request, Response
from extension.http.server import HttpServer
from extension.sources.telemetry_api.schema import TelemetryEvent, parse_batch
from extension.stats import Stats

#: Lambda sends at most ~2 x maxBytes plus metadata per POST; allow generous headroom.
BODY_LIMIT_FACTOR = 4
#: Seconds `shutdown` lets a batch being handled finish (handling is synchronous and quick).
SHUTDOWN_GRACE_S = 0.1


class TelemetryApiSource:
    """Lifecycle: construct (no I/O) → `await start()` → `await shutdown(deadline)` (idempotent)."""

    def __init__(
        self,
        sock: socket.socket,
        on_events: Callable[[Sequence[TelemetryEvent]], None],
        stats: Stats,
        max_bytes: int,
        path: str,
    ) -> None:
        self._sock = sock
        self._on_events = on_events
        self._stats = stats
        self._path = path
        self._accepting = True
        self._server = HttpServer(
            self._handle,
            name="telemetry",
            stats=stats,
            counter="telemetry_rejected",
            max_body=BODY_LIMIT_FACTOR * max_bytes + 65536,
        )
        self._started = False

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        self._started = True
        await self._server.start(self._sock)

    def stop_intake(self) -> None:
        """After this, batches are answered 503 and counted as dropped (past our deadline)."""
        self._accepting = False

    async def shutdown(self, deadline: float) -> None:
        """Batches in progress get `SHUTDOWN_GRACE_S`, at most until `deadline` (loop time)."""
        if self._started:
            self._started = False
            grace_end = asyncio.get_running_loop().time() + SHUTDOWN_GRACE_S
            await self._server.shutdown(min(deadline, grace_end))

    async def _handle(self, request: Request) -> Response:
        if request.path != self._path:
            self._stats.add("telemetry_rejected", label="path")
            return Response(404)
        if request.method != "POST":
            self._stats.add("telemetry_rejected", label="method")
            return _error(405, "only POST is accepted")
        try:
            content_type = request.content_type
        except InvalidHeader:
            content_type = ""
        if "json" not in content_type:
            self._stats.add("telemetry_rejected", label="content_type")
            return _error(415, "content type is not JSON")
        try:
            payload = json.loads(request.body)
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
            self._stats.add("telemetry_events_unknown_type", result.unknown_types)
        if not self._accepting:
            self._stats.dropped("after_shutdown_deadline", len(result.events))
            return _error(503, "shutting down: batch not accepted")
        self._on_events(result.events)
        return Response.json({"status": "ok"})


def _error(status: int, message: str) -> Response:
    return Response.json({"error": message}, status)
