"""extension.http.server over real loopback sockets: framing, limits, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import http.client
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httptools
import pytest

from extension.http.messages import InvalidHeader, Request, Response
from extension.http.server import HttpServer
from extension.stats import Stats

WAIT_S = 30.0  # generous bound for conditions that must eventually hold (never a timing claim)


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def echo(request: Request) -> Response:
    """Describes the request back (header values as the handler sees them)."""
    doc = {
        "method": request.method,
        "path": request.path,
        "query": request.query(),
        "headers": {name: request.headers.get(name) for name in request.headers},
        "body": request.body.decode("latin-1"),
    }
    return Response.json(doc, headers={"X-Echo": "1"})


@asynccontextmanager
async def serving(
    handler: Callable[[Request], Awaitable[Response]] = echo, **options: float
) -> AsyncIterator[tuple[HttpServer, int, Stats]]:
    stats = Stats()
    kwargs: dict[str, float] = {"max_body": 1024, **options}
    server = HttpServer(handler, name="test", stats=stats, **kwargs)  # type: ignore[arg-type]
    sock = _listening()
    port = sock.getsockname()[1]
    await server.start(sock)
    try:
        yield server, port, stats
    finally:
        await server.shutdown(asyncio.get_running_loop().time() + 1.0)


class Responses:
    """Complete responses parsed by llhttp from whatever the server sent."""

    def __init__(self) -> None:
        self.items: list[tuple[int, dict[str, str], bytes]] = []
        self._parser = httptools.HttpResponseParser(self)
        self._headers: dict[str, str] = {}
        self._body = b""

    def feed(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.items.append((self._parser.get_status_code(), self._headers, self._body))
        self._headers, self._body = {}, b""


async def exchange(port: int, raw: bytes, expect: int = 1) -> tuple[Responses, bool]:
    """Send raw bytes; read until `expect` responses arrived or the server closed. Returns the
    responses and whether the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = Responses()
    closed = False
    try:
        writer.write(raw)
        await writer.drain()
        while len(out.items) < expect:
            data = await asyncio.wait_for(reader.read(65536), WAIT_S)
            if not data:
                closed = True
                break
            out.feed(data)
        if not closed and out.items and out.items[-1][1].get("connection") == "close":
            closed = await asyncio.wait_for(reader.read(1), WAIT_S) == b""
    finally:
        writer.close()
    return out, closed


async def test_request_fields_reach_the_handler() -> None:
    async with serving() as (_, port, _stats):
        raw = (
            b"POST /a%2Fb/c?x=1&y=%20two&x=3&flag HTTP/1.1\r\nHost: h\r\n"
            b"X-Mixed-Case: Value\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        )
        out, _ = await exchange(port, raw)
    status, headers, body = out.items[0]
    assert status == 200 and headers["x-echo"] == "1" and headers["content-type"] == "application/json"
    import json

    doc = json.loads(body)
    assert doc["method"] == "POST" and doc["path"] == "/a%2Fb/c"
    assert doc["query"] == [["x", "1"], ["y", " two"], ["x", "3"], ["flag", ""]]
    assert doc["headers"]["x-mixed-case"] == "Value" and doc["body"] == "hello"


async def test_keep_alive_with_http_client() -> None:
    async with serving() as (_, port, _stats):

        def three_on_one_connection() -> list[tuple[int, str | None]]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
            results = []
            for n in range(3):
                conn.request("POST", f"/n{n}", body=b"x" * n, headers={"Content-Type": "a/b"})
                resp = conn.getresponse()
                resp.read()
                results.append((resp.status, resp.getheader("Connection")))
            sock_id = id(conn.sock)
            conn.request("GET", "/last")
            conn.getresponse().read()
            assert id(conn.sock) == sock_id  # http.client did not have to reconnect
            conn.close()
            return results

        results = await asyncio.to_thread(three_on_one_connection)
    assert results == [(200, "keep-alive")] * 3


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving() as (_, port, _stats):
        raw = (
            b"".join(b"GET /p%d HTTP/1.1\r\nHost: h\r\n\r\n" % n for n in range(5))
            + b"POST /last HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        )
        out, closed = await exchange(port, raw, expect=6)
    import json

    paths = [json.loads(body)["path"] for _, _, body in out.items]
    assert paths == ["/p0", "/p1", "/p2", "/p3", "/p4", "/last"]
    assert closed  # the client asked for Connection: close on the last one


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_malformed_request_is_400_and_closed(raw: bytes) -> None:
    calls = []

    async def handler(request: Request) -> Response:
        calls.append(request)
        return Response()

    async with serving(handler) as (_, port, stats):
        out, closed = await exchange(port, raw)
    assert [s for s, _, _ in out.items] == [400] and closed
    assert calls == [] and stats.get("http_rejected", "malformed") == 1


async def test_body_over_the_limit_is_413_from_the_headers_without_reading_it() -> None:
    calls = []

    async def handler(request: Request) -> Response:
        calls.append(request)
        return Response()

    async with serving(handler, max_body=1000) as (_, port, stats):
        # Only the headers and a few bytes are sent: the answer must not wait for the rest.
        out, closed = await exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 50000000\r\n\r\nabc")
        chunked, chunked_closed = await exchange(
            port,
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"200\r\n"
            + b"x" * 512
            + b"\r\n" * 1
            + b"200\r\n"
            + b"x" * 512
            + b"\r\n",
        )
        exact, _ = await exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + b"y" * 1000)
    assert [s for s, _, _ in out.items] == [413] and closed
    assert [s for s, _, _ in chunked.items] == [413] and chunked_closed
    assert [s for s, _, _ in exact.items] == [200] and len(calls) == 1
    assert stats.get("http_rejected", "too_large") == 2


async def test_slow_headers_are_cut_off() -> None:
    async with serving(read_timeout_s=0.2) as (_, port, stats):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n")  # never finishes its headers
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), WAIT_S) == b""  # closed, nothing answered
        writer.close()
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", port)  # sends nothing
        assert await asyncio.wait_for(silent_reader.read(), WAIT_S) == b""
        silent_writer.close()
    assert stats.get("http_rejected", "read_timeout") == 2


