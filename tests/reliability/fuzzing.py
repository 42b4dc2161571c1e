"""Hypothesis strategies for the local HTTP endpoints, and the servers run in-process for fuzzing.

Requests are framed correctly (a valid request line and Content-Length) but everything inside is
generated: method, path (known routes and garbage, percent-escapes), query string, header names
and values (including the token header with the right, a wrong and a wrong-case value), content
type and body (binary, JSON of any shape, deep nesting). A request is sent as raw bytes, so
nothing a client library would normalise is hidden from the server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import string
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from hypothesis import strategies as st

from extension.cache import server as cache_server
from tests.reliability.support import http_raw

T = TypeVar("T")
TOKEN = "fuzz-session-token"
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"

_TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
_PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%"
_QUERY_CHARS = _PATH_CHARS + "?"
KNOWN_PATHS = [
    "/telemetry",
    "/",
    "/ping",
    "/secretsmanager/get",
    "/systemsmanager/parameters/get",
    "/systemsmanager/parameters/get/",
    "/v1/",
    "/v1/my%2Fsecret",
    "/sidecar/v1/batch",
    "/applications/app/environments/env/configurations/profile",
    "/applications/a%2Fb/environments/%00/configurations/..",
]
KNOWN_PARAMS = sorted(cache_server.KNOWN_PARAMS | {"flag"})  # flag: the 2772 feature-flag filter
_SKIP_HEADERS = {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
telemetry_like = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "time": st.one_of(st.text(max_size=30), st.just("2026-01-01T00:00:00.000Z"), json_values),
            "type": st.one_of(
                st.sampled_from(["function", "extension", "platform.start", "platform.report", "platform.x"]),
                json_values,
            ),
            "record": json_values,
        },
    ),
    max_size=5,
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=512),
    json_values.map(lambda v: json.dumps(v).encode()),
    telemetry_like.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=50_000).map(lambda n: b"[" * n + b"]" * n),
)
paths = st.one_of(
    st.sampled_from(KNOWN_PATHS),
    st.text(alphabet=_PATH_CHARS, max_size=60).map(lambda p: "/" + p),
    st.tuples(st.sampled_from(KNOWN_PATHS), st.text(alphabet=_PATH_CHARS, max_size=30)).map("".join),
)
queries = st.one_of(
    st.just(""),
    st.lists(
        st.tuples(
            st.sampled_from(KNOWN_PARAMS) | st.text(alphabet=_QUERY_CHARS, max_size=10),
            st.text(alphabet=_QUERY_CHARS, max_size=40),
        ),
        max_size=6,
    ).map(lambda kv: "&".join(f"{k}={v}" for k, v in kv)),
    st.text(alphabet=_QUERY_CHARS + "=&", max_size=80),
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=120
).map(str.strip)
headers = st.dictionaries(
    st.text(alphabet=_TCHAR, min_size=1, max_size=24).filter(lambda n: n.lower() not in _SKIP_HEADERS),
    header_values,
    max_size=6,
)
tokens = st.sampled_from([None, TOKEN, TOKEN.upper(), "wrong", ""])
token_header_names = st.sampled_from([TOKEN_HEADER, TOKEN_HEADER.lower(), TOKEN_HEADER.upper()])
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "json; charset=utf-16",
        "*/*",
    ]
)
_METHODS = ["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"]
#: Mostly real methods (the HTTP parser rejects unknown ones before our code runs), some garbage.
methods = st.integers(0, 9).flatmap(
    lambda i: (
        st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=10)
        if i == 0
        else st.sampled_from(_METHODS)
    )
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    """(method, target, headers, body) of one generated request."""
    method = draw(methods)
    query = draw(queries)
    target = draw(paths) + (f"?{query}" if query else "")
    hdrs = dict(draw(headers))
    token = draw(tokens)
    if token is not None:
        hdrs[draw(token_header_names)] = token
    if draw(st.integers(0, 7)) == 0:
        hdrs[draw(st.sampled_from(["X-Forwarded-For", "x-forwarded-for"]))] = draw(header_values)
    ctype = draw(content_types)
    if ctype:
        hdrs["Content-Type"] = ctype
    body = draw(bodies) if method not in ("GET", "HEAD") or draw(st.booleans()) else b""
    return method, target, hdrs, body


def send(
    port: int, method: str, target: str, hdrs: dict[str, str], body: bytes, timeout: float = 10.0
) -> int:
    """Send one request as raw bytes; returns the status (0: connection closed without one)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    status, _ = http_raw(port, raw, timeout)
    return status


class LoopThread:
    """An asyncio loop in a daemon thread, to run the extension's servers next to sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock
