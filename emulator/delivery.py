"""Per-subscriber buffering and delivery of telemetry batches.

Each subscriber has its own buffer honouring ``maxItems``/``maxBytes``/``timeoutMs``; a batch
is sent when any limit is reached or on an explicit flush (before freeze and before SHUTDOWN).
Batches are JSON arrays POSTed to the listener (or NDJSON over TCP). A failing listener is
retried with exponential backoff a bounded number of times, then the batch is dropped; a
subscriber whose pending buffer exceeds its cap drops new records. Both are announced to that
subscriber with ``platform.logsDropped``. Delivery waits while the environment is frozen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any, Protocol

import aiohttp

from emulator import clock
from emulator.events import Event
from emulator.logs_format import to_logs_api
from emulator.subscription import Subscription

RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4)
"""Backoff between attempts; after the last one the batch is dropped."""
POST_TIMEOUT_S = 10.0
CAP_FACTOR = 4
"""Default pending-buffer cap = CAP_FACTOR x the subscription's maxBytes (and maxItems)."""
SLOW_REASON = "Some logs were dropped because the downstream consumer is slower than the logs production rate"


class DeliveryHost(Protocol):
    """What a subscriber needs from the hub that feeds it (:class:`emulator.telemetry.TelemetryHub`)."""

    @property
    def log_format_json(self) -> bool: ...

    @property
    def cap_bytes(self) -> int | None: ...

    @property
    def thawed(self) -> asyncio.Event:
        """Set while the environment runs; delivery waits while it is frozen."""
        ...

    def record(self, event: Event) -> None:
        """Add an event the subscriber produced (``platform.logsDropped``) to the recorded log."""
        ...


class Subscriber:
    """The buffer and delivery task of one extension's subscription."""

    def __init__(
        self, name: str, subscription: Subscription, hub: DeliveryHost, session: aiohttp.ClientSession
    ) -> None:
        self.name = name
        self.subscription = subscription
        self.delivered_batches = 0
        self.delivered_records = 0
        self.dropped_records_total = 0
        self._hub = hub
        self._session = session
        self._items: deque[tuple[dict[str, Any], int, float]] = deque()
        self._bytes = 0
        self._dropped_records = 0
        self._dropped_bytes = 0
        self._drop_reason = SLOW_REASON
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._flush_requested = False
        self._closed = False
        self._tcp: asyncio.StreamWriter | None = None
        self._task = asyncio.create_task(self._run())

    # ---- intake ----------------------------------------------------------------------------
    def reconfigure(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self._wake.set()

    def _cap_bytes(self) -> int:
        return self._hub.cap_bytes or CAP_FACTOR * self.subscription.max_bytes

    def offer(self, event: Event) -> None:
        """Buffer ``event`` if this subscriber wants it; drop it if the buffer is over its cap."""
        if self._closed or event.category not in self.subscription.types:
            return
        for item in self._convert(event):
            size = len(json.dumps(item))
            if (
                self._bytes + size > self._cap_bytes()
                or len(self._items) >= CAP_FACTOR * self.subscription.max_items
            ):
                self._count_drop(1, size, SLOW_REASON)
                continue
            self._items.append((item, size, clock.mono()))
            self._bytes += size
            self._idle.clear()
        self._wake.set()

    def _convert(self, event: Event) -> list[dict[str, Any]]:
        if self.subscription.api == "logs":
            return to_logs_api(event, self.subscription.schema)
        return [event.as_dict(string_records=not self.subscription.json_records(self._hub.log_format_json))]

    def _count_drop(self, records: int, size: int, reason: str) -> None:
        self._dropped_records += records
        self._dropped_bytes += size
        self.dropped_records_total += records
        self._drop_reason = reason
        self._idle.clear()

    # ---- control ---------------------------------------------------------------------------
    async def flush(self) -> None:
        """Send everything buffered now and wait until it is delivered (or dropped)."""
        if self._idle.is_set():
            return
        self._flush_requested = True
        self._wake.set()
        await self._idle.wait()

    async def close(self) -> None:
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        self._idle.set()

    # ---- delivery loop ---------------------------------------------------------------------
    def _ready(self) -> bool:
        return (
            self._flush_requested
            or len(self._items) >= self.subscription.max_items
            or self._bytes >= self.subscription.max_bytes
        )

    async def _run(self) -> None:
        while not self._closed:
            if not self._items and not self._dropped_records:
                self._flush_requested = False
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            while not self._ready():
                oldest = self._items[0][2] if self._items else clock.mono()
                remaining = oldest + self.subscription.timeout_ms / 1000.0 - clock.mono()
                if remaining <= 0:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), remaining)
            await self._hub.thawed.wait()
            batch, size = self._take_batch()
            if not batch:
                continue
            error = await self._deliver(batch)
            if error is None:
                self.delivered_batches += 1
                self.delivered_records += len(batch)
            else:
                records = [b for b in batch if b.get("type") != "platform.logsDropped"]
                self._count_drop(len(records), size, f"could not send events: {error}")

    def _take_batch(self) -> tuple[list[dict[str, Any]], int]:
        batch: list[dict[str, Any]] = []
        size = 0
        if self._dropped_records:
            dropped = Event(
                clock.iso(),
                "platform.logsDropped",
                {
                    "droppedBytes": self._dropped_bytes,
                    "droppedRecords": self._dropped_records,
                    "reason": self._drop_reason,
                },
            )
            self._hub.record(dropped)
            self._dropped_records = self._dropped_bytes = 0
            if "platform" in self.subscription.types:
                batch.append(dropped.as_dict())
        while self._items and len(batch) < self.subscription.max_items and size < self.subscription.max_bytes:
            item, item_size, _ = self._items.popleft()
            self._bytes -= item_size
            batch.append(item)
            size += item_size
        return batch, size

    async def _deliver(self, batch: list[dict[str, Any]]) -> str | None:
        """Send one batch with bounded retries; returns None on success, else the last error."""
        body = json.dumps(batch).encode()
        error: str | None = None
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            if attempt:
                await asyncio.sleep(RETRY_DELAYS_S[attempt - 1])
            await self._hub.thawed.wait()
            if self._closed:
                return "subscriber closed"
            error = await (
                self._send_tcp(batch) if self.subscription.protocol == "TCP" else self._send_http(body)
            )
            if error is None:
                return None
        return error

    async def _send_http(self, body: bytes) -> str | None:
        assert self.subscription.url is not None
        try:
            async with self._session.request(
                self.subscription.method,
                self.subscription.url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S),
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return None
                return f"HTTP {resp.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"

    async def _send_tcp(self, batch: list[dict[str, Any]]) -> str | None:
        try:
            writer = self._tcp
            if writer is None:
                _, opened = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.subscription.port), POST_TIMEOUT_S
                )
                self._tcp = writer = opened
            writer.write(b"".join(json.dumps(item).encode() + b"\n" for item in batch))
            await asyncio.wait_for(writer.drain(), POST_TIMEOUT_S)
            return None
        except (OSError, TimeoutError) as exc:
            if self._tcp is not None:
                self._tcp.close()
                self._tcp = None
            return f"{type(exc).__name__}: {exc}"
