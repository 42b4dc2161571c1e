"""The telemetry hub: every event the platform produces goes through here.

It records each event (``events``, optional JSON-lines file), keeps the pre-subscription init
events for replay while subscriptions are open, fans events out to the per-extension
:class:`~emulator.delivery.Subscriber` buffers, and gates delivery on the environment being
thawed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import aiohttp

from emulator import clock
from emulator.delivery import Subscriber
from emulator.events import Event, json_log_record
from emulator.subscription import Subscription

#: How long pending telemetry may take to reach subscribers before the environment is frozen.
FLUSH_BEFORE_FREEZE_S = 1.0


class TelemetryHub:
    """Records, replays and distributes Telemetry API events for one emulator instance."""

    def __init__(
        self,
        *,
        log_format_json: bool,
        telemetry_log: Path | None,
        cap_bytes: int | None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.log_format_json = log_format_json
        self.cap_bytes = cap_bytes
        self.events: list[dict[str, Any]] = []
        self.thawed = asyncio.Event()
        self.thawed.set()
        self._subscribers: dict[str, Subscriber] = {}
        self._replay: list[Event] | None = None
        self._on_event = on_event
        self._log: IO[str] | None = telemetry_log.open("w", encoding="utf-8") if telemetry_log else None
        self._session: aiohttp.ClientSession | None = None

    # ---- recording and fan-out -------------------------------------------------------------
    def emit(self, type_: str, record: Any, *, text: str | None = None, ts: float | None = None) -> Event:
        """Produce one event: record it, keep it for replay during init, offer it to subscribers."""
        event = Event(clock.iso(ts), type_, record, text)
        self.record(event)
        if self._replay is not None:
            self._replay.append(event)
        for subscriber in list(self._subscribers.values()):
            subscriber.offer(event)
        return event

    def emit_log(self, kind: str, line: str, request_id: str | None, ts: float | None = None) -> Event:
        """A ``function``/``extension`` line, shaped by the function's log format."""
        if self.log_format_json:
            return self.emit(kind, json_log_record(line, request_id, ts), text=line, ts=ts)
        return self.emit(kind, line, ts=ts)

    def record(self, event: Event) -> None:
        """Add an event to the recorded log (and the telemetry log file) without delivering it."""
        data = event.as_dict()
        self.events.append(data)
        if self._log is not None:
            self._log.write(json.dumps(data) + "\n")
            self._log.flush()
        if self._on_event is not None:
            self._on_event(data)

    # ---- subscriptions ---------------------------------------------------------------------
    @property
    def subscriptions_open(self) -> bool:
        return self._replay is not None

    def open_subscriptions(self) -> None:
        """Start of init: subscriptions allowed, events buffered for replay."""
        self._replay = []

    def close_subscriptions(self) -> None:
        """End of init: no more subscriptions, replay buffer discarded."""
        self._replay = None

    def subscribe(self, name: str, subscription: Subscription) -> None:
        """Add (or reconfigure) ``name``'s subscriber, replay init events, broadcast the news."""
        existing = self._subscribers.get(name)
        if existing is not None:
            existing.reconfigure(subscription)
            state = "Already subscribed"
        else:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            subscriber = Subscriber(name, subscription, self, self._session)
            for event in self._replay or []:
                subscriber.offer(event)
            self._subscribers[name] = subscriber
            state = "Subscribed"
        self.emit(
            "platform.telemetrySubscription",
            {"name": name, "state": state, "types": sorted(subscription.types)},
        )

    def subscribers(self) -> dict[str, Subscriber]:
        return dict(self._subscribers)

    # ---- delivery control ------------------------------------------------------------------
    async def flush(self, within_s: float) -> None:
        """Deliver everything buffered now (bounded by ``within_s`` seconds)."""
        subscribers = list(self._subscribers.values())
        if not subscribers:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.flush() for s in subscribers)), within_s)

    async def close_subscribers(self) -> None:
        """End of an environment: stop every delivery task (listeners are gone)."""
        subscribers, self._subscribers = list(self._subscribers.values()), {}
        for subscriber in subscribers:
            await subscriber.close()

    async def aclose(self) -> None:
        await self.close_subscribers()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._log is not None:
            self._log.close()
            self._log = None