async def test_slow_body_is_cut_off() -> None:
    async with serving(read_timeout_s=0.2) as (_, port, stats):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), WAIT_S) == b""
        writer.close()
    assert stats.get("http_rejected", "read_timeout") == 1


async def test_idle_keep_alive_connection_is_closed_without_counting_a_rejection() -> None:
    async with serving(keepalive_timeout_s=0.2) as (_, port, stats):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        out = Responses()
        data = await asyncio.wait_for(reader.read(65536), WAIT_S)
        out.feed(data)
        rest = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
    assert [s for s, _, _ in out.items] == [200] and rest == b""
    assert stats.total("http_rejected") == 0


async def test_handler_failure_is_500_without_details_and_counted() -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("secret detail sk_live_123")

    async with serving(broken) as (_, port, stats):
        out, _ = await exchange(port, b"GET / HTTP/1.1\r\n\r\nGET /again HTTP/1.1\r\n\r\n", expect=2)
    assert [s for s, _, _ in out.items] == [500, 500]
    assert all(b"sk_live" not in body and b"Traceback" not in body for _, _, body in out.items)
    assert stats.get("internal_errors", "http_test") == 2


async def test_header_that_is_not_utf8_is_reported_to_the_handler() -> None:
    seen: list[object] = []

    async def handler(request: Request) -> Response:
        seen.append(request.headers.raw("x-token"))
        try:
            request.headers.get("X-Token")
        except InvalidHeader as exc:
            seen.append(exc.name)
        return Response(403)

    async with serving(handler) as (_, port, _stats):
        out, _ = await exchange(port, b"GET / HTTP/1.1\r\nX-Token: \xff\xfeab\r\n\r\n")
    assert [s for s, _, _ in out.items] == [403] and seen == [b"\xff\xfeab", "x-token"]


async def test_head_and_expect_continue() -> None:
    async with serving() as (_, port, _stats):
        head_reader, head_writer = await asyncio.open_connection("127.0.0.1", port)
        head_writer.write(b"HEAD /h HTTP/1.1\r\nConnection: close\r\n\r\n")
        head = await asyncio.wait_for(head_reader.read(), WAIT_S)
        head_writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /c HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        writer.write(b"ok")
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        writer.close()
    status_line, _, rest = head.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK" and rest.endswith(b"\r\n\r\n")  # no body for HEAD
    assert b"Content-Length: 0" not in rest  # the length of the body a GET would get
    assert interim.startswith(b"HTTP/1.1 100 ") and final.startswith(b"HTTP/1.1 200 ")


