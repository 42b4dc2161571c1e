"""Validation of Telemetry API and Logs API subscription bodies.

Both APIs take the same body shape and limits; this module turns a request body into a frozen
:class:`Subscription` or a list of every problem found (reported together in one 400).
https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

TELEMETRY_SCHEMAS = ("2022-07-01", "2022-12-13", "2025-01-29")
LOGS_SCHEMAS = ("2020-08-15", "2021-03-18")
TYPES = ("platform", "function", "extension")
SANDBOX_HOSTS = ("sandbox.localdomain", "sandbox")
LIMITS = {
    "maxItems": (1000, 10000, 10000),
    "maxBytes": (262144, 1048576, 262144),
    "timeoutMs": (25, 30000, 1000),
}
"""Buffering field -> (minimum, maximum, default)."""

Api = Literal["telemetry", "logs"]


@dataclass(frozen=True)
class Subscription:
    """A validated subscription: what to send, how to batch it, and where to."""

    api: Api
    schema: str
    types: frozenset[str]
    max_items: int
    max_bytes: int
    timeout_ms: int
    protocol: Literal["HTTP", "TCP"]
    port: int
    url: str | None
    """Delivery URL with the sandbox host mapped to 127.0.0.1 and the path kept (HTTP only)."""
    method: str = "POST"

    def json_records(self, log_format_json: bool) -> bool:
        """Whether function/extension records are delivered as objects (JSON log format)."""
        return self.api == "telemetry" and log_format_json and self.schema >= "2022-12-13"


def _int_field(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _destination(dest: Any, problems: list[str]) -> tuple[Literal["HTTP", "TCP"], int, str | None, str]:
    if not isinstance(dest, dict):
        problems.append("destination is required and must be an object")
        return "HTTP", 0, None, "POST"
    protocol = dest.get("protocol")
    if protocol == "TCP":
        port = _int_field(dest.get("port"))
        if port is None or not 1 <= port <= 65535:
            problems.append("destination port must be an integer in 1..65535")
            return "TCP", 0, None, "POST"
        return "TCP", port, None, "POST"
    if protocol != "HTTP":
        problems.append("destination protocol must be HTTP or TCP")
        return "HTTP", 0, None, "POST"
    method = str(dest.get("method", "POST")).upper()
    uri = dest.get("URI")
    if not isinstance(uri, str) or not uri:
        problems.append("destination URI is required")
        return "HTTP", 0, None, method
    parts = urlsplit(uri)
    if parts.scheme != "http":
        problems.append("URI scheme must be http")
    if (parts.hostname or "") not in SANDBOX_HOSTS:
        problems.append("URI host must be sandbox.localdomain")
    try:
        port = parts.port
    except ValueError:
        port = None
        problems.append("URI port is invalid")
    else:
        if port is None:
            problems.append("URI port is not provided")
        elif port == 9001:
            problems.append("URI port 9001 is reserved")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    url = f"http://127.0.0.1:{port}{path}" if port else None
    return "HTTP", port or 0, url, method if method in ("POST", "PUT") else "POST"


def parse_subscription(raw: bytes, api: Api) -> Subscription | list[str]:
    """Validate a subscription body; returns the subscription or the list of problems."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return ["request body is not valid JSON"]
    if not isinstance(body, dict):
        return ["request body must be a JSON object"]
    problems: list[str] = []
    schemas = TELEMETRY_SCHEMAS if api == "telemetry" else LOGS_SCHEMAS
    schema = body.get("schemaVersion", None if api == "telemetry" else LOGS_SCHEMAS[0])
    if schema not in schemas:
        problems.append(f"schemaVersion must be one of {', '.join(schemas)}")
    types = body.get("types")
    if not isinstance(types, list) or not types:
        problems.append("types should not be empty")
        types = []
    elif any(t not in TYPES for t in types):
        problems.append(f"types must be a subset of {', '.join(TYPES)}")
    buffering = body.get("buffering", {})
    values: dict[str, int] = {}
    if not isinstance(buffering, dict):
        problems.append("buffering must be an object")
        buffering = {}
    for key, (low, high, default) in LIMITS.items():
        if key not in buffering:
            values[key] = default
            continue
        value = _int_field(buffering[key])
        if value is None or not low <= value <= high:
            problems.append(f"buffering.{key} must be an integer in {low}..{high}")
        else:
            values[key] = value
    protocol, port, url, method = _destination(body.get("destination"), problems)
    if problems:
        return problems
    return Subscription(
        api=api,
        schema=str(schema),
        types=frozenset(str(t) for t in types),
        max_items=values["maxItems"],
        max_bytes=values["maxBytes"],
        timeout_ms=values["timeoutMs"],
        protocol=protocol,
        port=port,
        url=url,
        method=method,
    )
