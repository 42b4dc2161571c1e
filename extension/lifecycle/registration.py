"""Registration with the Extensions API on the fast start-up path (standard library only).

Lambda starts the runtime only after every extension has registered, so this runs before any
heavy import: a blocking `http.client` call on loopback costs well under a millisecond.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

API_PREFIX = "/2020-01-01/extension"


class ExtensionsApiError(RuntimeError):
    """A non-success answer from the Extensions API (status and the platform's errorType)."""

    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(f"{what} failed: HTTP {status}: {body[:300]}")
        self.status = status


@dataclass(frozen=True)
class Registration:
    extension_id: str
    function_name: str
    function_version: str
    handler: str
    account_id: str | None


def _request(
    runtime_api: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float | None,
) -> tuple[int, dict[str, str], bytes]:
    host, _, port = runtime_api.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def register(runtime_api: str, name: str, events: list[str]) -> Registration:
    """POST /register with the `accountId` feature; raises ExtensionsApiError on refusal."""
    status, headers, body = _request(
        runtime_api,
        "POST",
        f"{API_PREFIX}/register",
        json.dumps({"events": events}).encode(),
        {
            "Lambda-Extension-Name": name,
            "Lambda-Extension-Accept-Feature": "accountId",
            "Content-Type": "application/json",
        },
        timeout=10.0,
    )
    if status != 200 or "lambda-extension-identifier" not in headers:
        raise ExtensionsApiError("register", status, body.decode(errors="replace"))
    info: dict[str, Any] = {}
    try:
        parsed = json.loads(body or b"{}")
        info = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    return Registration(
        extension_id=headers["lambda-extension-identifier"],
        function_name=str(info.get("functionName", "")),
        function_version=str(info.get("functionVersion", "")),
        handler=str(info.get("handler", "")),
        account_id=str(info["accountId"]) if info.get("accountId") else None,
    )


def report_error(runtime_api: str, extension_id: str, kind: str, error_type: str, message: str) -> int:
    """POST /init/error or /exit/error (`kind` = "init" | "exit"); returns the HTTP status."""
    payload = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    status, _, _ = _request(
        runtime_api,
        "POST",
        f"{API_PREFIX}/{kind}/error",
        payload,
        {
            "Lambda-Extension-Identifier": extension_id,
            "Lambda-Extension-Function-Error-Type": error_type,
            "Content-Type": "application/json",
        },
        timeout=5.0,
    )
    return status
