"""A small HTTP/1.1 server on plain asyncio: `httptools` (llhttp) parses, this module only frames.

Serves one handler, `async (Request) -> Response`, on a socket bound before `/register` (see
`extension/cache/sockets.py`): connections that arrived earlier wait in the backlog and are served
as soon as `start()` runs. What it guarantees to every listener built on it:

* keep-alive and pipelining (answers in request order, one handler call at a time per connection);
* a body limit answered 413 from the headers (Content-Length) or as soon as a chunked body passes
  it, without parsing or keeping the rest; the connection is then closed (after a bounded
  linger that discards what the client is still sending, so it can read the answer);
* a request-read timeout (headers, then body) so a slow client cannot hold a connection (issue
  18), a longer idle timeout between keep-alive requests, and a cap on open connections (503);
* request line and headers bounded (431 beyond MAX_HEAD_BYTES); malformed requests answered 400
  and closed; a handler that raises answered 500 with a fixed
  body (never a traceback) and counted;
* `shutdown(deadline_s)`: stop accepting, let requests in progress finish until the deadline,
  then close everything.

It never logs per request (our own log lines come back to us as `extension` telemetry records);
every rejection is counted in `Stats` under the listener's counter (`telemetry_rejected`,
`cache_rejected`, ...) with the reason as label: `malformed`, `bad_target`, `too_large`,
`headers_too_large`, `read_timeout`, `connections`, `shutdown_deadline`.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import httptools

from extension.http.messages import Headers, Request, Response
from extension.log import get_logger
from extension.stats import Stats

Handler = Callable[[Request], Awaitable[Response]]

#: Seconds a client has to send a request's headers (from connecting, or from its first byte on
#: a kept-alive connection), and then again for its body.
READ_TIMEOUT_S = 10.0
#: Seconds an idle kept-alive connection stays open between requests (aiohttp's default was 75 s;
#: Lambda's Telemetry API client reuses its connection between batches).
KEEPALIVE_TIMEOUT_S = 75.0
#: Open connections per listener beyond which new ones get 503 and are closed.
MAX_CONNECTIONS = 256
#: Parsed requests waiting behind the one being handled before the server stops reading.
MAX_PIPELINED = 16
#: Bytes of a request line and headers beyond which the request is answered 431 (llhttp itself
#: sets no bound, and a header value grows in memory until it ends).
MAX_HEAD_BYTES = 64 * 1024
#: Bytes discarded after a rejection (see `_Connection._linger`) before the connection is reset.
LINGER_MAX_BYTES = 16 * 1024 * 1024

_log = get_logger("http")


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def _header_line(name: str, value: str) -> bytes:
    if any(c in name for c in "\r\n:") or "\r" in value or "\n" in value:
        raise ValueError(f"header {name!r} cannot be sent (line break)")  # never the value
    return f"{name}: {value}".encode()


def encode_response(response: Response, *, keep_alive: bool, head: bool = False) -> bytes:
    """Status line, headers and body of one HTTP/1.1 response; ValueError for a header that would
    split the response (a line break in a name or value)."""
    lines = [b"HTTP/1.1 %d %s" % (response.status, _reason(response.status))]
    if response.content_type is not None:
        lines.append(_header_line("Content-Type", response.content_type))
    lines.append(b"Content-Length: %d" % len(response.body))
    lines.extend(_header_line(name, value) for name, value in response.headers.items())
    lines.append(b"Connection: keep-alive" if keep_alive else b"Connection: close")
    head_bytes = b"\r\n".join(lines) + b"\r\n\r\n"
    return head_bytes if head else head_bytes + response.body


def _plain(status: int, text: str) -> Response:
    return Response.text(text, status)


class HttpServer:
    """Lifecycle: construct (no I/O) → `await start(sock)` → `await shutdown(deadline_s)`."""

    def __init__(
        self,
        handler: Handler,
        *,
        name: str,
        stats: Stats,
        max_body: int,
        counter: str = "http_rejected",
        max_connections: int = MAX_CONNECTIONS,
        read_timeout_s: float = READ_TIMEOUT_S,
        keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    ) -> None:
        self.handler = handler
        self.name = name
        self.stats = stats
        self.max_body = max_body
        self.counter = counter
        self.max_connections = max_connections
        self.read_timeout_s = read_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.connections: set[_Connection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None
        self._all_closed: asyncio.Event | None = None

    async def start(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._all_closed = asyncio.Event()
        self._server = await loop.create_server(lambda: _Connection(self), sock=sock)

    def reject(self, reason: str) -> None:
        self.stats.add(self.counter, label=reason)

    def forget(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()

    async def shutdown(self, deadline: float) -> None:
        """Stop accepting, finish requests in progress until `deadline` (loop time), then close.
        Idempotent; does nothing before `start`."""
        if self._server is None:
            return
        server, self._server = self._server, None
        self.closing = True
        server.close()
        for conn in list(self.connections):
            conn.close_when_idle()
        if self.connections and self._all_closed is not None:
            self._all_closed.clear()
            try:
                remaining = deadline - asyncio.get_running_loop().time()
                await asyncio.wait_for(self._all_closed.wait(), max(0.0, remaining))
            except TimeoutError:
                self.reject("shutdown_deadline")
        for conn in list(self.connections):
            conn.abort()
        await asyncio.sleep(0)  # let connection_lost run for the aborted transports
        try:
            await asyncio.wait_for(server.wait_closed(), 1.0)
        except TimeoutError:
            pass


class _Connection(asyncio.Protocol):
    """One client connection: feeds bytes to llhttp, queues complete requests, answers in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: (complete request, keep-alive) in arrival order; a Response is the server's own
        #: rejection, sent before closing.
        self._queue: deque[tuple[Request | Response, bool]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._paused = False
        self._closing = False
        self._in_message = False
        # The message being parsed:
        self._url = b""
        self._fields: list[tuple[str, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False
        self._idle_timer = False
        self._lingering = False
        self._discarded = 0
        self._eof = False
        self._reading_head = True
        self._head_bytes = 0

    # ---- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        server = self._server
        if server.closing or len(server.connections) >= server.max_connections:
            server.reject("connections")
            self._closing = True
            transport.write(encode_response(_plain(503, "too many connections"), keep_alive=False))
            transport.close()
            return
        server.connections.add(self)
        self._arm(server.read_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._disarm()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._server.forget(self)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._discarded += len(data)
            if self._discarded > LINGER_MAX_BYTES:
                self.abort()
            return
        if self._closing:
            return
        if self._reading_head:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No protocol switch here: answer the request as plain HTTP, then close (what follows
            # on the connection would be another protocol).
            self._closing = True
            if self._queue and not self._in_message:
                self._queue[-1] = (self._queue[-1][0], False)
            else:
                self._server.reject("malformed")
                self._queue.append((_bad_request(), False))
        except httptools.HttpParserError:
            self._server.reject("malformed")
            self._queue.append((_bad_request(), False))
            self._closing = True
        if self._too_large and not self._closing:
            self._server.reject("too_large")
            self._queue.append((_too_large(), False))
            self._closing = True
        if self._reading_head and self._head_bytes > MAX_HEAD_BYTES and not self._closing:
            self._server.reject("headers_too_large")
            self._queue.append((_plain(431, "request headers too large"), False))
            self._closing = True
        if self._closing:
            self._disarm()
        if len(self._queue) > MAX_PIPELINED and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._kick()

    # ---- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = b""
        self._fields = []
        self._body = []
        self._body_size = 0
        if self._timer is None or self._idle_timer:  # else the connection's first allowance runs
            self._arm(self._server.read_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name.decode("latin-1").lower(), value))

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._arm(self._server.read_timeout_s)  # a fresh allowance for the body
        length = Headers(self._fields).raw("content-length")
        if length is not None and length.strip().isdigit() and int(length) > self._server.max_body:
            self._too_large = True
            return
        expect = Headers(self._fields).raw("expect")
        if expect is not None and expect.lower() == b"100-continue" and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._body_size += len(body)
        if self._body_size > self._server.max_body:
            self._too_large = True
            self._body = []
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._reading_head, self._head_bytes = True, 0
        if self._too_large or self._closing:
            return
        self._disarm()  # handlers bound their own time; the next request re-arms on its first byte
        self._queue.append((self._request(), bool(self._parser.should_keep_alive())))

    # ---- answering ---------------------------------------------------------------------------

    def _request(self) -> Request | Response:
        method = self._parser.get_method().decode("ascii", "replace")
        try:
            url = httptools.parse_url(self._url)
            path = (url.path or b"/").decode("utf-8")
            query = (url.query or b"").decode("utf-8")
        except (httptools.HttpParserError, UnicodeDecodeError):
            self._server.reject("bad_target")
            return _plain(400, "bad request target")
        return Request(method, path, query, Headers(self._fields), b"".join(self._body))

    def _kick(self) -> None:
        if self._queue and (self._task is None or self._task.done()):
            self._task = self._loop.create_task(self._answer_queue())

    async def _answer_queue(self) -> None:
        while self._queue and self._transport is not None:
            item, keep_alive = self._queue.popleft()
            if isinstance(item, Response):  # rejected by the server itself: close after it
                self._write(item, keep_alive=False, head=False)
                self._linger()
                return
            response = await self._call(item)
            keep_alive = keep_alive and not self._server.closing and not (self._eof and not self._queue)
            head = item.method == "HEAD"
            try:
                data = encode_response(response, keep_alive=keep_alive, head=head)
            except (ValueError, UnicodeError) as exc:
                data = encode_response(self._failed(exc), keep_alive=keep_alive, head=head)
            if not self._transport.is_closing():
                self._transport.write(data)
            if not keep_alive:
                self._close()
                return
            if self._paused and len(self._queue) <= MAX_PIPELINED // 2:
                self._paused = False
                self._transport.resume_reading()
        if not self._closing and not self._in_message:
            self._arm(self._server.keepalive_timeout_s, idle=True)

    async def _call(self, request: Request) -> Response:
        try:
            return await self._server.handler(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a listener must never take the extension down
            return self._failed(exc)

    def _failed(self, exc: Exception) -> Response:
        self._server.stats.add("internal_errors", label=f"http_{self._server.name}")
        _log.error("%s listener: handler failed (%s)", self._server.name, type(exc).__name__)
        _log.debug("handler failure", exc_info=exc)
        return _plain(500, "internal error")

    def _write(self, response: Response, *, keep_alive: bool, head: bool) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_response(response, keep_alive=keep_alive, head=head))

    # ---- closing and timeouts ------------------------------------------------------------

    def close_when_idle(self) -> None:
        """Shutdown: close now if nothing is in progress, else after the current answer."""
        busy = (self._task is not None and not self._task.done()) or self._in_message
        if not busy:
            self._close()

    def _close(self) -> None:
        self._closing = True
        self._disarm()
        if self._transport is not None:
            self._transport.close()

    def _linger(self) -> None:
        """Close after a rejection while the client may still be sending (a body over the limit):
        send our FIN, then discard what arrives (never parsed nor kept) until the client closes,
        for at most one read timeout and LINGER_MAX_BYTES. Closing at once would make the kernel
        reset the connection over the unread bytes, and the client could lose our answer."""
        transport = self._transport
        if transport is None or not transport.can_write_eof():
            self._close()
            return
        self._closing = self._lingering = True
        transport.write_eof()
        if self._paused:
            self._paused = False
            transport.resume_reading()
        self._arm(self._server.read_timeout_s, idle=True)

    def eof_received(self) -> bool:
        """The client will send nothing more: answer what it already sent, then close."""
        self._eof = True
        busy = bool(self._queue) or (self._task is not None and not self._task.done())
        return busy and not self._lingering

    def abort(self) -> None:
        self._closing = True
        self._disarm()
        if self._transport is not None:
            self._transport.abort()

    def _arm(self, delay_s: float, *, idle: bool = False) -> None:
        self._disarm()
        self._idle_timer = idle
        self._timer = self._loop.call_later(delay_s, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if not self._idle_timer:
            self._server.reject("read_timeout")
        self.abort()


def _bad_request() -> Response:
    return _plain(400, "malformed HTTP request")


def _too_large() -> Response:
    return _plain(413, "request body too large")
