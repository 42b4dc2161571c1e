"""Every long-lived component honours one contract: `await start()`, `await shutdown(deadline)`.

`deadline` is a `loop.time()` value. Checked for each component, as the OpenTelemetry Collector's
generated lifecycle tests do for its components: shutdown without start is fine, shutdown twice is
fine, and shutdown returns by its deadline even when something would otherwise hold it forever
(a client that never finishes its request, a backend that never answers). Nothing here is timed:
the held work never ends by itself, so a shutdown that ignored its deadline would never return.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from extension.cache.service import CacheService
from extension.cache.sockets import bind_cache_sockets
from extension.config import from_env
from extension.exporters.base import OTEL_KINDS, ExportResult
from extension.exporters.destination import Destination
from extension.http.messages import Request, Response
from extension.http.server import HttpServer
from extension.lifecycle.invocation_tracker import InvocationTracker
from extension.pipeline import Pipeline
from extension.processors.processor import TelemetryProcessor
from extension.signals import LogData, Resource, Signals
from extension.sources.telemetry_api.listener import TelemetryApiSource
from extension.stats import Stats

WAIT_S = 5.0  # generous: every shutdown below is already past its deadline when it starts
ENV = {"AWS_REGION": "us-east-1", "AWS_SESSION_TOKEN": "token", "AWS_LAMBDA_FUNCTION_NAME": "fn"}


@dataclasses.dataclass
class Subject:
    """One component under the contract, and how to make it wait for something that never ends."""

    start: Callable[[], Awaitable[None]]
    shutdown: Callable[[float], Awaitable[None]]
    hold: Callable[[], Awaitable[None]]
    #: After shutdown: what the held work must show (a closed connection, a counted drop).
    released: Callable[[], Awaitable[None]]


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


class HalfRequest:
    """A client that sends the head of a POST and never its body: the server cannot call the
    connection idle, so only a deadline ends it."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, port: int, path: str = "/") -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode())
        await self.writer.drain()

    async def closed_by_server(self) -> None:
        assert self.reader is not None and self.writer is not None
        try:
            await asyncio.wait_for(self.reader.read(), WAIT_S)  # EOF: the server closed it
        except ConnectionResetError:
            pass  # aborted: closed as well
        self.writer.close()


class NeverExporter:
    """A backend that never answers an export."""

    name = "never"
    accepts = OTEL_KINDS

    async def start(self) -> None:
        return None

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def shutdown(self) -> None:
        return None


def _logs(count: int) -> Signals:
    return Signals(logs=tuple(LogData(1, 1, 9, "INFO", f"line {i}") for i in range(count)))


def _destination(stats: Stats) -> Destination:
    settings = from_env(ENV)
    return Destination(NeverExporter(), settings.pipeline, settings.exporters.retry, stats)


async def http_server(stats: Stats) -> Subject:
    async def echo(request: Request) -> Response:
        return Response(200, body=request.body)

    sock = _listening()
    server = HttpServer(echo, name="test", stats=stats, max_body=1024, read_timeout_s=3600.0)
    client = HalfRequest()
    return Subject(
        start=lambda: server.start(sock),
        shutdown=server.shutdown,
        hold=lambda: client.open(sock.getsockname()[1]),
        released=client.closed_by_server,
    )


async def telemetry_listener(stats: Stats) -> Subject:
    sock = _listening()
    listener = TelemetryApiSource(sock, lambda events: None, stats, 262144, "/telemetry")
    client = HalfRequest()

    async def released() -> None:
        await client.closed_by_server()
        assert stats.get("telemetry_rejected", "shutdown_deadline") == 1

    return Subject(
        start=listener.start,
        shutdown=listener.shutdown,
        hold=lambda: client.open(listener.port, "/telemetry"),
        released=released,
    )


async def cache_service(stats: Stats) -> Subject:
    settings = from_env(ENV)
    settings = settings._replace(cache=settings.cache._replace(secrets_port=0, appconfig_port=0))
    service = CacheService(settings, stats, bind_cache_sockets(settings.cache))
    client = HalfRequest()

    async def hold() -> None:
        assert service.secrets_port is not None
        await client.open(service.secrets_port, "/secretsmanager/get?secretId=x")

    return Subject(
        start=service.start, shutdown=service.shutdown, hold=hold, released=client.closed_by_server
    )


