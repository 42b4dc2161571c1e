"""A blocking HTTP/1.1 client on a plain socket, for the start-up fast path (standard library only).

Lambda starts the runtime only after every extension has registered, and ends init only when
every extension waits in `/event/next`: what the extension imports before those two calls is
paid by every cold start. So registration, the Telemetry API subscription and the first
`/event/next` speak HTTP/1.1 through this module, one request per connection
(`Connection: close`), instead of `http.client`, which pulls in `email`, `ssl` and friends
(~30 ms of imports on a busy 2-core machine, see docs/benchmarks.md), or the asyncio client in
`extension.http.client`, which needs `asyncio` and `httptools`.
"""

from __future__ import annotations

import socket

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy honours the name)
if TYPE_CHECKING:
    from typing import Protocol

    class Readable(Protocol):
        """What `read_response` needs of a socket; lets it parse bytes already received."""

        def recv(self, size: int, /) -> bytes: ...


_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024


def request(
    address: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float | None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange on a fresh connection: (status, lower-cased headers, body).

    Raises OSError (ConnectionError for a malformed or truncated answer, TimeoutError after
    `timeout` seconds of silence) and ValueError for a header value with a line break."""
    with connect(address, timeout) as sock:
        sock.sendall(build_request(address, method, path, body, headers))
        return read_response(sock)


def connect(address: str, timeout: float | None) -> socket.socket:
    """A connection to `address` ("host:port", as AWS_LAMBDA_RUNTIME_API gives it)."""
    host, _, port = address.partition(":")
    return socket.create_connection((host, int(port or 80)), timeout=timeout)


def build_request(address: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    """The bytes of one HTTP/1.1 request asking the server to close the connection after answering."""
    payload = body or b""
    head = [f"{method} {path} HTTP/1.1", f"Host: {address}", "Connection: close"]
    head.append(f"Content-Length: {len(payload)}")
    for key, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key:
            raise ValueError(f"invalid header {key!r}")
        head.append(f"{key}: {value}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload


def read_response(sock: socket.socket | Readable) -> tuple[int, dict[str, str], bytes]:
    """Read one answer to the end: (status, lower-cased headers, body); ConnectionError if malformed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection without a complete answer")
        data += chunk
        if len(data) > _MAX_HEAD and b"\r\n\r\n" not in data:
            raise ConnectionError("oversized HTTP header from the server")
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectionError(f"malformed HTTP status line from the server: {lines[0][:80]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return status, headers, _read_chunked(sock, rest)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > _MAX_BODY:
            raise ConnectionError(f"bad Content-Length from the server: {length[:20]!r}")
        want = int(length)
        while len(rest) < want:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection in the middle of the body")
            rest += chunk
        return status, headers, rest[:want]
    while len(rest) <= _MAX_BODY:  # no length: the body ends when the server closes (we asked it to)
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


def _read_chunked(sock: socket.socket | Readable, buffered: bytes) -> bytes:
    data, body = buffered, b""

    def need(n: int) -> None:
        nonlocal data
        while len(data) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection in a chunked body")
            data += chunk

    while True:
        while b"\r\n" not in data:
            need(len(data) + 1)
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            raise ConnectionError("malformed chunk size from the server") from None
        if size == 0:
            return body
        if len(body) + size > _MAX_BODY:
            raise ConnectionError("oversized chunked body from the server")
        need(size + 2)
        body += data[:size]
        data = data[size + 2 :]
