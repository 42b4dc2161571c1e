"""Outbound HTTP/1.1 for every client in the extension, on plain asyncio streams.

Responses are parsed by httptools (the llhttp parser uvicorn uses): Content-Length, chunked and
read-until-close bodies, 1xx interim responses, keep-alive decisions. aiohttp's client cost about
260 ms of CPU and 25 MB to import on a cold start (docs/architecture.md); this module adds
httptools (~20 ms) on top of asyncio.

What callers rely on:

- `HttpClient.request(...)` sends one request within a total timeout (connect, TLS, send, read)
  and returns a `Response`, or raises `TimeoutError` or an `HttpClientError`. When it returns or
  raises (cancellation included), nothing of that request is left in flight: a connection that
  did not finish its exchange is aborted, never pooled.
- Connections are pooled per origin (scheme, host, port, CA bundle, proxy), at most
  `max_connections` open per origin; a caller waits for a free one within its timeout.
- `StaleConnectionError` means a *reused* keep-alive connection was found dead before any byte of
  the answer arrived: after a Lambda freeze the server or a NAT has often dropped pooled
  connections. It says nothing about the server; retry once with `new_connection=True`. The
  other idle connections of that origin are dropped at the same time.
- TLS: `ssl.create_default_context()` (or one trusting a given CA bundle) is built on the first
  https request, not at import, and shared by every client in the process.
- Proxies: a pool key carries the proxy its connections go through (`Route`); `proxy_for` (a
  function of the origin) chooses it, CONNECT tunnels carry https and absolute-form requests
  carry http (RFC 9110 §9.3.6, RFC 9112 §3.2.2).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:
    import ssl

USER_AGENT = "lambda-sidecar/0.1"
#: Per origin, as aiohttp's default connector limit was for our sessions.
DEFAULT_MAX_CONNECTIONS = 8
#: Larger answers are refused: our peers answer with small status documents.
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: An idle pooled connection older than this (wall clock: the monotonic clock stops while the
#: environment is frozen) is closed instead of reused: servers commonly drop idle keep-alive
#: connections after 5-60 s, and a freeze usually lasts longer than that.
DEFAULT_IDLE_TIMEOUT_S = 30.0
_READ_SIZE = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpClientError(Exception):
    """A request failed without a complete response."""


class InvalidRequestError(HttpClientError, ValueError):
    """The URL or a header cannot be sent (bad scheme, CR/LF in a header...): a caller's bug or a
    bad setting, not a network failure."""


class ConnectError(HttpClientError):
    """No connection to the server (or proxy): DNS, refused, unreachable, TLS handshake."""


class TlsVerificationError(ConnectError):
    """The server's certificate is not trusted (or does not match its name)."""


class ProxyError(ConnectError):
    """The proxy refused to open a tunnel (`status` is its answer, 0 when it sent none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class StaleConnectionError(HttpClientError):
    """A reused keep-alive connection was closed before any byte of the answer: retry once on a
    new connection (see the module docstring)."""


class ConnectionClosedError(HttpClientError):
    """The connection broke while sending or before the answer was complete."""


class ProtocolError(HttpClientError):
    """The answer is not valid HTTP/1.1 (or exceeds the size limit)."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str  # "http" | "https"
    host: str  # without IPv6 brackets
    port: int

    @property
    def authority(self) -> str:
        """`host:port` as a request target or Host header carries it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        if self.port == _DEFAULT_PORTS.get(self.scheme):
            return f"[{self.host}]" if ":" in self.host else self.host
        return self.authority


@dataclass(frozen=True, slots=True)
class Route:
    """How connections to an origin are made; the pool key."""

    origin: Origin
    cafile: str | None = None
    proxy: Origin | None = None


class Headers(Mapping[str, str]):
    """Response headers: names stored in lower case, looked up ignoring case (RFC 9110 §5.1);
    a repeated header's values joined with ", " (RFC 9110 §5.3)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Headers
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


