"""Wraps an unchanged sample function so the demo can show what its cache reads got.

The sample functions read secrets and flags the way users do (plain urllib or requests) and do
not print the `X-Cache` header the extension answers with. The demo copies this file next to the
sample's `app.py` and uses `demo_cache_probe.handler` as the handler: before importing `app`
(whose module-level code reads at cold start), it hooks `http.client` so every call to the
extension's local ports prints one line `demo-cache-read {json}` with the path, the identifiers
in the query (names, never values), the status, `X-Cache`, `Age` and the time to the answer's
headers. The response body (the secret) is never looked at. Standard library only: this runs
inside the function's runtime.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

MARKER = "demo-cache-read"
_QUERY_KEYS = ("secretId", "name", "flag", "versionId", "versionStage")
_LOCAL_HOSTS = ("localhost", "127.0.0.1")


def _cache_ports() -> set[int]:
    ports = set()
    for variable, default in (
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773"),
        ("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "2772"),
    ):
        try:
            ports.add(int(os.environ.get(variable, default)))
        except ValueError:
            continue
    return ports


_PORTS = _cache_ports()
_state: dict[str, str | None] = {"request_id": None}
_original_putrequest = http.client.HTTPConnection.putrequest
_original_getresponse = http.client.HTTPConnection.getresponse


def _putrequest(self: http.client.HTTPConnection, method: str, url: str, *args: Any, **kwargs: Any) -> None:
    self._demo_probe = (url, time.perf_counter())  # type: ignore[attr-defined]
    _original_putrequest(self, method, url, *args, **kwargs)


def _getresponse(self: http.client.HTTPConnection) -> http.client.HTTPResponse:
    response = _original_getresponse(self)
    probe: tuple[str, float] | None = getattr(self, "_demo_probe", None)
    if probe is not None and self.port in _PORTS and self.host in _LOCAL_HOSTS:
        url, started = probe
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        record = {
            "requestId": _state["request_id"],
            "pid": os.getpid(),
            "path": parts.path,
            "query": {k: query[k][0] for k in _QUERY_KEYS if k in query},
            "status": response.status,
            "xCache": response.getheader("X-Cache"),
            "age": response.getheader("Age"),
            "ms": round((time.perf_counter() - started) * 1000, 3),
        }
        print(f"{MARKER} {json.dumps(record)}", flush=True)
    return response


http.client.HTTPConnection.putrequest = _putrequest  # type: ignore[method-assign]
http.client.HTTPConnection.getresponse = _getresponse  # type: ignore[method-assign]

# Imported after the hooks, so the sample's cold-start reads are seen too.
_app_handler: Callable[[Any, Any], Any] = importlib.import_module("app").handler


def handler(event: Any, context: Any) -> Any:
    _state["request_id"] = str(context.aws_request_id)
    try:
        return _app_handler(event, context)
    finally:
        _state["request_id"] = None
