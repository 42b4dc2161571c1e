"""Upstream faults through the fault proxy in front of moto: stale-on-throttle, hard errors,
single-flight, transport failures, the local concurrency cap, refresh-ahead at INVOKE."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from emulator.backends.fault_proxy import Fault, FaultProxy
from extension.cache.providers.entries import CacheKey
from tests.cache.conftest import Factory

pytestmark = pytest.mark.integration

GET = "/secretsmanager/get?secretId=app/key"


@pytest.fixture
def secret(sm: Any) -> Any:
    return sm.create_secret(Name="app/key", SecretString="v1")


async def test_throttling_after_expiry_is_served_stale(
    start_service: Factory, proxy: FaultProxy, secret: Any
) -> None:
    running = await start_service(proxy.url, SECRETS_MANAGER_TTL="60")
    await running.get(GET)
    running.clock.now += 61
    proxy.always(Fault.throttle(400))
    status, headers, body = await running.get(GET)
    assert status == 200 and headers["X-Cache"] == "stale" and json.loads(body)["SecretString"] == "v1"
    assert int(headers["Age"]) == 61
    proxy.always(Fault.throttle(429))
    running.clock.now += 100  # past the backoff
    status, headers, _ = await running.get(GET)
    assert (status, headers["X-Cache"]) == (200, "stale")
    running.clock.now += 1000  # beyond TTL + max stale (900 s): the throttling reaches the caller
    status, _, body = await running.get(GET)
    assert status == 429 and json.loads(body)["__type"] == "ThrottlingException"


async def test_server_errors_and_resets_served_stale(
    start_service: Factory, proxy: FaultProxy, secret: Any
) -> None:
    running = await start_service(proxy.url, SECRETS_MANAGER_TTL="60")
    await running.get(GET)
    for fault in (Fault.server_error(503), Fault.connection_reset()):
        running.clock.now += 200
        proxy.always(fault)
        status, headers, _ = await running.get(GET)
        assert (status, headers["X-Cache"]) == (200, "stale")
    proxy.clear()
    running.clock.now += 200
    status, headers, _ = await running.get(GET)
    assert (status, headers["X-Cache"]) == (200, "refresh")


async def test_hard_error_after_expiry_is_returned(
    start_service: Factory, proxy: FaultProxy, secret: Any
) -> None:
    running = await start_service(proxy.url, SECRETS_MANAGER_TTL="60")
    await running.get(GET)
    running.clock.now += 61
    proxy.always(Fault.error(400, "AccessDeniedException", "not authorized"))
    status, _, body = await running.get(GET)
    assert status == 400 and json.loads(body) == {
        "__type": "AccessDeniedException",
        "message": "not authorized",
    }


async def test_transport_failures_with_nothing_cached(
    start_service: Factory, proxy: FaultProxy, secret: Any
) -> None:
    running = await start_service(proxy.url, SECRETS_MANAGER_TIMEOUT_MILLIS="200")
    proxy.always(Fault.connection_reset())
    status, _, body = await running.get(GET)
    assert status == 502 and json.loads(body)["__type"] == "ConnectionError"
    assert proxy.total("GetSecretValue") == 2  # one retry on a fresh connection
    proxy.always(Fault.latency(1.0))
    running.clock.now += 100
    status, _, body = await running.get("/secretsmanager/get?secretId=other")
    assert status == 504 and json.loads(body)["__type"] == "TimeoutError"
    proxy.always(Fault.server_error(500))
    status, _, body = await running.get("/secretsmanager/get?secretId=third")
    assert status == 500 and json.loads(body)["__type"] == "InternalServiceError"


async def test_single_flight_many_concurrent_requests_one_upstream_call(
    start_service: Factory, proxy: FaultProxy, secret: Any
) -> None:
    running = await start_service(proxy.url)
    proxy.latency_s = 0.2
    results = await asyncio.gather(*(running.get(GET) for _ in range(25)))
    assert all(status == 200 for status, _, _ in results)
    assert {json.loads(body)["SecretString"] for _, _, body in results} == {"v1"}
    assert proxy.total("secretsmanager.") == 1


async def test_concurrency_cap_answers_429(
    start_service: Factory, proxy: FaultProxy, secret: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("extension.cache.service.MAX_INFLIGHT", 2)
    running = await start_service(proxy.url)
    proxy.latency_s = 0.3
    statuses = sorted(s for s, _, _ in await asyncio.gather(*(running.get(GET) for _ in range(5))))
    assert statuses.count(200) == 2 and statuses.count(429) == 3


async def test_refresh_ahead_on_invoke(
    start_service: Factory, proxy: FaultProxy, sm: Any, secret: Any
) -> None:
    running = await start_service(proxy.url, SECRETS_MANAGER_TTL="100")
    await running.get(GET)
    sm.put_secret_value(SecretId="app/key", SecretString="v2")
    running.clock.now += 50
    running.service.on_invoke()  # below the 80 % threshold: nothing to do
    assert proxy.total("secretsmanager.") == 1
    running.clock.now += 35
    running.service.on_invoke()
    key = CacheKey("secretsmanager", "app/key")
    assert running.service.values.in_flight(key)
    for _ in range(1500):  # up to 30 s: a condition, polled
        if not running.service.values.in_flight(key):
            break
        await asyncio.sleep(0.02)
    status, headers, body = await running.get(GET)
    assert status == 200
    assert headers["X-Cache"] == "hit" and json.loads(body)["SecretString"] == "v2"
    assert running.service._stats.get("cache_refresh_ahead") == 1