def split_url(url: str) -> tuple[Origin, str]:
    """(origin, request target `/path?query`) of an http(s) URL; InvalidRequestError otherwise."""
    try:
        parsed = httptools.parse_url(url.encode())
    except (httptools.HttpParserInvalidURLError, UnicodeError) as exc:
        raise InvalidRequestError(f"invalid URL {url!r}") from exc
    scheme = (parsed.schema or b"").decode().lower()
    if scheme not in _DEFAULT_PORTS or not parsed.host:
        raise InvalidRequestError(f"not an http(s) URL: {url!r}")
    if parsed.userinfo:
        raise InvalidRequestError("credentials in the URL are not supported")
    target = (parsed.path or b"/").decode()
    if parsed.query:
        target += "?" + parsed.query.decode()
    host = parsed.host.decode().strip("[]")
    return Origin(scheme, host, parsed.port or _DEFAULT_PORTS[scheme]), target


_contexts: dict[str | None, ssl.SSLContext] = {}


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """The verifying context for `cafile` (None: the system's CAs), built once per process on
    first use; loading a CA store costs CPU and memory a plain-http configuration never needs."""
    context = _contexts.get(cafile)
    if context is None:
        import ssl

        context = ssl.create_default_context(cafile=cafile)
        _contexts[cafile] = context
    return context


def _check_header(name: str, value: str) -> None:
    if not name or any(c in name for c in ":\r\n\0 \t") or any(c in value for c in "\r\n\0"):
        raise InvalidRequestError(f"header {name!r} cannot be sent (control characters)")


