"""extension.http.client against real servers on loopback (aiohttp apps and raw asyncio servers
that answer byte for byte what a case needs: chunked, close-delimited, 1xx, dead keep-alive)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator.backends.otlp_receivers import make_self_signed_cert
from extension.http import client as http_client
from extension.http.client import (
    ConnectError,
    ConnectionClosedError,
    HttpClient,
    HttpClientError,
    InvalidRequestError,
    Origin,
    ProtocolError,
    ProxyError,
    StaleConnectionError,
    TlsVerificationError,
    split_url,
)

WAIT_S = 10.0  # generous bound for conditions that must become true

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A loopback TCP server running `handler` per connection; counts connections and closes."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = 0
        self.closed = 0
        self._closed_event = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.closed += 1
            self._closed_event.set()

    async def wait_closed_count(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while self.closed < count:
                self._closed_event.clear()
                await self._closed_event.wait()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request with a Content-Length (or none)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


@asynccontextmanager
async def aiohttp_app(app: web.Application) -> AsyncIterator[TestServer]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path_qs,
            "host": request.headers.get("Host"),
            "agent": request.headers.get("User-Agent"),
            "encoding": request.headers.get("Content-Encoding"),
            "custom": request.headers.get("X-Custom"),
            "length": len(body),
            "peer": list(request.transport.get_extra_info("peername")) if request.transport else None,
        },
        headers={"X-Multi": "a"},
    )


async def test_post_and_get_with_content_length() -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    async with aiohttp_app(app) as server:
        client = HttpClient()
        url = str(server.make_url("/v1/x?a=1&b=2"))
        resp = await client.request("POST", url, body=b"hello", headers={"X-Custom": "yes"}, timeout_s=WAIT_S)
        import json

        doc = json.loads(resp.body)
        assert resp.status == 200 and resp.header("Content-Type").startswith("application/json")
        assert doc["method"] == "POST" and doc["path"] == "/v1/x?a=1&b=2" and doc["length"] == 5
        assert doc["host"] == f"127.0.0.1:{server.port}" and doc["custom"] == "yes"
        assert doc["agent"] == http_client.USER_AGENT
        get = json.loads((await client.request("GET", url, timeout_s=WAIT_S)).body)
        assert get["method"] == "GET" and get["length"] == 0
        assert get["peer"] == doc["peer"], "the second request reuses the pooled connection"
        await client.close()


async def test_chunked_response_is_joined() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"one,", b"two,", b"three"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/", chunked)
    async with aiohttp_app(app) as server:
        client = HttpClient()
        resp = await client.request("GET", str(server.make_url("/")), timeout_s=WAIT_S)
        assert resp.status == 200 and resp.body == b"one,two,three"
        assert "chunked" in resp.header("transfer-encoding")
        await client.close()


async def test_close_delimited_body_and_interim_response() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: 1\r\nX-A: 2\r\n\r\nuntil the end")
        await writer.drain()

    async with RawServer(handler) as server:
        client = HttpClient()
        resp = await client.request("GET", server.url + "/", timeout_s=WAIT_S)
        assert (resp.status, resp.body, resp.header("x-a")) == (200, b"until the end", "1, 2")
        assert "link" not in resp.headers, "headers of the 1xx answer are not mixed in"
        resp = await client.request("GET", server.url + "/", timeout_s=WAIT_S)
        assert server.connections == 2, "a close-delimited answer's connection is never reused"
        await client.close()


async def test_reused_connection_closed_by_server_is_stale_and_a_new_one_works() -> None:
    """The freeze case, forced: the server answers once with keep-alive, then drops the
    connection when the next request arrives on it."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await read_request(reader)  # the second request on this connection: no answer

    async with RawServer(handler) as server:
        client = HttpClient()
        assert (await client.request("POST", server.url, body=b"1", timeout_s=WAIT_S)).body == b"ok"
        with pytest.raises(StaleConnectionError):
            await client.request("POST", server.url, body=b"2", timeout_s=WAIT_S)
        resp = await client.request("POST", server.url, body=b"3", timeout_s=WAIT_S, new_connection=True)
        assert resp.body == b"ok" and server.connections == 2
        await client.close()


async def test_fresh_connection_closed_without_answer_is_not_stale() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with RawServer(handler) as server:
        client = HttpClient()
        with pytest.raises(ConnectionClosedError):
            await client.request("POST", server.url, body=b"x", timeout_s=WAIT_S)
        await client.close()


