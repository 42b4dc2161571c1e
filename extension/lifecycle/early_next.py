"""The first `/event/next`, sent before the heavy imports (standard library only).

Lambda ends init when every extension is in `/event/next`. Our application (aiohttp, protobuf,
the pipeline) takes a few hundred milliseconds of CPU to import in Python — longer than a small
function's whole init. So the fast path subscribes to the Telemetry API and sends the first
`/event/next` request on a plain socket right after `/register`, without reading the answer;
init can end while we are still importing. The answer (the first INVOKE, or SHUTDOWN) is read
from that socket by the event loop once the application runs.

Nothing is left half-done by a freeze in between: the request has been sent in full, the
listener and cache sockets are bound and listening (Lambda's telemetry POSTs and the function's
first cache reads queue in their backlogs and are served as soon as the loop starts), and the
import itself is local CPU work that simply resumes at the next thaw.
"""

from __future__ import annotations

import socket

from extension.http.blocking import build_request, connect, read_response
from extension.lifecycle.registration import API_PREFIX


def send_next(runtime_api: str, extension_id: str) -> socket.socket:
    """Send GET /event/next and return the socket the answer will arrive on (not read yet)."""
    sock = connect(runtime_api, timeout=10.0)
    try:
        headers = {"Lambda-Extension-Identifier": extension_id}
        sock.sendall(build_request(runtime_api, "GET", f"{API_PREFIX}/event/next", None, headers))
    except OSError:
        sock.close()
        raise
    return sock


class _Replay:
    """Serves bytes already received as if from a socket, for `read_response`."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def recv(self, size: int, /) -> bytes:
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk


async def receive(sock: socket.socket) -> tuple[int, bytes]:
    """Wait (no timeout: a long poll across freezes) for the answer; (status, body)."""
    import asyncio

    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    data = bytearray()
    try:
        while chunk := await loop.sock_recv(sock, 65536):
            data += chunk  # we asked for `Connection: close`: the answer ends at EOF
    finally:
        sock.close()
    status, _, body = read_response(_Replay(bytes(data)))
    return status, body