def build_head(method: str, target: str, host: str, headers: Mapping[str, str] | None, length: int) -> bytes:
    """The request line and headers; Host, Content-Length and User-Agent are set here unless the
    caller gives them (Host and Content-Length from the caller are ignored)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    seen_agent = False
    for name, value in (headers or {}).items():
        _check_header(name, value)
        lower = name.lower()
        if lower in ("host", "content-length", "transfer-encoding", "connection"):
            continue
        seen_agent = seen_agent or lower == "user-agent"
        lines.append(f"{name}: {value}")
    if not seen_agent:
        lines.append(f"User-Agent: {USER_AGENT}")
    if length or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _ResponseParser:
    """httptools callbacks collecting one final (non-1xx) response."""

    def __init__(self, max_body: int) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._max_body = max_body
        self.started = False  # any byte of an answer arrived
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.complete = False
        self.framed = False  # Content-Length or chunked (else: the body ends at EOF)
        self.keep_alive = False
        self.extra = False  # bytes after the response: the connection cannot be reused

    def feed(self, data: bytes) -> None:
        self.started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            raise ProtocolError(str(exc.__context__ or exc)) from exc
        except httptools.HttpParserError as exc:
            raise ProtocolError(f"invalid HTTP response: {exc}") from exc
        except httptools.HttpParserUpgrade as exc:  # we never ask to switch protocols
            raise ProtocolError("unexpected protocol upgrade") from exc

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True
        self.headers = {}
        self.chunks, self.size = [], 0

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if self.status >= 200:
            self.headers_done = True
            chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
            self.framed = chunked or "content-length" in self.headers or self.status in (204, 304)

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self._max_body:
            raise ProtocolError(f"response body larger than {self._max_body} bytes")
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:  # 1xx interim response: the final one follows
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()

    def response(self) -> Response:
        body = b"".join(self.chunks)
        encoding = self.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate") and body:
            import zlib

            try:
                body = zlib.decompress(body, 47 if "gzip" in encoding else 15)
            except zlib.error as exc:
                raise ProtocolError(f"cannot decode {encoding} body") from exc
        return Response(self.status, Headers(self.headers), body)


class _Connection:
    __slots__ = ("idle_since", "reader", "requests", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.requests = 0
        self.idle_since = 0.0

    def usable(self, now: float, idle_timeout_s: float) -> bool:
        return (
            not self.writer.transport.is_closing()
            and not self.reader.at_eof()
            and now - self.idle_since < idle_timeout_s
        )

    def abort(self) -> None:
        """Close at once (no TLS close_notify exchange left running after we return)."""
        self.writer.transport.abort()

    async def exchange(self, head: bytes, body: bytes, max_body: int) -> tuple[Response, bool]:
        """Send one request and read its response: (response, connection reusable)."""
        reused = self.requests > 0
        self.requests += 1
        try:
            self.writer.writelines((head, body))
            await self.writer.drain()
        except OSError as exc:
            kind = StaleConnectionError if reused else ConnectionClosedError
            raise kind(f"connection lost while sending ({type(exc).__name__})") from exc
        parser = _ResponseParser(max_body)
        while not parser.complete:
            try:
                data = await self.reader.read(_READ_SIZE)
            except OSError as exc:
                if reused and not parser.started:
                    raise StaleConnectionError(f"pooled connection broken ({type(exc).__name__})") from exc
                raise ConnectionClosedError(f"connection lost ({type(exc).__name__})") from exc
            if not data:
                if parser.headers_done and not parser.framed:
                    break  # the body is delimited by the end of the connection
                if reused and not parser.started:
                    raise StaleConnectionError("pooled connection closed by the server")
                raise ConnectionClosedError("connection closed before the response was complete")
            parser.feed(data)
        reusable = parser.complete and parser.keep_alive and not parser.extra
        return parser.response(), reusable


class _Pool:
    __slots__ = ("idle", "slots")

    def __init__(self, limit: int) -> None:
        self.idle: deque[_Connection] = deque()
        self.slots = asyncio.Semaphore(limit)

    def take(self, idle_timeout_s: float) -> _Connection | None:
        now = time.time()
        while self.idle:
            conn = self.idle.pop()  # most recently used first: the likeliest to be alive
            if conn.usable(now, idle_timeout_s):
                return conn
            conn.abort()
        return None

    def purge(self) -> None:
        while self.idle:
            self.idle.pop().abort()


class HttpClient:
    """A pooled HTTP/1.1 client (one per component); construction does no I/O.

    `proxy_for(origin)` returns the proxy to reach `origin` through, or None (direct);
    `proxy_headers` are sent to that proxy (in CONNECT, and with absolute-form requests)."""

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_body: int = DEFAULT_MAX_BODY,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        proxy_for: Callable[[Origin], Origin | None] | None = None,
        proxy_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._limit = max(1, max_connections)
        self._max_body = max_body
        self._idle_timeout_s = idle_timeout_s
        self._proxy_for = proxy_for
        self._proxy_headers = dict(proxy_headers or {})
        self._pools: dict[Route, _Pool] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout_s: float | None,
        gzip: bool = False,
        cafile: str | None = None,
        new_connection: bool = False,
    ) -> Response:
        """One request within `timeout_s` (None: no limit, for long polls). `gzip=True` compresses
        the body and says so in Content-Encoding. Raises TimeoutError, HttpClientError."""
        if self._closed:
            raise HttpClientError("client is closed")
        origin, target = split_url(url)
        route = Route(origin, cafile if origin.scheme == "https" else None, self._proxy(origin))
        if route.proxy is not None and origin.scheme == "http":
            target = f"http://{origin.host_header}{target}"  # absolute form through a proxy
            if self._proxy_headers:
                headers = {**(headers or {}), **self._proxy_headers}
        if gzip:
            import zlib

            compressor = zlib.compressobj(5, zlib.DEFLATED, 31)  # 31: gzip container, mtime 0
            body = compressor.compress(body) + compressor.flush()
            headers = {**(headers or {}), "Content-Encoding": "gzip"}
        head = build_head(method.upper(), target, origin.host_header, headers, len(body))
        async with asyncio.timeout(timeout_s):
            return await self._send(route, head, body, new_connection)

    def _proxy(self, origin: Origin) -> Origin | None:
        return self._proxy_for(origin) if self._proxy_for is not None else None

    async def _send(self, route: Route, head: bytes, body: bytes, new_connection: bool) -> Response:
        pool = self._pools.get(route)
        if pool is None:
            pool = self._pools[route] = _Pool(self._limit)
        async with pool.slots:
            conn = None if new_connection else pool.take(self._idle_timeout_s)
            if conn is None:
                conn = await _dial(route, self._proxy_headers)
            try:
                response, reusable = await conn.exchange(head, body, self._max_body)
            except StaleConnectionError:
                conn.abort()
                pool.purge()  # its siblings idled through the same freeze
                raise
            except BaseException:  # cancellation and timeouts included: never pool a half exchange
                conn.abort()
                raise
            if reusable and not self._closed:
                conn.idle_since = time.time()
                pool.idle.append(conn)
            else:
                conn.abort()
            return response

    async def close(self) -> None:
        """Close every idle connection; requests still running close theirs when they end."""
        self._closed = True
        for pool in self._pools.values():
            pool.purge()
        self._pools.clear()


async def _dial(route: Route, proxy_headers: Mapping[str, str] | None = None) -> _Connection:
    """A new connection for `route`: TCP, then a CONNECT tunnel and/or TLS as needed."""
    origin, first_hop = route.origin, route.proxy or route.origin
    tls = origin.scheme == "https"
    direct_tls = tls and route.proxy is None
    try:
        context = tls_context(route.cafile) if tls else None
    except OSError as exc:  # ssl.SSLError included: a missing or malformed CA bundle
        raise InvalidRequestError(
            f"cannot load the CA bundle {route.cafile!r} ({type(exc).__name__})"
        ) from exc
    try:
        if direct_tls:
            reader, writer = await asyncio.open_connection(
                first_hop.host, first_hop.port, ssl=context, server_hostname=origin.host
            )
        else:
            reader, writer = await asyncio.open_connection(first_hop.host, first_hop.port)
    except OSError as exc:
        raise _connect_error(exc, first_hop, tls=direct_tls) from exc
    conn = _Connection(reader, writer)
    if route.proxy is not None and context is not None:
        try:
            await _open_tunnel(conn, origin, proxy_headers)
            await writer.start_tls(context, server_hostname=origin.host)
        except OSError as exc:
            conn.abort()
            raise _connect_error(exc, origin, tls=True) from exc
        except BaseException:
            conn.abort()
            raise
    return conn


async def _open_tunnel(conn: _Connection, origin: Origin, headers: Mapping[str, str] | None = None) -> None:
    """CONNECT `origin` through the proxy `conn` is connected to (RFC 9110 §9.3.6)."""
    head = f"CONNECT {origin.authority} HTTP/1.1\r\nHost: {origin.authority}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    conn.writer.write(f"{head}User-Agent: {USER_AGENT}\r\n\r\n".encode("latin-1"))
    await conn.writer.drain()
    try:
        # A 2xx to CONNECT has no body and the tunnel starts right after the head, so only the
        # head is given to the parser (it cannot know the request was a CONNECT).
        raw = await conn.reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ProxyError("proxy closed the connection without answering CONNECT") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProxyError("proxy answer to CONNECT too large") from exc
    parser = _ResponseParser(0)
    parser.feed(raw)
    if not 200 <= parser.status < 300:
        raise ProxyError(f"proxy refused CONNECT {origin.authority}: HTTP {parser.status}", parser.status)


def _connect_error(exc: OSError, where: Origin, *, tls: bool) -> ConnectError:
    if tls:
        import ssl

        if isinstance(exc, ssl.SSLCertVerificationError):
            return TlsVerificationError(f"certificate of {where.host} not trusted: {exc.verify_message}")
    return ConnectError(f"cannot connect to {where.authority}: {type(exc).__name__}")