async def test_truncated_body_is_an_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        await writer.drain()

    async with RawServer(handler) as server:
        client = HttpClient()
        with pytest.raises(ConnectionClosedError):
            await client.request("GET", server.url, timeout_s=WAIT_S)
        await client.close()


async def test_malformed_and_oversized_answers_are_protocol_errors() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
        await writer.drain()

    async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nxx"
        )
        await writer.drain()

    for handler in (garbage, large, upgrade):
        async with RawServer(handler) as server:
            client = HttpClient(max_body=1000)
            with pytest.raises(ProtocolError):
                await client.request("GET", server.url, timeout_s=WAIT_S)
            await server.wait_closed_count(1)  # the connection was not kept
            await client.close()


async def test_timeout_leaves_nothing_in_flight() -> None:
    arrived = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.set()
        await reader.read()  # until the client goes away

    async with RawServer(hang) as server:
        client = HttpClient()
        with pytest.raises(TimeoutError):
            await client.request("POST", server.url, body=b"x", timeout_s=0.2)
        assert arrived.is_set()
        await server.wait_closed_count(1)  # the client closed its end when the call returned
        await client.close()


async def test_cancellation_closes_the_connection() -> None:
    arrived = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.set()
        await reader.read()

    async with RawServer(hang) as server:
        client = HttpClient()
        task = asyncio.create_task(client.request("GET", server.url, timeout_s=None))
        async with asyncio.timeout(WAIT_S):
            await arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.wait_closed_count(1)
        await client.close()


async def test_connection_limit_per_origin() -> None:
    release = asyncio.Event()
    active = 0
    peak = 0
    both_in = asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active == 2:
            both_in.set()
        await release.wait()
        active -= 1
        return web.Response(text="done")

    app = web.Application()
    app.router.add_post("/", hold)
    async with aiohttp_app(app) as server:
        client = HttpClient(max_connections=2)
        url = str(server.make_url("/"))
        tasks = [asyncio.create_task(client.request("POST", url, timeout_s=WAIT_S)) for _ in range(4)]
        async with asyncio.timeout(WAIT_S):
            await both_in.wait()
        release.set()
        results = await asyncio.gather(*tasks)
        assert [r.body for r in results] == [b"done"] * 4
        assert peak == 2, "never more than max_connections requests at the server at once"
        await client.close()


async def test_gzip_request_body() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with RawServer(handler) as server:
        client = HttpClient()
        payload = b"compress me " * 100
        await client.request("POST", server.url, body=payload, gzip=True, timeout_s=WAIT_S)
        head, body = seen[0]
        assert b"\r\nContent-Encoding: gzip\r\n" in head
        assert gzip.decompress(body) == payload and len(body) < len(payload)
        await client.close()


async def test_gzip_response_is_decoded() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = gzip.compress(b'{"ok":true}')
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()

    async with RawServer(handler) as server:
        client = HttpClient()
        assert (await client.request("GET", server.url, timeout_s=WAIT_S)).body == b'{"ok":true}'
        await client.close()


async def test_connect_refused_is_a_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = HttpClient()
    with pytest.raises(ConnectError):
        await client.request("GET", f"http://127.0.0.1:{port}/", timeout_s=WAIT_S)
    await client.close()


async def test_bad_requests_are_refused_before_any_io() -> None:
    client = HttpClient()
    for url in ("ftp://x/", "not a url", "http://user:pw@host/"):
        with pytest.raises(InvalidRequestError):
            await client.request("GET", url, timeout_s=1)
    with pytest.raises(InvalidRequestError):
        await client.request("GET", "http://127.0.0.1:1/", headers={"X": "a\r\nInjected: 1"}, timeout_s=1)
    await client.close()


def test_split_url() -> None:
    assert split_url("https://h.example/v1/traces") == (Origin("https", "h.example", 443), "/v1/traces")
    assert split_url("http://[::1]:4318") == (Origin("http", "::1", 4318), "/")
    assert Origin("http", "::1", 4318).host_header == "[::1]:4318"
    assert Origin("https", "h", 443).host_header == "h"


async def test_tls_with_custom_ca_and_untrusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    cert, key = make_self_signed_cert(str(tmp_path))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")
            await writer.drain()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    monkeypatch.setattr(http_client, "_contexts", {})
    client = HttpClient()
    try:
        resp = await client.request("GET", url, cafile=cert, timeout_s=WAIT_S)
        assert resp.body == b"secure"
        with pytest.raises(TlsVerificationError):
            await client.request("GET", url, timeout_s=WAIT_S)
        assert set(http_client._contexts) == {cert, None}
    finally:
        await client.close()
        server.close()


