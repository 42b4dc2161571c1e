"""CacheStore semantics with a fake wall clock and a scripted fetch (no sockets)."""

from __future__ import annotations

import asyncio

import pytest

from extension.cache.errors import UpstreamError, UpstreamTimeout
from extension.cache.store import CacheStore, StoreLimits

THROTTLED = UpstreamError("ThrottlingException", "Rate exceeded", 400)
NOT_FOUND = UpstreamError("ResourceNotFoundException", "not found", 400)
DENIED = UpstreamError("AccessDeniedException", "denied", 400)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """Scripted fetch: returns f"{key}-v{n}" or raises the next scripted error."""

    def __init__(self) -> None:
        self.calls = 0
        self.errors: list[Exception] = []
        self.gate: asyncio.Event | None = None
        self.previous_seen: list[str | None] = []

    async def fetch(self, key: str, previous: str | None) -> str:
        self.calls += 1
        self.previous_seen.append(previous)
        if self.gate is not None:
            await self.gate.wait()
        if self.errors:
            raise self.errors.pop(0)
        return f"{key}-v{self.calls}"


def make(clock: Clock, up: Upstream, **limits: float) -> CacheStore[str, str]:
    return CacheStore(
        up.fetch,
        ttl=lambda k: 100.0,
        size=len,
        limits=StoreLimits(**limits),  # type: ignore[arg-type]
        clock=clock,
        rand=lambda: 0.5,
    )


async def test_miss_then_hit_then_refresh_after_ttl() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    first = await store.get("a")
    assert (first.value, first.status) == ("a-v1", "miss")
    clock.now += 50
    hit = await store.get("a")
    assert (hit.value, hit.status, hit.age_s) == ("a-v1", "hit", 50)
    clock.now += 51
    again = await store.get("a")
    assert (again.value, again.status) == ("a-v2", "refresh")
    assert up.previous_seen == [None, "a-v1"]


async def test_backward_clock_jump_treats_entry_as_expired() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    await store.get("a")
    clock.now -= 3600
    found = await store.get("a")
    assert found.status == "refresh" and up.calls == 2


async def test_force_refresh_bypasses_fresh_entry() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    await store.get("a")
    found = await store.get("a", force=True)
    assert (found.value, found.status) == ("a-v2", "refresh")


async def test_single_flight_shares_one_fetch() -> None:
    clock, up = Clock(), Upstream()
    up.gate = asyncio.Event()
    store = make(clock, up)
    waiters = [asyncio.create_task(store.get("a")) for _ in range(20)]
    await asyncio.sleep(0)
    up.gate.set()
    results = await asyncio.gather(*waiters)
    assert up.calls == 1
    assert {r.value for r in results} == {"a-v1"}


async def test_throttling_after_expiry_serves_stale_within_window() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up, max_stale_s=300)
    await store.get("a")
    clock.now += 150
    up.errors = [THROTTLED]
    stale = await store.get("a")
    assert (stale.value, stale.status, stale.age_s) == ("a-v1", "stale", 150)
    # in backoff: no upstream call, still stale
    assert (await store.get("a")).status == "stale" and up.calls == 2
    clock.now += 500  # beyond ttl + max_stale, backoff over
    up.errors = [THROTTLED]
    with pytest.raises(UpstreamError) as info:
        await store.get("a")
    assert info.value.code == "ThrottlingException"


async def test_hard_error_after_expiry_is_returned_not_masked() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    await store.get("a")
    clock.now += 101
    up.errors = [DENIED]
    with pytest.raises(UpstreamError) as info:
        await store.get("a")
    assert info.value.code == "AccessDeniedException"


async def test_not_found_is_cached_briefly() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up, negative_ttl_s=5)
    up.errors = [NOT_FOUND]
    for _ in range(3):
        with pytest.raises(UpstreamError):
            await store.get("a")
    assert up.calls == 1
    clock.now += 6
    assert (await store.get("a")).value == "a-v2"


