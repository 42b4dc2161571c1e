"""Logs API (``PUT /2020-08-15/logs``), the legacy sibling of the Telemetry API.

Same subscription body and limits; its own schema versions and platform message shapes
(``platform.start {requestId}``, ``platform.end``, ``platform.report``, ``platform.fault``,
``platform.logsSubscription``; string records). An extension may use the Logs API or the
Telemetry API, not both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.events import Event
from emulator.http_util import error, lookup_agent
from emulator.subscription import Subscription, parse_subscription

if TYPE_CHECKING:
    from emulator.lifecycle import Sandbox

_PASS_THROUGH = (
    "platform.extension",
    "platform.logsDropped",
    "platform.initRuntimeDone",
    "platform.initReport",
)


def to_logs_api(event: Event, schema: str) -> list[dict[str, Any]]:
    """Translate one Telemetry API event into zero or more Logs API messages."""
    rec = event.record if isinstance(event.record, dict) else {}

    def msg(type_: str, record: Any) -> dict[str, Any]:
        return {"time": event.time, "type": type_, "record": record}

    if event.type in ("function", "extension"):
        return [msg(event.type, event.text if event.text is not None else event.record)]
    if event.type == "platform.start":
        return [msg("platform.start", {"requestId": rec.get("requestId")})]
    if event.type == "platform.runtimeDone":
        if schema >= "2021-03-18":
            return [
                msg("platform.runtimeDone", {"requestId": rec.get("requestId"), "status": rec.get("status")})
            ]
        return []
    if event.type == "platform.report":
        out = []
        if rec.get("status", "success") != "success":
            fault = f"RequestId: {rec.get('requestId')} Status: {rec.get('status')}"
            if rec.get("errorType"):
                fault += f"\tErrorType: {rec['errorType']}"
            out.append(msg("platform.fault", fault))
        out.append(msg("platform.end", {"requestId": rec.get("requestId")}))
        out.append(
            msg("platform.report", {"requestId": rec.get("requestId"), "metrics": rec.get("metrics", {})})
        )
        return out
    if event.type == "platform.telemetrySubscription":
        return [msg("platform.logsSubscription", rec)]
    if event.type in _PASS_THROUGH:
        return [msg(event.type, rec)]
    return []


def add_routes(app: web.Application, sandbox: Sandbox) -> None:
    async def subscribe(request: web.Request) -> web.Response:
        agent = lookup_agent(request, sandbox)
        if isinstance(agent, web.Response):
            return agent
        if not sandbox.hub.subscriptions_open:
            return error(403, "Logs.SubscriptionClosed", "Logs API subscription is closed")
        if agent.subscribed_api == "telemetry":
            return error(
                403,
                "Logs.AlreadySubscribedToTelemetryAPI",
                "Extension already subscribed to the Telemetry API",
            )
        parsed = parse_subscription(await request.read(), "logs")
        if not isinstance(parsed, Subscription):
            return error(400, "Logs.ValidationError", "; ".join(parsed))
        agent.subscribed_api = "logs"
        sandbox.hub.subscribe(agent.name, parsed)
        return web.json_response("OK")

    app.router.add_put("/2020-08-15/logs", subscribe)