async def test_plain_http_builds_no_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("TLS context built for plain http")

    monkeypatch.setattr(http_client, "_contexts", {})
    monkeypatch.setattr(ssl, "create_default_context", forbidden)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async with RawServer(handler) as server:
        client = HttpClient()
        assert (await client.request("DELETE", server.url, timeout_s=WAIT_S)).status == 204
        await client.close()


class ConnectProxy:
    """A minimal real CONNECT proxy: opens the tunnel, then copies bytes both ways."""

    def __init__(self, refuse: bool = False, aliases: dict[str, str] | None = None) -> None:
        self.refuse = refuse
        self.aliases = aliases or {}
        self.tunnels: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        if method != b"CONNECT" or self.refuse:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        self.tunnels.append(target)
        host, port = target.rsplit(b":", 1)
        name = host.decode().strip("[]")
        up_reader, up_writer = await asyncio.open_connection(self.aliases.get(name, name), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    @property
    def origin(self) -> Origin:
        assert self._server is not None
        return Origin("http", "127.0.0.1", self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


async def test_https_through_a_connect_proxy(tmp_path: Path) -> None:
    import ssl

    cert, key = make_self_signed_cert(str(tmp_path))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(head) + head)
        await writer.drain()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ConnectProxy() as proxy:
            client = HttpClient(proxy_for=lambda origin: proxy.origin)
            resp = await client.request("POST", f"https://127.0.0.1:{port}/x", cafile=cert, timeout_s=WAIT_S)
            assert resp.body.startswith(b"POST /x HTTP/1.1\r\n"), "origin-form inside the tunnel"
            assert proxy.tunnels == [f"127.0.0.1:{port}".encode()]
            await client.close()
        async with ConnectProxy(refuse=True) as proxy:
            client = HttpClient(proxy_for=lambda origin: proxy.origin)
            with pytest.raises(ProxyError) as info:
                await client.request("GET", f"https://127.0.0.1:{port}/", cafile=cert, timeout_s=WAIT_S)
            assert info.value.status == 403
            await client.close()
    finally:
        server.close()


async def test_http_through_a_proxy_uses_absolute_form() -> None:
    seen: list[bytes] = []

    async def proxy_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        seen.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with RawServer(proxy_handler) as proxy:
        proxy_origin = split_url(proxy.url)[0]
        client = HttpClient(proxy_for=lambda origin: proxy_origin)
        resp = await client.request("GET", "http://backend.invalid:8080/p?q=1", timeout_s=WAIT_S)
        assert resp.body == b"ok"
        assert seen[0].startswith(b"GET http://backend.invalid:8080/p?q=1 HTTP/1.1\r\n")
        assert b"\r\nHost: backend.invalid:8080\r\n" in seen[0]
        await client.close()


async def test_idle_connections_past_the_idle_timeout_are_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with RawServer(handler) as server:
        client = HttpClient(idle_timeout_s=0.0)  # every pooled connection is already too old
        for _ in range(3):
            assert (await client.request("GET", server.url, timeout_s=WAIT_S)).body == b"ok"
        assert server.connections == 3
        await server.wait_closed_count(2)  # the expired ones were closed, not leaked
        await client.close()
        await server.wait_closed_count(3)


async def test_waiting_for_a_connection_counts_against_the_timeout() -> None:
    arrived = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.set()
        await reader.read()

    async with RawServer(hang) as server:
        client = HttpClient(max_connections=1)
        first = asyncio.create_task(client.request("GET", server.url, timeout_s=None))
        async with asyncio.timeout(WAIT_S):
            await arrived.wait()
        with pytest.raises(TimeoutError):  # never got the only connection
            await client.request("GET", server.url, timeout_s=0.05)
        assert server.connections == 1
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await server.wait_closed_count(1)
        await client.close()


async def test_a_closed_client_refuses_requests() -> None:
    client = HttpClient()
    await client.close()
    with pytest.raises(HttpClientError):
        await client.request("GET", "http://127.0.0.1:9/", timeout_s=1)


async def test_missing_ca_bundle_is_an_invalid_request(tmp_path: Path) -> None:
    client = HttpClient()
    with pytest.raises(InvalidRequestError):
        await client.request(
            "GET", "https://127.0.0.1:9/", cafile=str(tmp_path / "none.pem"), timeout_s=WAIT_S
        )
    await client.close()
