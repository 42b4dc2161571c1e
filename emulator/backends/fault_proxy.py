"""An HTTP proxy in front of an AWS endpoint (moto, the AppConfig test server) that injects faults.

Point the extension's `AWS_ENDPOINT_URL` at `proxy.url`; every request is forwarded to the
upstream unless a fault is queued for it. Faults: AWS throttling (400 ThrottlingException or 429),
5xx, any AWS error, added latency, and connection resets. `proxy.counts` counts the requests that
reached the proxy per operation (`X-Amz-Target`, or `METHOD /path` for REST APIs), which is how
tests check single-flight and batching from the outside.

Runs in a background thread (stdlib `ThreadingHTTPServer`), so it works for in-process tests and
for an extension running in another process.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from emulator.backends.background_http import BackgroundHttpServer


@dataclass
class Fault:
    """What to do instead of (or before) forwarding one request."""

    status: int = 0  # 0: forward to the upstream
    code: str = ""
    message: str = ""
    delay_s: float = 0.0
    reset: bool = False  # close the connection with RST, no answer

    @staticmethod
    def throttle(status: int = 400) -> Fault:
        return Fault(status, "ThrottlingException", "Rate exceeded")

    @staticmethod
    def server_error(status: int = 500) -> Fault:
        return Fault(status, "InternalServiceError", "injected server error")

    @staticmethod
    def error(status: int, code: str, message: str) -> Fault:
        return Fault(status, code, message)

    @staticmethod
    def latency(seconds: float) -> Fault:
        return Fault(delay_s=seconds)

    @staticmethod
    def connection_reset() -> Fault:
        return Fault(reset=True)


class FaultProxy(BackgroundHttpServer):
    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.counts: Counter[str] = Counter()
        self.latency_s = 0.0  # added to every forwarded request
        self._queue: list[tuple[Fault, str | None]] = []
        self._persistent: tuple[Fault, str | None] | None = None
        self._lock = threading.Lock()
        super().__init__()

    def inject(self, fault: Fault, times: int = 1, match: str | None = None) -> None:
        """Apply `fault` to the next `times` requests whose operation contains `match` (any if None)."""
        with self._lock:
            self._queue.extend([(fault, match)] * times)

    def always(self, fault: Fault | None, match: str | None = None) -> None:
        """Apply `fault` to every matching request until cleared with `always(None)`."""
        with self._lock:
            self._persistent = (fault, match) if fault else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._persistent = None
            self.latency_s = 0.0

    def total(self, match: str = "") -> int:
        return sum(n for op, n in self.counts.items() if match in op)

    def _take(self, operation: str) -> Fault | None:
        with self._lock:
            self.counts[operation] += 1
            for i, (fault, match) in enumerate(self._queue):
                if match is None or match in operation:
                    del self._queue[i]
                    return fault
            if self._persistent and (self._persistent[1] is None or self._persistent[1] in operation):
                return self._persistent[0]
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = self.headers.get("X-Amz-Target") or f"{self.command} {self.path.split('?')[0]}"
                fault = proxy._take(operation)
                delay = proxy.latency_s + (fault.delay_s if fault else 0.0)
                if delay:
                    time.sleep(delay)
                if fault and fault.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                if fault and fault.status:
                    payload = json.dumps({"__type": fault.code, "message": fault.message}).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("x-amzn-ErrorType", fault.code)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                    try:
                        conn.request(self.command, self.path, body=body, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                    except OSError:  # upstream gone (e.g. stopped while a delayed request slept)
                        self.close_connection = True
                        return
                    self.send_response(resp.status)
                    for key, value in resp.getheaders():
                        if key.lower() not in (
                            "content-length",
                            "transfer-encoding",
                            "connection",
                            "date",
                            "server",
                        ):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = _relay

        return Handler
