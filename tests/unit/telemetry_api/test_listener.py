"""The Telemetry API listener over a real loopback socket: only its secret path is served."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest

from extension.sources.telemetry_api.listener import TelemetryApiSource
from extension.sources.telemetry_api.schema import TelemetryEvent
from extension.sources.telemetry_api.subscription import destination_path
from extension.stats import Stats

BATCH = json.dumps([{"time": "2026-01-01T00:00:00.000Z", "type": "function", "record": "hello"}]).encode()
WAIT_S = 30.0


class Running:
    def __init__(self, source: TelemetryApiSource, path: str, stats: Stats) -> None:
        self.source = source
        self.path = path
        self.stats = stats
        self.events: list[TelemetryEvent] = []

    async def post(
        self, path: str, body: bytes = BATCH, content_type: bytes = b"application/json", method: str = "POST"
    ) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.source.port)
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: sandbox.localdomain\r\nConnection: close\r\n".encode()
            + b"Content-Type: "
            + content_type
            + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body
        )
        raw = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), payload


@pytest.fixture
async def listener() -> AsyncIterator[Running]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    stats = Stats()
    path = destination_path()
    running: Running
    source = TelemetryApiSource(sock, lambda events: running.events.extend(events), stats, 262144, path)
    running = Running(source, path, stats)
    await source.start()
    yield running
    await source.shutdown(asyncio.get_running_loop().time() + 1.0)


def test_destination_paths_are_unguessable() -> None:
    paths = {destination_path() for _ in range(100)}
    assert len(paths) == 100
    assert all(len(p) == 33 and p[0] == "/" and int(p[1:], 16) >= 0 for p in paths)


async def test_only_the_subscribed_path_is_served(listener: Running) -> None:
    forged = {p: await listener.post(p) for p in ("/telemetry", "/", listener.path + "x", listener.path[:-1])}
    assert {p: answer for p, answer in forged.items()} == {p: (404, b"") for p in forged}
    assert listener.events == [] and listener.stats.get("telemetry_rejected", "path") == 4
    assert await listener.post(listener.path) == (200, b'{"status":"ok"}')
    assert [e.type for e in listener.events] == ["function"]


async def test_batches_after_stop_intake_are_refused_and_counted(listener: Running) -> None:
    listener.source.stop_intake()
    status, _ = await listener.post(listener.path)
    assert status == 503  # not 200: the batch was not accepted
    assert listener.events == [] and listener.stats.get("dropped", "after_shutdown_deadline") == 1


async def test_rejections_keep_their_status_and_counter(listener: Running) -> None:
    answers = {
        "too large": await listener.post(listener.path, b"[" + b'"x",' * 300_000 + b'"x"]'),
        "not JSON content type": await listener.post(listener.path, content_type=b"text/plain"),
        "content type not UTF-8": await listener.post(listener.path, content_type=b"application/\xffjson"),
        "not JSON": await listener.post(listener.path, b"{nope"),
        "GET": await listener.post(listener.path, b"", method="GET"),
    }
    assert {k: status for k, (status, _) in answers.items()} == {
        "too large": 413,
        "not JSON content type": 415,
        "content type not UTF-8": 415,
        "not JSON": 400,
        "GET": 405,
    }
    snap = listener.stats.snapshot()
    assert snap["telemetry_rejected{too_large}"] == 1 and snap["telemetry_rejected{content_type}"] == 2
    assert "internal_errors" not in str(snap) and listener.events == []