async def test_connections_beyond_the_cap_get_503() -> None:
    async with serving(max_connections=1) as (server, port, stats):
        first_reader, first = await asyncio.open_connection("127.0.0.1", port)
        first.write(b"GET / HTTP/1.1\r\n\r\n")  # answered: the server holds this connection
        await asyncio.wait_for(first_reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert len(server.connections) == 1
        out, closed = await exchange(port, b"GET / HTTP/1.1\r\n\r\n")
        first.close()
    assert [s for s, _, _ in out.items] == [503] and closed
    assert stats.get("http_rejected", "connections") == 1


async def _until(condition: Callable[[], bool]) -> None:
    """Turn the loop until `condition` holds (the callers' conditions need a few turns at most)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_shutdown_finishes_requests_in_progress_and_refuses_new_ones() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def held(request: Request) -> Response:
        entered.set()
        await release.wait()
        return Response.text("done")

    stats = Stats()
    server = HttpServer(held, name="test", stats=stats, max_body=1024)
    sock = _listening()
    port = sock.getsockname()[1]
    await server.start(sock)
    _, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    pending = asyncio.create_task(exchange(port, b"GET / HTTP/1.1\r\n\r\n"))
    await asyncio.wait_for(entered.wait(), WAIT_S)
    stopping = asyncio.create_task(server.shutdown(asyncio.get_running_loop().time() + WAIT_S))
    await asyncio.wait_for(_until(lambda: server.closing), WAIT_S)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)  # no longer accepting
    assert not stopping.done()
    release.set()
    out, closed = await asyncio.wait_for(pending, WAIT_S)
    await asyncio.wait_for(stopping, WAIT_S)
    idle_writer.close()
    assert [(s, b) for s, _, b in out.items] == [(200, b"done")] and closed
    assert out.items[0][1]["connection"] == "close"
    assert stats.total("http_rejected") == 0


async def test_shutdown_deadline_closes_what_is_still_running() -> None:
    entered = asyncio.Event()

    async def never(request: Request) -> Response:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    stats = Stats()
    server = HttpServer(never, name="test", stats=stats, max_body=1024)
    sock = _listening()
    await server.start(sock)
    pending = asyncio.create_task(exchange(sock.getsockname()[1], b"GET / HTTP/1.1\r\n\r\n"))
    await asyncio.wait_for(entered.wait(), WAIT_S)
    await asyncio.wait_for(server.shutdown(asyncio.get_running_loop().time() + 0.05), WAIT_S)
    out, closed = await asyncio.wait_for(pending, WAIT_S)
    assert out.items == [] and closed
    assert stats.get("http_rejected", "shutdown_deadline") == 1 and not server.connections


async def test_upgrade_request_is_answered_as_plain_http_then_closed() -> None:
    async with serving() as (_, port, _stats):
        out, closed = await exchange(
            port, b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
        )
    assert [s for s, _, _ in out.items] == [200] and closed


async def test_header_with_a_line_break_from_the_handler_is_a_counted_500() -> None:
    async def splitting(request: Request) -> Response:
        return Response.text("x", headers={"Version-Label": "a\r\nSet-Cookie: injected=1"})

    async with serving(splitting) as (_, port, stats):
        out, _ = await exchange(port, b"GET / HTTP/1.1\r\n\r\n")
    assert [s for s, _, _ in out.items] == [500] and "set-cookie" not in out.items[0][1]
    assert stats.get("internal_errors", "http_test") == 1


async def test_requests_sent_before_the_client_half_closes_are_answered() -> None:
    async with serving() as (_, port, _stats):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        writer.write_eof()
        raw = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
    out = Responses()
    out.feed(raw)
    assert [s for s, _, _ in out.items] == [200, 200]


async def test_endless_headers_are_431_and_closed() -> None:
    async with serving() as (_, port, stats):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nX-Long: ")
        for _ in range(40):  # 40 x 4 KiB of one header value that never ends
            writer.write(b"a" * 4096)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
        normal, _ = await exchange(port, b"GET / HTTP/1.1\r\nX-Ok: " + b"b" * 8000 + b"\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 431 ")
    assert stats.get("http_rejected", "headers_too_large") == 1
    assert [s for s, _, _ in normal.items] == [200]