async def test_backoff_grows_exponentially_with_jitter_and_resets() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up, backoff_initial_s=1, backoff_max_s=8)
    delays = []
    for _ in range(6):
        up.errors = [THROTTLED]
        with pytest.raises(UpstreamError):
            await store.get("a")
        # probe: how long until the store calls upstream again
        start, calls = clock.now, up.calls
        while up.calls == calls:
            clock.now += 0.125
            up.errors = [THROTTLED]
            with pytest.raises(UpstreamError):
                await store.get("a")
        delays.append(clock.now - start)
        up.calls -= 1  # the probe's call starts the next round
        clock.now = start + delays[-1]
    # jitter factor 0.75 (rand=0.5): 0.75, 1.5, 3, 6, 6 (cap 8*0.75) ...
    assert delays[0] == pytest.approx(0.75, abs=0.13)
    assert delays[1] == pytest.approx(1.5, abs=0.13)
    assert delays[2] == pytest.approx(3.0, abs=0.13)
    assert max(delays) <= 8 * 0.75 + 0.13


async def test_wait_bound_serves_stale_or_times_out() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    with pytest.raises(UpstreamTimeout):
        up.gate = asyncio.Event()
        await store.get("a", wait_s=0.01)
    up.gate.set()
    for _ in range(10_000):  # loop turns, not time: the fetch has no I/O left
        if not store.in_flight("a"):
            break
        await asyncio.sleep(0)
    assert (await store.get("a")).status == "hit"  # the fetch completed in the background
    clock.now += 101
    up.gate = asyncio.Event()
    found = await store.get("a", wait_s=0.01)
    assert found.status == "stale"
    up.gate.set()
    await store.close()


async def test_lru_eviction_by_items_and_bytes() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up, max_items=3, max_bytes=1000)
    for key in "abc":
        await store.get(key)
    await store.get("a")  # a is now most recently used
    await store.get("d")
    assert store.peek("b") is None and store.peek("a") is not None and len(store) == 3
    small = make(clock, Upstream(), max_items=100, max_bytes=12)
    await small.get("aa")  # "aa-v1": 5 bytes
    await small.get("bb")
    await small.get("cc")
    assert small.peek("aa") is None and small.bytes <= 12


async def test_value_larger_than_byte_cap_is_served_not_kept() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up, max_bytes=2)
    assert (await store.get("a")).value == "a-v1"
    assert len(store) == 0


async def test_refresh_ahead_only_for_read_entries_past_fraction() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up, refresh_fraction=0.8)
    await store.get("a")
    await store.get("b")
    clock.now += 85
    assert store.due_for_refresh() == ["a", "b"]
    assert store.refresh("a")
    assert not store.refresh("a")  # single-flight
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert store.peek("a") == "a-v3"
    assert store.due_for_refresh() == ["b"]  # a: fresh and not read since
    assert (await store.get("a")).status == "hit"


async def test_reap_stuck_cancels_old_fetch_and_next_read_retries() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    await store.get("a")
    clock.now += 90
    up.gate = asyncio.Event()
    store.refresh("a")
    await asyncio.sleep(0)
    clock.now += 3600  # frozen mid-call for an hour
    assert store.reap_stuck(10.0) == 1
    assert not store.in_flight("a")
    up.gate.set()
    found = await store.get("a")
    assert found.status == "refresh" and found.value == "a-v3"


async def test_external_batch_flights_make_readers_wait() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    owned = store.begin_external(["a", "b"])
    assert owned == ["a", "b"]
    reader = asyncio.create_task(store.get("a"))
    await asyncio.sleep(0)
    assert not reader.done()
    store.complete("a", "batched")
    store.fail("b", NOT_FOUND)
    assert (await reader).value == "batched" and up.calls == 0
    with pytest.raises(UpstreamError):
        await store.get("b")


async def test_expire_all_and_disabled_cache() -> None:
    clock, up = Clock(), Upstream()
    store = make(clock, up)
    await store.get("a")
    store.expire_all()
    assert (await store.get("a")).status == "refresh"
    off = make(clock, Upstream(), max_items=0)
    await off.get("a")
    assert (await off.get("a")).status == "miss"


async def test_unexpected_fetch_bug_becomes_internal_failure() -> None:
    clock, up = Clock(), Upstream()
    up.errors = [RuntimeError("bug")]
    store = make(clock, up)
    with pytest.raises(UpstreamError) as info:
        await store.get("a")
    assert info.value.code == "InternalFailure" and info.value.status == 500
