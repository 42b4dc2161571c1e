"""Extensions API (``/2020-01-01/extension``): register, next, init/exit errors.

Registration matches the ``Lambda-Extension-Name`` header against the launched files (external
extensions); any other name is an internal extension, allowed only while registration is open.
``/event/next`` marks the extension ready and long-polls its event queue, which the lifecycle
fills with INVOKE and SHUTDOWN events.
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from emulator import clock
from emulator.config import MAX_EXTENSIONS
from emulator.control import EnvironmentControl
from emulator.http_util import ID_HEADER, accepted, error, lookup_agent
from emulator.model import DEAD_STATES, Agent, AgentState, Failure
from emulator.state import EnvironmentState

PREFIX = "/2020-01-01/extension"
EVENT_TYPES = ("INVOKE", "SHUTDOWN")
ERROR_TYPE_HEADER = "Lambda-Extension-Function-Error-Type"


def _parse_events(raw: bytes) -> list[str] | web.Response:
    try:
        body: Any = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return error(403, "InvalidRequestFormat", "Request body is not valid JSON")
    if not isinstance(body, dict) or "configurationKeys" in body:
        return error(403, "InvalidRequestFormat", "Request body has an invalid format")
    events = body.get("events") or []
    if not isinstance(events, list) or not all(isinstance(event, str) for event in events):
        return error(403, "InvalidRequestFormat", "events must be a list of strings")
    for event in events:
        if event not in EVENT_TYPES:
            return error(403, "Extension.InvalidEventType", f"{event}: ErrorInvalidEventType")
    return list(dict.fromkeys(events))


def _error_message(raw: bytes, fallback: str) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return fallback
    if isinstance(body, dict) and isinstance(body.get("errorMessage"), str):
        return str(body["errorMessage"])
    return fallback


def add_routes(app: web.Application, env: EnvironmentState, control: EnvironmentControl) -> None:
    refusals = list(env.config.register_refusals)

    async def register(request: web.Request) -> web.Response:
        if refusals:  # a test switch
            status = refusals.pop(0)
            return error(status, "Extension.Refused", f"registration refused with HTTP {status}")
        name = request.headers.get("Lambda-Extension-Name", "").strip()
        if not name:
            return error(403, "Extension.InvalidExtensionName", "Empty extension name")
        events = _parse_events(await request.read())
        if isinstance(events, web.Response):
            return events
        if env.config.managed_instances and "INVOKE" in events:
            # Managed Instances: extensions may register for SHUTDOWN only.
            return error(403, "Extension.InvalidEventType", "INVOKE: ErrorInvalidEventType")
        agent = env.agents.get(name)
        if agent is not None:
            if agent.state != AgentState.STARTED or not env.in_init:
                return error(
                    403,
                    "Extension.InvalidExtensionState",
                    f"State transition from {agent.state} to Registered failed",
                )
            refused = [e for e in events if e not in env.config.extension_events]
            if refused:
                return error(403, "Extension.InvalidEventType", f"{refused[0]}: ErrorInvalidEventType")
        else:
            if not env.registration_open:
                return error(403, "Extension.RegistrationClosed", "Extension registration is closed")
            if "SHUTDOWN" in events:
                return error(403, "Extension.InvalidEventType", "SHUTDOWN: ErrorInvalidEventType")
            if len(env.agents) >= MAX_EXTENSIONS:
                return error(
                    403, "Extension.TooManyExtensions", f"At most {MAX_EXTENSIONS} extensions are allowed"
                )
            agent = Agent(name=name, external=False)
            env.agents[name] = agent
        agent.events = events
        agent.agent_id = str(uuid.uuid4())
        agent.state = AgentState.REGISTERED
        env.agents_by_id[agent.agent_id] = agent
        env.changed.notify()
        config = env.config
        body = {"functionName": config.function_name, "functionVersion": "$LATEST", "handler": config.handler}
        features = request.headers.get("Lambda-Extension-Accept-Feature", "")
        if "accountId" in [f.strip() for f in features.split(",")]:
            body["accountId"] = config.account_id
        return web.json_response(body, headers={ID_HEADER: agent.agent_id})

    async def next_event(request: web.Request) -> web.Response:
        agent = lookup_agent(request, env)
        if isinstance(agent, web.Response):
            return agent
        if agent.state in DEAD_STATES or agent.state == AgentState.SHUTDOWN_FAILED:
            return error(403, "Extension.InvalidExtensionState", f"Extension is in state {agent.state}")
        if agent.state in (AgentState.REGISTERED, AgentState.RUNNING):
            agent.state = AgentState.READY
            agent.ready_mono = clock.mono()
            env.changed.notify()
        event = await agent.queue.get()
        if event is None:
            return error(500, "InternalServerError", "The execution environment is shutting down")
        if event["eventType"] == "SHUTDOWN":
            agent.shutdown_reason = str(event["shutdownReason"])
            # Lambda sends SHUTDOWN without an explicit JSON content type.
            return web.Response(body=json.dumps(event).encode(), content_type="application/octet-stream")
        return web.json_response(event, headers={"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})

    async def report_error(request: web.Request, kind: str) -> web.Response:
        agent = lookup_agent(request, env)
        if isinstance(agent, web.Response):
            return agent
        reported = request.headers.get(ERROR_TYPE_HEADER)
        if not reported:
            return error(403, "Extension.MissingHeader", f"Missing {ERROR_TYPE_HEADER} header")
        if agent.state in DEAD_STATES or agent.state == AgentState.SHUTDOWN_FAILED:
            return error(403, "Extension.InvalidExtensionState", f"Extension is in state {agent.state}")
        if kind == "init" and not env.in_init:
            return error(403, "Extension.InvalidExtensionState", "init/error is only allowed during init")
        message = _error_message(await request.read(), reported)
        if kind == "init":
            agent.state, agent.error_type = AgentState.INIT_ERROR, "Extension.InitError"
        else:
            agent.state, agent.error_type = AgentState.EXIT_ERROR, "Extension.ExitError"
        control.fail(Failure(agent.error_type, f"Extension {agent.name} reported {reported}: {message}"))
        return accepted()

    async def init_error(request: web.Request) -> web.Response:
        return await report_error(request, "init")

    async def exit_error(request: web.Request) -> web.Response:
        return await report_error(request, "exit")

    app.router.add_post(f"{PREFIX}/register", register)
    app.router.add_get(f"{PREFIX}/event/next", next_event)
    app.router.add_post(f"{PREFIX}/init/error", init_error)
    app.router.add_post(f"{PREFIX}/exit/error", exit_error)
