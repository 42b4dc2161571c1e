"""The cache store: expiry, refresh-ahead, stale-on-error, single-flight, backoff, bounded memory.

Pure logic over an injected `fetch(key, previous)` coroutine and an injected wall clock, so every
rule is unit-tested with a fake clock. Why wall-clock time: the monotonic clock stalls while the
sandbox is frozen, so a TTL measured with it would never expire across idle periods. A clock that
jumps backwards makes an entry look younger than it is; an entry whose age comes out negative is
therefore treated as expired (refetched), never as fresh.

Values live only in this process's memory; nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from extension.cache.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from extension.log import get_logger

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_log = get_logger("cache")


@dataclass(frozen=True)
class Lookup(Generic[V]):
    """A value and how it was obtained: X-Cache (`hit|miss|stale|refresh`) and Age (seconds)."""

    value: V
    status: str
    age_s: float


@dataclass
class _Entry(Generic[V]):
    value: V | None  # None for a negative (not-found) entry
    error: UpstreamError | None
    fetched_at: float
    ttl_s: float
    size: int
    read_since_fetch: bool = False


@dataclass
class _Backoff:
    failures: int
    until: float
    error: UpstreamError


@dataclass
class _Flight(Generic[V]):
    future: asyncio.Future[V]
    task: asyncio.Task[None] | None
    started: float


@dataclass(frozen=True)
class StoreLimits:
    max_items: int = 1000
    max_bytes: int = 4 * 1024 * 1024
    max_stale_s: float = 900.0
    refresh_fraction: float = 0.8
    negative_ttl_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0


class CacheStore(Generic[K, V]):
    """One store per kind of value. `fetch(key, previous)` may return `previous` unchanged (cheap
    change checks) and raises UpstreamError on failure."""

    def __init__(
        self,
        fetch: Callable[[K, V | None], Awaitable[V]],
        *,
        ttl: Callable[[K], float],
        size: Callable[[V], int],
        limits: StoreLimits,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._size = size
        self.limits = limits
        self._clock = clock
        self._rand = rand
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._bytes = 0
        self._backoff: dict[K, _Backoff] = {}
        self._flights: dict[K, _Flight[V]] = {}
        self.fetches = 0  # fetch() invocations, for tests and counters

    # ---- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def peek(self, key: K) -> V | None:
        entry = self._entries.get(key)
        return entry.value if entry else None

    def in_flight(self, key: K) -> bool:
        return key in self._flights

    async def get(self, key: K, *, force: bool = False, wait_s: float | None = None) -> Lookup[V]:
        """Fresh value, else one upstream fetch shared by all concurrent callers (bounded by `wait_s`),
        else a stale value when the failure is retryable and within max-stale; raises UpstreamError."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and not force:
            age = now - entry.fetched_at
            if entry.error is not None:
                if 0 <= age < self.limits.negative_ttl_s:
                    raise entry.error
            elif entry.value is not None and 0 <= age < entry.ttl_s:
                self._read(key, entry)
                return Lookup(entry.value, "hit", age)
        had_value = entry is not None and entry.value is not None
        if not force and key not in self._flights:
            backoff = self._backoff.get(key)
            if backoff is not None and 0 <= backoff.until - now <= self.limits.backoff_max_s:
                return self._stale_or_raise(key, backoff.error)
        flight = self._flights.get(key) or self._start(key)
        try:
            if wait_s is None:
                value = await asyncio.shield(flight.future)
            else:
                value = await asyncio.wait_for(asyncio.shield(flight.future), wait_s)
        except TimeoutError:
            return self._stale_or_raise(key, UpstreamTimeout(f"no answer from AWS within {wait_s:.3g} s"))
        except UpstreamError as err:
            return self._stale_or_raise(key, err)
        fresh = self._entries.get(key)
        if fresh is not None and fresh.value is value:
            self._read(key, fresh)
        return Lookup(value, "refresh" if had_value else "miss", 0.0)

    def _stale_or_raise(self, key: K, err: UpstreamError) -> Lookup[V]:
        entry = self._entries.get(key)
        if err.retryable and entry is not None and entry.value is not None:
            age = self._clock() - entry.fetched_at
            if age <= entry.ttl_s + self.limits.max_stale_s:
                self._read(key, entry)
                return Lookup(entry.value, "stale", max(0.0, age))
        raise err

    def _read(self, key: K, entry: _Entry[V]) -> None:
        entry.read_since_fetch = True
        self._entries.move_to_end(key)

    # ---- fetching --------------------------------------------------------------------------

    def _start(self, key: K) -> _Flight[V]:
        loop = asyncio.get_running_loop()
        flight: _Flight[V] = _Flight(loop.create_future(), None, self._clock())
        flight.future.add_done_callback(_consume)
        self._flights[key] = flight
        flight.task = loop.create_task(self._run(key, flight))
        return flight

    async def _run(self, key: K, flight: _Flight[V]) -> None:
        entry = self._entries.get(key)
        previous = entry.value if entry is not None else None
        self.fetches += 1
        try:
            value = await self._fetch(key, previous)
        except UpstreamError as err:
            self._failed(key, err)
            _settle(flight.future, err)
        except asyncio.CancelledError:
            _settle(flight.future, UpstreamUnreachable("the AWS call was interrupted"))
            raise
        except Exception:
            _log.exception("cache fetch failed unexpectedly")
            _settle(flight.future, UpstreamError("InternalFailure", "internal error in the cache", 500))
        else:
            self._store(key, value)
            if not flight.future.done():
                flight.future.set_result(value)
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def begin_external(self, keys: list[K]) -> list[K]:
        """Mark `keys` as being fetched by a batch call (prefetch); returns the keys now owned by the
        caller, who must settle each with `complete()` or `fail()`. Requests for them wait meanwhile."""
        loop = asyncio.get_running_loop()
        owned: list[K] = []
        for key in dict.fromkeys(keys):
            if key in self._flights:
                continue
            flight: _Flight[V] = _Flight(loop.create_future(), None, self._clock())
            flight.future.add_done_callback(_consume)
            self._flights[key] = flight
            owned.append(key)
        return owned

    def complete(self, key: K, value: V) -> None:
        flight = self._flights.pop(key, None)
        self._store(key, value)
        if flight is not None and not flight.future.done():
            flight.future.set_result(value)

    def fail(self, key: K, err: UpstreamError) -> None:
        flight = self._flights.pop(key, None)
        self._failed(key, err)
        if flight is not None:
            _settle(flight.future, err)

    def _store(self, key: K, value: V) -> None:
        self._backoff.pop(key, None)
        size = self._size(value)
        self._put(key, _Entry(value, None, self._clock(), max(0.0, self._ttl(key)), size))

    def _failed(self, key: K, err: UpstreamError) -> None:
        now = self._clock()
        if err.not_found and self.limits.negative_ttl_s > 0:
            self._backoff.pop(key, None)
            self._put(key, _Entry(None, err, now, 0.0, 64))
            return
        previous = self._backoff.get(key)
        failures = previous.failures + 1 if previous else 1
        delay = min(self.limits.backoff_max_s, self.limits.backoff_initial_s * 2 ** (failures - 1))
        delay *= 0.5 + self._rand() / 2  # jitter, so many keys (or sandboxes) do not retry in step
        self._backoff[key] = _Backoff(failures, now + delay, err)

    def _put(self, key: K, entry: _Entry[V]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        if self.limits.max_items <= 0 or entry.size > self.limits.max_bytes:
            return  # caching disabled, or a value that alone exceeds the byte cap: served, not kept
        self._entries[key] = entry
        self._bytes += entry.size
        while len(self._entries) > self.limits.max_items or self._bytes > self.limits.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    # ---- refresh-ahead and lifecycle -------------------------------------------------------

    def due_for_refresh(self) -> list[K]:
        """Keys read since their last fetch whose age passed the refresh-ahead fraction of the TTL."""
        now = self._clock()
        due: list[K] = []
        for key, entry in self._entries.items():
            if entry.value is None or not entry.read_since_fetch or key in self._flights:
                continue
            backoff = self._backoff.get(key)
            if backoff is not None and 0 <= backoff.until - now <= self.limits.backoff_max_s:
                continue
            age = now - entry.fetched_at
            if age < 0 or age >= entry.ttl_s * self.limits.refresh_fraction:
                due.append(key)
        return due

    def refresh(self, key: K) -> bool:
        """Start a background fetch for `key` unless one is in flight; True if started."""
        if key in self._flights:
            return False
        entry = self._entries.get(key)
        if entry is not None:
            entry.read_since_fetch = False
        self._start(key)
        return True

    def reap_stuck(self, max_age_s: float) -> int:
        """Cancel fetches running longer than `max_age_s` of wall time: a freeze can leave a call
        hanging on a connection that died meanwhile; cancelling lets the next read retry at once."""
        now = self._clock()
        reaped = 0
        for key, flight in list(self._flights.items()):
            if not 0 <= now - flight.started <= max_age_s:
                if flight.task is not None:
                    flight.task.cancel()
                self._flights.pop(key, None)
                _settle(flight.future, UpstreamUnreachable("the AWS call was interrupted"))
                reaped += 1
        return reaped

    def expire_all(self) -> None:
        """Make every entry stale (SnapStart restore: values in a snapshot may be old)."""
        for entry in self._entries.values():
            entry.ttl_s = 0.0

    async def close(self) -> None:
        tasks = [f.task for f in self._flights.values() if f.task is not None]
        for flight in self._flights.values():
            _settle(flight.future, UpstreamUnreachable("the extension is shutting down"))
        self._flights.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _settle(future: asyncio.Future[V], err: UpstreamError) -> None:
    if not future.done():
        future.set_exception(err)


def _consume(future: asyncio.Future[V]) -> None:
    """Mark a flight's exception as retrieved: nobody may be waiting for a background refresh."""
    if not future.cancelled():
        future.exception()
