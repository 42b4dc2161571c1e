"""Subscribing to the Telemetry API: newest schema first, falling back on a 400.

Runs on the fast path, between `/register` and the first `/event/next` (subscriptions close at
the end of init), so it uses the same plain-socket HTTP client as registration
(`extension.http.blocking`). A 202 is how local environments (AWS's emulator) say "not
supported": we carry on without telemetry after one clear log line. Any other refusal is logged
once; the function is never failed because telemetry is unavailable.

The destination carries a random 128-bit path (`destination_path`): only Lambda learns it, so no
other process in the environment can post forged telemetry to the listener, which answers every
other path 404 (issue 18). The path is never logged.
"""

from __future__ import annotations

import json
import os

from extension.config import TelemetrySettings
from extension.http.blocking import request
from extension.log import get_logger

TELEMETRY_PATH = "/2022-07-01/telemetry"
SCHEMA_VERSIONS = ("2025-01-29", "2022-12-13", "2022-07-01")
#: Lambda Managed Instances accepts only this version
#: (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api.html).
MANAGED_SCHEMAS = ("2025-01-29",)

SUBSCRIBED = "subscribed"
NOT_SUPPORTED = "not_supported"
FAILED = "failed"

log = get_logger("subscription")


def destination_path() -> str:
    """A fresh unguessable listener path, `/` + 32 hex digits (128 bits from the OS's CSPRNG)."""
    return "/" + os.urandom(16).hex()


def subscription_body(settings: TelemetrySettings, schema: str, port: int, path: str) -> dict[str, object]:
    return {
        "schemaVersion": schema,
        "types": list(settings.types),
        "buffering": {
            "maxItems": settings.max_items,
            "maxBytes": settings.max_bytes,
            "timeoutMs": settings.timeout_ms,
        },
        "destination": {"protocol": "HTTP", "URI": f"http://sandbox.localdomain:{port}{path}"},
    }


def subscribe(
    runtime_api: str,
    extension_id: str,
    settings: TelemetrySettings,
    port: int,
    path: str,
    schemas: tuple[str, ...] = SCHEMA_VERSIONS,
) -> tuple[str, str | None]:
    """Returns (SUBSCRIBED | NOT_SUPPORTED | FAILED, the accepted schema version). Never raises:
    whatever the answer, the extension carries on (without telemetry if need be)."""
    last = "no schema version to try"
    for schema in schemas:
        body = json.dumps(subscription_body(settings, schema, port, path)).encode()
        headers = {"Lambda-Extension-Identifier": extension_id, "Content-Type": "application/json"}
        try:
            status, _, answer = request(runtime_api, "PUT", TELEMETRY_PATH, body, headers, timeout=5.0)
        except (OSError, ValueError) as exc:
            log.warning("telemetry subscription failed: %s; continuing without telemetry", exc)
            return FAILED, None
        if status == 200:
            log.info("subscribed to the Telemetry API (schema %s, port %d)", schema, port)
            return SUBSCRIBED, schema
        if status == 202:
            log.warning("Telemetry API not supported here (HTTP 202); continuing without telemetry")
            return NOT_SUPPORTED, None
        last = f"HTTP {status}: {answer[:200].decode(errors='replace')}"
        if status != 400:
            break
    log.warning("telemetry subscription refused (%s); continuing without telemetry", last)
    return FAILED, None
