"""Subscribing to the Telemetry API: newest schema first, falling back on a 400.

A 202 is how local environments (AWS's emulator) say "not supported": we carry on without
telemetry after one clear log line. Any other refusal is logged once and counted; the function
is never failed because telemetry is unavailable.
"""

from __future__ import annotations

import enum

from extension.config import TelemetrySettings
from extension.lifecycle.extensions_api import SCHEMA_VERSIONS, ExtensionsApiClient
from extension.log import get_logger

log = get_logger("subscription")


class SubscriptionState(enum.Enum):
    SUBSCRIBED = "subscribed"
    NOT_SUPPORTED = "not_supported"
    FAILED = "failed"


def subscription_body(settings: TelemetrySettings, schema: str, port: int) -> dict[str, object]:
    return {
        "schemaVersion": schema,
        "types": list(settings.types),
        "buffering": {
            "maxItems": settings.max_items,
            "maxBytes": settings.max_bytes,
            "timeoutMs": settings.timeout_ms,
        },
        "destination": {"protocol": "HTTP", "URI": f"http://sandbox.localdomain:{port}/telemetry"},
    }


async def subscribe(
    client: ExtensionsApiClient, settings: TelemetrySettings, port: int
) -> tuple[SubscriptionState, str | None]:
    """Returns the state and the accepted schema version."""
    last = ""
    for schema in SCHEMA_VERSIONS:
        try:
            answer = await client.subscribe_telemetry(subscription_body(settings, schema, port))
        except Exception as exc:
            log.warning("telemetry subscription failed: %s; continuing without telemetry", exc)
            return SubscriptionState.FAILED, None
        if answer.status == 200:
            log.info("subscribed to the Telemetry API (schema %s, port %d)", schema, port)
            return SubscriptionState.SUBSCRIBED, schema
        if answer.status == 202:
            log.warning("Telemetry API not supported here (HTTP 202); continuing without telemetry")
            return SubscriptionState.NOT_SUPPORTED, None
        last = f"HTTP {answer.status}: {answer.body[:200]}"
        if answer.status != 400:
            break
    log.warning("telemetry subscription refused (%s); continuing without telemetry", last)
    return SubscriptionState.FAILED, None