async def destination(stats: Stats) -> Subject:
    dest = _destination(stats)

    async def hold() -> None:
        dest.offer(_logs(3))  # the final flush of shutdown sends them to a backend that never answers

    async def released() -> None:
        assert stats.get("dropped", "shutdown_deadline") == 3

    return Subject(start=dest.start, shutdown=dest.shutdown, hold=hold, released=released)


async def pipeline(stats: Stats) -> Subject:
    """The pipeline shuts its destinations down with a reason (the SHUTDOWN event's); its start is
    theirs (the application starts them)."""
    settings = from_env(ENV)
    processor = TelemetryProcessor(settings, Resource({}), stats)
    dest = _destination(stats)
    glue = Pipeline(processor, [dest], InvocationTracker(), stats)

    async def hold() -> None:
        dest.offer(_logs(2))

    async def released() -> None:
        assert stats.get("dropped", "shutdown_deadline") >= 2

    return Subject(
        start=dest.start,
        shutdown=lambda deadline: glue.shutdown("spindown", deadline),
        hold=hold,
        released=released,
    )


async def otlp_receiver(stats: Stats) -> Subject:
    from extension.sources.otlp_receiver.server import OtlpReceiver

    receiver = OtlpReceiver(_listening(), stats, 65536, Resource({}))
    client = HalfRequest()

    async def released() -> None:
        await client.closed_by_server()
        assert stats.get("receiver_rejected", "shutdown_deadline") == 1

    return Subject(
        start=receiver.start,
        shutdown=receiver.shutdown,
        hold=lambda: client.open(receiver.port, "/v1/traces"),
        released=released,
    )


async def otlp_grpc_front(stats: Stats) -> Subject:
    """A relayed connection whose HTTP/2 preface never completes."""
    from extension.sources.otlp_receiver.grpc_front import GrpcFront
    from extension.sources.otlp_receiver.server import OtlpReceiver

    front = GrpcFront(_listening(), OtlpReceiver(_listening(), stats, 65536, Resource({})), stats, 65536)
    client = HalfRequest()

    async def hold() -> None:
        client.reader, client.writer = await asyncio.open_connection("127.0.0.1", front.port)
        client.writer.write(b"PRI * HTTP/2.0\r\n")
        await client.writer.drain()

    return Subject(start=front.start, shutdown=front.shutdown, hold=hold, released=client.closed_by_server)


COMPONENTS: dict[str, Callable[[Stats], Awaitable[Subject]]] = {
    "otlp_receiver": otlp_receiver,
    "otlp_grpc_front": otlp_grpc_front,
    "http_server": http_server,
    "telemetry_listener": telemetry_listener,
    "cache_service": cache_service,
    "destination": destination,
    "pipeline": pipeline,
}


@asynccontextmanager
async def subject(name: str) -> AsyncIterator[tuple[Subject, Stats]]:
    stats = Stats()
    built = await COMPONENTS[name](stats)
    try:
        yield built, stats
    finally:
        await asyncio.wait_for(built.shutdown(asyncio.get_running_loop().time()), WAIT_S)


def _now() -> float:
    return asyncio.get_running_loop().time()


@pytest.mark.parametrize("name", sorted(COMPONENTS))
async def test_shutdown_without_start(name: str) -> None:
    async with subject(name) as (component, _):
        await asyncio.wait_for(component.shutdown(_now() + 1.0), WAIT_S)


@pytest.mark.parametrize("name", sorted(COMPONENTS))
async def test_shutdown_twice(name: str) -> None:
    async with subject(name) as (component, _):
        await component.start()
        await asyncio.wait_for(component.shutdown(_now() + 1.0), WAIT_S)
        await asyncio.wait_for(component.shutdown(_now() + 1.0), WAIT_S)


@pytest.mark.parametrize("name", sorted(COMPONENTS))
async def test_shutdown_returns_by_its_deadline(name: str) -> None:
    async with subject(name) as (component, _):
        await component.start()
        await component.hold()
        await asyncio.wait_for(component.shutdown(_now()), WAIT_S)  # due now: nothing may wait
        await component.released()
