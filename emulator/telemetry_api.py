"""Telemetry API subscription endpoint (``PUT /2022-07-01/telemetry``, spec section 3.1).

Checks the extension identifier (403 ``Extension.*Identifier``), the subscription window
(403 ``Telemetry.SubscriptionClosed`` once init is over), Logs API exclusivity, then the body
(400 ``ValidationError`` listing every problem); answers 200 ``"OK"`` on success.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from emulator.http_util import error, lookup_agent
from emulator.subscription import Subscription, parse_subscription

if TYPE_CHECKING:
    from emulator.lifecycle import Sandbox


def add_routes(app: web.Application, sandbox: Sandbox) -> None:
    async def subscribe(request: web.Request) -> web.Response:
        agent = lookup_agent(request, sandbox)
        if isinstance(agent, web.Response):
            return agent
        if not sandbox.config.telemetry_api_supported:  # AWS's RIE answers every PUT like this
            return error(202, "Telemetry.NotSupported", "Telemetry API is not supported")
        if sandbox.config.telemetry_api_refusal is not None:  # a test switch: refuse every subscription
            status = sandbox.config.telemetry_api_refusal
            return error(status, "Telemetry.Refused", f"subscription refused with HTTP {status}")
        if not sandbox.hub.subscriptions_open:
            return error(403, "Telemetry.SubscriptionClosed", "Telemetry API subscription is closed")
        if agent.subscribed_api == "logs":
            return error(
                403, "Telemetry.AlreadySubscribedToLogsAPI", "Extension already subscribed to the Logs API"
            )
        parsed = parse_subscription(await request.read(), "telemetry")
        if not isinstance(parsed, Subscription):
            return error(400, "ValidationError", "; ".join(parsed))
        agent.subscribed_api = "telemetry"
        sandbox.hub.subscribe(agent.name, parsed)
        return web.json_response("OK")

    app.router.add_put("/2022-07-01/telemetry", subscribe)
