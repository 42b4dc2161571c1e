"""Fixtures for the cache tests: one moto server per session, a fault proxy in front of it, and a
factory that runs `CacheService` in-process on real loopback sockets (ports chosen by the OS)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from emulator.backends.fault_proxy import FaultProxy
from emulator.backends.moto_server import TEST_CREDENTIALS, boto3_client, moto_server, reset
from extension.cache.service import CacheService
from extension.cache.sockets import bind_cache_sockets
from extension.config import from_env
from extension.stats import Stats

TOKEN = "local-test-token"


class FakeClock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def moto(moto_url: str) -> str:
    reset(moto_url)
    return moto_url


@pytest.fixture
def proxy(moto: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto) as p:
        yield p


@pytest.fixture
def sm(moto: str) -> Any:
    return boto3_client(moto, "secretsmanager")


@pytest.fixture
def ssm(moto: str) -> Any:
    return boto3_client(moto, "ssm")


class Running:
    """A started service plus an HTTP client that talks to its ports."""

    def __init__(self, service: CacheService, http: aiohttp.ClientSession, clock: FakeClock) -> None:
        self.service = service
        self.http = http
        self.clock = clock

    async def get(
        self, path: str, *, port: str = "secrets", token: str | None = TOKEN, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        number = self.service.secrets_port if port == "secrets" else self.service.appconfig_port
        hdrs = dict(headers)
        if token is not None:
            hdrs["X-Aws-Parameters-Secrets-Token"] = token
        async with self.http.get(f"http://127.0.0.1:{number}{path}", headers=hdrs) as resp:
            return resp.status, dict(resp.headers), await resp.read()

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        url = f"http://127.0.0.1:{self.service.secrets_port}{path}"
        async with self.http.post(url, data=body, headers={"X-Aws-Parameters-Secrets-Token": TOKEN}) as resp:
            return resp.status, dict(resp.headers), await resp.read()


Factory = Callable[..., Any]


@pytest.fixture
async def start_service() -> AsyncIterator[Factory]:
    """`await start_service(endpoint_url, **env)` -> Running; everything is shut down afterwards."""
    started: list[Running] = []

    async def factory(endpoint: str, wait_prefetch: bool = True, **env: str) -> Running:
        clock = FakeClock()
        values = {
            **TEST_CREDENTIALS,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_SESSION_TOKEN": TOKEN,
        }
        values.update(env)
        settings = from_env(values)
        settings = dataclasses.replace(
            settings, cache=dataclasses.replace(settings.cache, secrets_port=0, appconfig_port=0)
        )
        service = CacheService(settings, Stats(), bind_cache_sockets(settings.cache), clock=clock)
        await service.start()
        running = Running(service, aiohttp.ClientSession(), clock)
        started.append(running)
        if wait_prefetch and service.prefetched is not None:
            await service.prefetched.wait()
        return running

    yield factory
    for running in started:
        await running.http.close()
        await running.service.shutdown(asyncio.get_running_loop().time() + 5.0)
