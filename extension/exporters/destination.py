"""One destination: an exporter plus its own bounded queue, retry state and counters.

Fan-out isolation lives here: the pipeline flushes every destination concurrently, each bounded
by the same deadline, so a slow destination never delays or drops data for another.

A dead backend costs the function at most one export budget. After an attempt fails in a way
that says nothing about the data (timeout, connection refused or reset, 429/5xx: a RETRYABLE
result) the destination is *failing*: flush points no longer hold the invoke for it, its records
stay queued (bounded by the same buffer, overflow counted as `queue_full`), and it is retried
only by `probe()`, which the lifecycle runs alongside a later invoke's function code and cuts
off when the function is done (so nothing is in flight at `/event/next`), spaced by exponential
backoff, and by `shutdown()`. The first successful attempt ends the failing state and the
normal flush policy resumes.

Accounting (all in `Stats`, labelled with the destination name): `exported{name}` records
delivered, `export_failed{name}` failed attempts, drops via `dropped{reason}` plus
`destination_dropped{name:reason}` with reasons `queue_full`, `permanent_error`, `rejected`,
`shutdown_deadline`, `destination_disabled`; `destination_failing{name}` counts entries into the
failing state, `probes{name}` the retries made while failing, `probes_cut_off{name}` those cut off
because the function finished first.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from extension.config import PipelineSettings, RetrySettings
from extension.exporters.base import ALL_KINDS, Exporter, ExportResult, Outcome, filter_signals
from extension.exporters.queue import BoundedBuffer, count_drop, item_count
from extension.log import get_logger
from extension.signals import Resource, Signals
from extension.stats import Stats

log = get_logger("exporters")

#: Records and estimated bytes per export call: keeps requests under common collector limits
#: (gRPC's default 4 MiB message size) while amortising per-request overhead.
BATCH_MAX_ITEMS = 2000
BATCH_MAX_BYTES = 2 * 1024 * 1024
#: Never honour a Retry-After longer than this (a misbehaving server must not mute us for hours).
MAX_RETRY_AFTER_S = 300.0
#: An attempt is only started with at least this much time left before the deadline.
MIN_ATTEMPT_S = 0.005


class Destination:
    """Contract: construction does no I/O; `start()` starts the exporter (a failure disables the
    destination with one log line); `offer()` never blocks; `flush(deadline)` returns by
    `deadline` (a `loop.time()` value) with nothing of ours left in flight; `shutdown(deadline)`
    is idempotent: a final flush, then every remaining record is dropped and counted."""

    def __init__(
        self,
        exporter: Exporter,
        pipeline: PipelineSettings,
        retry: RetrySettings,
        stats: Stats,
        name: str | None = None,
        *,
        resource: Resource | None = None,
        rng: random.Random | None = None,
        batch_max_items: int = BATCH_MAX_ITEMS,
        batch_max_bytes: int = BATCH_MAX_BYTES,
    ) -> None:
        self.exporter = exporter
        self.name = name or exporter.name
        self.resource = resource or Resource({})
        self.accepts: frozenset[str] = getattr(exporter, "accepts", ALL_KINDS)
        self._retry = retry
        self._stats = stats
        self._rng = rng or random.Random()
        self._batch_items = max(1, batch_max_items)
        self._batch_bytes = max(1, batch_max_bytes)
        self.buffer = BoundedBuffer(pipeline.buffer_max_items, pipeline.buffer_max_bytes, stats, self.name)
        self._attempts = 0  # consecutive failed attempts (drives the backoff)
        self.not_before = float("-inf")
        self._lock = asyncio.Lock()
        self._started = False
        self.disabled: str | None = None
        self._closed = False
        #: Set by a RETRYABLE result, cleared by a success: flush points skip the destination.
        self.failing = False
        #: Wall-clock end of the backoff: a probe is due when either clock says it has passed
        #: (the loop's monotonic clock stops while the environment is frozen; the backend's
        #: recovery does not).
        self._probe_after = float("-inf")

    # -- state ---------------------------------------------------------------------------------

    def _now(self) -> float:
        """Loop time, the clock every deadline is expressed in."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def pending_items(self) -> int:
        return len(self.buffer)

    def in_backoff(self) -> bool:
        return self._now() < self.not_before

    def needs_flush(self) -> bool:
        """True when the queue crossed its flush threshold and an attempt would be made now."""
        return (
            self.disabled is None
            and not self.failing
            and self.buffer.over_threshold()
            and not self.in_backoff()
        )

    def probe_due(self) -> bool:
        """True when the destination is failing, holds data and its backoff has passed."""
        return (
            self.failing
            and self.disabled is None
            and not self._closed
            and len(self.buffer) > 0
            and (not self.in_backoff() or time.time() >= self._probe_after)
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the exporter (resolving secret headers, creating clients). Idempotent; if it is
        cut off (cancelled, timed out) it is tried again by the next call or flush."""
        if self._started:
            return
        try:
            await self.exporter.start()
        except Exception as exc:
            self._disable(str(exc) or type(exc).__name__)
        self._started = True

    def _disable(self, why: str) -> None:
        self.disabled = why
        self._stats.add("destination_disabled", 1, self.name)
        log.error("destination %s disabled: %s", self.name, why)
        count_drop(self._stats, self.name, "destination_disabled", self.buffer.clear())

    def offer(self, signals: Signals, *, reserved: bool = False) -> None:
        """Queue the records this destination exports (others are ignored, not counted).
        `reserved`: see `BoundedBuffer.put` (the health metrics snapshot)."""
        part = filter_signals(signals, self.accepts)
        n = item_count(part)
        if not n:
            return
        if self.disabled is not None or self._closed:
            reason = "destination_disabled" if self.disabled is not None else "shutdown_deadline"
            count_drop(self._stats, self.name, reason, n)
            return
        self.buffer.put(part, reserved=reserved)

    async def flush(self, deadline: float) -> None:
        """Export what is queued, until empty, deadline, backoff or a failure. Never raises.
        A failing destination is skipped: its data waits for `probe()` or `shutdown()`."""
        if self.failing:
            return
        await self._flush(deadline, ignore_backoff=False)

    async def probe(self, deadline: float, stop: asyncio.Future[Any]) -> None:
        """Retry a failing destination until `deadline` or until `stop` completes, whichever is
        first (the lifecycle passes the invoke's runtimeDone: once the function is done, waiting
        on a dead backend would be billed). A cut-off attempt keeps its batch and counts as a
        failure, so the next probe waits for a longer backoff. Never raises."""
        if not self.probe_due():
            return
        self.not_before = float("-inf")  # due by the wall clock: the frozen time counted too
        self._stats.add("probes", 1, self.name)
        work = asyncio.ensure_future(self._flush(deadline, ignore_backoff=False))
        try:
            await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                self._stats.add("probes_cut_off", 1, self.name)
                self._stats.add("export_failed", 1, self.name)
                self._failed(None)

    async def shutdown(self, deadline: float) -> None:
        if self._closed:
            return
        try:
            await self._flush(deadline, ignore_backoff=True)
        finally:
            self._closed = True
            count_drop(self._stats, self.name, "shutdown_deadline", self.buffer.clear())
            try:
                remaining = max(0.0, deadline - self._now())
                async with asyncio.timeout(remaining):
                    await self.exporter.shutdown()
            except Exception as exc:  # includes TimeoutError: exporter resources are cut off
                log.debug("destination %s shutdown: %s", self.name, type(exc).__name__)

    # -- delivery ------------------------------------------------------------------------------

    async def _flush(self, deadline: float, ignore_backoff: bool) -> None:
        if self.disabled is not None or self._closed or not len(self.buffer):
            return
        try:  # a concurrent flush (e.g. SHUTDOWN arriving mid-export) is awaited within the deadline
            async with asyncio.timeout(max(0.0, deadline - self._now())):
                await self._lock.acquire()
        except TimeoutError:
            return
        try:
            if not self._started:
                async with asyncio.timeout(max(0.0, deadline - self._now())):
                    await self.start()
            if self.disabled is None:
                await self._drain(deadline, ignore_backoff)
        except TimeoutError:
            return  # starting took the whole budget (e.g. resolving secrets); tried again next time
        except Exception as exc:  # a bug must not take the extension down; data stays queued
            self._stats.add("export_failed", 1, self.name)
            if self._stats.first_time(f"destination_bug:{self.name}"):
                log.exception("destination %s: unexpected %s", self.name, type(exc).__name__)
        finally:
            self._lock.release()

    async def _drain(self, deadline: float, ignore_backoff: bool) -> None:
        while len(self.buffer):
            now = self._now()
            if now < self.not_before:
                if not ignore_backoff:
                    return
                if self.not_before < deadline - MIN_ATTEMPT_S:
                    await asyncio.sleep(self.not_before - now)  # final chance: wait, then retry
                    continue
                # the backoff ends after the deadline: one last attempt beats certain loss
            remaining = deadline - self._now()
            if remaining < MIN_ATTEMPT_S:
                return
            batch = self.buffer.take(self._batch_items, self._batch_bytes)
            try:
                result = await self._attempt(batch, remaining)
            except asyncio.CancelledError:
                self._keep(batch)  # cut off from outside: the data is not lost
                raise
            if not self._account(batch, result):
                if ignore_backoff and self.not_before < deadline - MIN_ATTEMPT_S:
                    continue  # shutdown: keep trying while the backoff fits before the deadline
                return

    async def _attempt(self, batch: Signals, remaining: float) -> ExportResult:
        try:
            async with asyncio.timeout(remaining):
                return await self.exporter.export(batch, self.resource, remaining)
        except TimeoutError:
            return ExportResult.retryable("deadline")
        except Exception as exc:  # the contract says never raise; be safe anyway
            return ExportResult.retryable(f"exporter raised {type(exc).__name__}")

    def _account(self, batch: Signals, result: ExportResult) -> bool:
        """Update counters, queue and backoff; True when the next batch may be sent right away."""
        n = item_count(batch)
        count_drop(self._stats, self.name, "rejected", result.rejected)
        if result.outcome is Outcome.SUCCESS:
            self._stats.add("exported", n - result.rejected, self.name)
            self._attempts = 0
            self.not_before = float("-inf")
            if self.failing:
                self.failing = False
                log.info("destination %s: answering again; normal flushing resumes", self.name)
            return True
        self._stats.add("export_failed", 1, self.name)
        self._warn_once(result)
        if result.outcome is Outcome.PERMANENT:
            failed = n if result.failed_items is None else result.failed_items
            self._stats.add("exported", max(0, n - failed - result.rejected), self.name)
            count_drop(self._stats, self.name, "permanent_error", failed)
            return True  # the next batch may well be fine (e.g. one oversized request)
        keep = result.retry if result.retry is not None else batch
        failed = result.failed_items or 0
        self._stats.add("exported", max(0, n - item_count(keep) - failed - result.rejected), self.name)
        count_drop(self._stats, self.name, "permanent_error", failed)
        self._keep(keep)
        self._failed(result.retry_after)
        return False

    def _failed(self, retry_after: float | None) -> None:
        """A retryable failure: back off, and stop holding invokes for this destination."""
        self._attempts += 1
        delay = self._backoff(retry_after)
        self.not_before = self._now() + delay
        self._probe_after = time.time() + delay
        if not self.failing and not self._closed:
            self.failing = True
            self._stats.add("destination_failing", 1, self.name)
            if self._stats.first_time(f"failing:{self.name}"):
                log.warning(
                    "destination %s is failing: no longer waited for at invoke end; "
                    "its data stays queued and is retried with backoff",
                    self.name,
                )

    def _keep(self, signals: Signals) -> None:
        """Return undelivered records to the queue; after shutdown they can only be counted."""
        if self._closed:
            count_drop(self._stats, self.name, "shutdown_deadline", item_count(signals))
        else:
            self.buffer.put_back(signals)

    def _backoff(self, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it is given."""
        if retry_after is not None:
            return min(max(0.0, retry_after), MAX_RETRY_AFTER_S)
        cap = min(self._retry.max_ms, self._retry.initial_ms * 2 ** min(self._attempts - 1, 30))
        return self._rng.uniform(0, cap) / 1000.0

    def _warn_once(self, result: ExportResult) -> None:
        key = f"export:{self.name}:{result.outcome.value}:{result.reason}"
        if self._stats.first_time(key):
            log.warning("destination %s: export %s (%s)", self.name, result.outcome.value, result.reason)
