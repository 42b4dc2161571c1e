"""Source → processor → destinations, and the fan-out of flush and shutdown.

Processing is synchronous inside the listener's request (pure, cheap), so events never wait in
an extra queue; the only buffers are each destination's own bounded queue. Flushes run every
destination concurrently under one deadline, so a slow destination never delays another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from extension.exporters.destination import Destination
from extension.lifecycle.extensions_api import LifecycleEvent
from extension.lifecycle.invocation_tracker import InvocationTracker
from extension.log import get_logger
from extension.processors.processor import TelemetryProcessor
from extension.signals import Resource, Signals
from extension.sources.telemetry_api.schema import EventType, TelemetryEvent
from extension.stats import Stats

log = get_logger("pipeline")

#: The lifecycle waits on these (logsDropped: the awaited runtimeDone may have been dropped);
#: checking the type first keeps log records off this path.
_TRACKED_TYPES = frozenset(
    k.value for k in (EventType.RUNTIME_DONE, EventType.REPORT, EventType.LOGS_DROPPED)
)
#: Without INVOKE events (Lambda Managed Instances) an invocation becomes known at platform.start.
_TRACKED_TYPES_WITH_STARTS = _TRACKED_TYPES | {EventType.START.value}


class Pipeline:
    def __init__(
        self,
        processor: TelemetryProcessor,
        destinations: Sequence[Destination],
        tracker: InvocationTracker,
        stats: Stats,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._processor = processor
        self._destinations = list(destinations)
        self._tracker = tracker
        self._stats = stats
        self._clock_ns = clock_ns
        #: Set by the composition root once the Telemetry API subscription succeeded.
        self.telemetry_active = False
        #: Set by the composition root when no INVOKE events come: each platform.start then makes
        #: its request awaited (its report is waited for at SHUTDOWN).
        self.track_starts = False
        #: Set when a destination's queue crossed its flush threshold; cleared by `flush`.
        self.pressure = asyncio.Event()
        self._instance_id: str | None = None

    @property
    def destinations(self) -> list[Destination]:
        return self._destinations

    def ingest(self, events: Sequence[TelemetryEvent]) -> None:
        """Called by the listener for every accepted batch. Never raises."""
        try:
            tracked = _TRACKED_TYPES_WITH_STARTS if self.track_starts else _TRACKED_TYPES
            self._tracker.observe((e.type, e.request_id) for e in events if e.type in tracked)
            self._offer(self._processor.process(events))
            if self._processor.instance_id != self._instance_id:
                self._set_instance(self._processor.instance_id)
            if not self.pressure.is_set() and self.needs_flush():
                self.pressure.set()
        except Exception:
            self._stats.add("internal_errors", label="pipeline")
            if self._stats.first_time("pipeline_error"):
                log.exception("processing a telemetry batch failed; counted, continuing")

    def ingest_function(self, signals: Signals) -> None:
        """Called by the OTLP receiver with the function's own records. Never raises."""
        try:
            self._offer(self._processor.function_signals(signals))
            if not self.pressure.is_set() and self.needs_flush():
                self.pressure.set()
        except Exception:
            self._stats.add("internal_errors", label="pipeline")
            if self._stats.first_time("pipeline_error"):
                log.exception("processing the function's own telemetry failed; counted, continuing")

    def _set_instance(self, instance_id: str | None) -> None:
        """`faas.instance` (OTel semantic conventions: for AWS Lambda, the log stream name) is
        known only from `platform.initStart`'s `instanceId`; a value the user set in
        `OTEL_RESOURCE_ATTRIBUTES` is kept."""
        self._instance_id = instance_id
        if not instance_id:
            return
        for dest in self._destinations:
            if "faas.instance" not in dest.resource.attributes:
                dest.resource = Resource({**dest.resource.attributes, "faas.instance": instance_id})

    def on_invoke(self, event: LifecycleEvent) -> None:
        """Only with telemetry flowing: without it an invocation's outcome is unknowable, and
        the processor would report every one as unfinished."""
        if self.telemetry_active:
            self._tracker.expect(event.request_id)
            self._processor.on_invoke(
                event.request_id, event.deadline_ms, event.trace_header, self._clock_ns()
            )

    def needs_flush(self) -> bool:
        return any(d.needs_flush() for d in self._destinations)

    def probe_due(self) -> bool:
        """True when a failing destination may be retried now (see `Destination.probe`)."""
        return any(d.probe_due() for d in self._destinations)

    async def probe(self, deadline: float, stop: asyncio.Future[Any]) -> None:
        """Retry every failing destination whose backoff has passed, until `deadline` or `stop`."""
        await self._gather(d.probe(deadline, stop) for d in self._destinations if d.probe_due())

    def pending_items(self) -> int:
        return sum(d.pending_items() for d in self._destinations)

    async def flush(self, deadline: float) -> None:
        """Export what every destination holds, all concurrently, bounded by `deadline` (loop time)."""
        self.pressure.clear()
        self._offer(self._processor.release_unmatched())
        self._offer_health()
        await self._gather(d.flush(deadline) for d in self._destinations)

    async def shutdown(self, reason: str, deadline: float) -> None:
        """Close open invocations (synthetic timeout/crash spans), then a final bounded flush."""
        try:
            self._offer(self._processor.release_unmatched())
            self._offer(self._processor.on_shutdown(reason, self._clock_ns()))
        except Exception:
            self._stats.add("internal_errors", label="pipeline")
            log.exception("closing open invocations failed")
        self._offer_health()
        await self._gather(d.shutdown(deadline) for d in self._destinations)

    def _offer_health(self) -> None:
        """Our own counters, queued without evicting anything (so every drop they count is final)."""
        health = Signals(metrics=self._processor.health_metrics(self._clock_ns()))
        if health:
            for dest in self._destinations:
                dest.offer(health, reserved=True)

    def _offer(self, signals: Signals) -> None:
        """Every destination takes the kinds of records it exports and ignores the rest."""
        if signals:
            for dest in self._destinations:
                dest.offer(signals)

    async def _gather(self, coros: object) -> None:
        results = await asyncio.gather(*coros, return_exceptions=True)  # type: ignore[misc]
        for result in results:
            if isinstance(result, BaseException):
                self._stats.add("internal_errors", label="destination")
                if self._stats.first_time("destination_error"):
                    log.error("a destination raised %r; counted, continuing", result)
