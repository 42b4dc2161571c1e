"""The Telemetry API and Logs API subscription endpoints: one handler, two sets of words.

``PUT /2022-07-01/telemetry`` and ``PUT /2020-08-15/logs`` take the same body and answer the
same way, each with its own error types: 403 ``Extension.*Identifier`` for a bad identifier,
403 ``<Api>.SubscriptionClosed`` once init is over, 403 ``<Api>.AlreadySubscribedTo<Other>API``
(an extension uses one of the two APIs, not both), 400 listing every problem of the body, and
200 ``"OK"`` on success.
https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api-reference.html
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-logs-api.html
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from emulator.http_util import error, lookup_agent
from emulator.state import EnvironmentState
from emulator.subscription import Api, Subscription, parse_subscription

MANAGED_INSTANCES_SCHEMAS = ("2025-01-29",)
"""The only Telemetry API schema Lambda Managed Instances accept."""


@dataclass(frozen=True)
class Endpoint:
    """The words one of the two subscription APIs answers with."""

    api: Api
    path: str
    error_prefix: str
    """``Telemetry`` or ``Logs``: the category of this API's error types."""
    closed_message: str
    other_api: Api
    other_api_error: str
    other_api_message: str
    validation_error_type: str


TELEMETRY = Endpoint(
    api="telemetry",
    path="/2022-07-01/telemetry",
    error_prefix="Telemetry",
    closed_message="Telemetry API subscription is closed",
    other_api="logs",
    other_api_error="Telemetry.AlreadySubscribedToLogsAPI",
    other_api_message="Extension already subscribed to the Logs API",
    validation_error_type="ValidationError",
)
LOGS = Endpoint(
    api="logs",
    path="/2020-08-15/logs",
    error_prefix="Logs",
    closed_message="Logs API subscription is closed",
    other_api="telemetry",
    other_api_error="Logs.AlreadySubscribedToTelemetryAPI",
    other_api_message="Extension already subscribed to the Telemetry API",
    validation_error_type="Logs.ValidationError",
)


def _switch_answer(env: EnvironmentState, endpoint: Endpoint) -> web.Response | None:
    """The answer the emulator's test switches impose on Telemetry API subscriptions, if any."""
    if endpoint.api != "telemetry":
        return None
    if not env.config.telemetry_api_supported:  # AWS's RIE answers every PUT like this
        return error(202, "Telemetry.NotSupported", "Telemetry API is not supported")
    if env.config.telemetry_api_refusal is not None:  # a test switch: refuse every subscription
        status = env.config.telemetry_api_refusal
        return error(status, "Telemetry.Refused", f"subscription refused with HTTP {status}")
    return None


def _schema_problem(env: EnvironmentState, subscription: Subscription) -> str | None:
    if env.config.managed_instances and subscription.schema not in MANAGED_INSTANCES_SCHEMAS:
        allowed = ", ".join(MANAGED_INSTANCES_SCHEMAS)
        return f"schemaVersion must be one of {allowed} on Lambda Managed Instances"
    return None


def subscribe_handler(
    env: EnvironmentState, endpoint: Endpoint
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The request handler of ``endpoint`` over the environment's state."""

    async def subscribe(request: web.Request) -> web.Response:
        agent = lookup_agent(request, env)
        if isinstance(agent, web.Response):
            return agent
        imposed = _switch_answer(env, endpoint)
        if imposed is not None:
            return imposed
        if not env.hub.subscriptions_open:
            return error(403, f"{endpoint.error_prefix}.SubscriptionClosed", endpoint.closed_message)
        if agent.subscribed_api == endpoint.other_api:
            return error(403, endpoint.other_api_error, endpoint.other_api_message)
        parsed = parse_subscription(await request.read(), endpoint.api)
        if not isinstance(parsed, Subscription):
            return error(400, endpoint.validation_error_type, "; ".join(parsed))
        problem = _schema_problem(env, parsed)
        if problem is not None:
            return error(400, endpoint.validation_error_type, problem)
        agent.subscribed_api = endpoint.api
        env.hub.subscribe(agent.name, parsed)
        return web.json_response("OK")

    return subscribe


def add_routes(app: web.Application, env: EnvironmentState) -> None:
    """The Telemetry API, and the Logs API except on Managed Instances (which have none)."""
    app.router.add_put(TELEMETRY.path, subscribe_handler(env, TELEMETRY))
    if not env.config.managed_instances:
        app.router.add_put(LOGS.path, subscribe_handler(env, LOGS))
