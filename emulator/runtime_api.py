"""Runtime API (``/2018-06-01``): what awslambdaric talks to.

Handlers validate the request against the current invocation and runtime state, record the
timestamps telemetry needs, and hand results to the lifecycle (``Sandbox``); they never block
except ``/next``, which long-polls for the next invocation.
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
"""

from __future__ import annotations

import json

from aiohttp import web

from emulator import clock
from emulator.config import MAX_RESPONSE_BYTES
from emulator.control import EnvironmentControl
from emulator.http_util import accepted, error, normalize_error_type
from emulator.model import Failure, Invocation, RuntimeState
from emulator.state import EnvironmentState

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"


async def read_body(request: web.Request, limit: int) -> tuple[bytes, str | None]:
    """Read a body up to ``limit`` bytes; problem is ``"too_large"`` or ``"truncated"``."""
    if request.content_length is not None and request.content_length > limit:
        return b"", "too_large"
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.content.iter_chunked(65536):
            total += len(chunk)
            if total > limit:
                return b"", "too_large"
            chunks.append(chunk)
    except Exception:  # aiohttp reports short bodies with several exception types
        return b"", "truncated"
    body = b"".join(chunks)
    if request.content_length is not None and len(body) < request.content_length:
        return b"", "truncated"
    return body, None


def _current(env: EnvironmentState, request: web.Request) -> Invocation | web.Response:
    """The invocation named in the path, or the 400/403 to answer.

    On Managed Instances any invocation in flight may be answered (each runtime process holds
    one); otherwise only the invocation of the current invoke phase.
    """
    request_id = request.match_info["request_id"]
    if env.config.managed_instances:
        invocation = env.in_flight.get(request_id)
        running = env.runtime is not None and env.runtime.state == RuntimeState.READY
    else:
        invocation = env.invocation
        running = env.runtime is not None and env.runtime.state == RuntimeState.RUNNING
    if invocation is None or invocation.request_id != request_id:
        return error(400, "InvalidRequestID", f"Invalid request ID: {request_id}")
    if not running or invocation.runtime_responded:
        return error(403, "InvalidStateTransition", "State transition is not allowed")
    return invocation


def add_routes(app: web.Application, env: EnvironmentState, control: EnvironmentControl) -> None:
    async def next_invocation(request: web.Request) -> web.StreamResponse:
        runtime = env.runtime
        if runtime is None or runtime.state == RuntimeState.EXITED:
            return error(403, "InvalidStateTransition", "Runtime is not active")
        if runtime.state == RuntimeState.STARTING:
            control.on_runtime_ready()
        elif runtime.state == RuntimeState.RUNNING:  # never on Managed Instances: no runtimeDone there
            invocation = env.invocation
            if invocation is None or not invocation.runtime_responded:
                return error(403, "InvalidStateTransition", "No response or error posted for the invocation")
            control.on_runtime_done(invocation)
        item = await runtime.queue.get()
        if item is None:
            return error(500, "InternalServerError", "The execution environment is shutting down")
        headers = {
            "Lambda-Runtime-Aws-Request-Id": item.request_id,
            "Lambda-Runtime-Deadline-Ms": str(item.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": item.function_arn,
            "Lambda-Runtime-Trace-Id": item.trace.value,
        }
        return web.Response(body=item.payload, headers=headers, content_type="application/json")

    async def invocation_response(request: web.Request) -> web.Response:
        invocation = _current(env, request)
        if isinstance(invocation, web.Response):
            return invocation
        mode = request.headers.get(MODE_HEADER)
        if mode is not None and mode.lower() != "streaming":
            invocation.runtime_responded = True
            failure = Failure("Runtime.InvalidResponseModeHeader", f"Invalid response mode: {mode}")
            control.on_runtime_result(
                invocation, "error", failure.payload(invocation.request_id), failure.error_type
            )
            return error(400, "InvalidFunctionResponseMode", f"Invalid response mode header: {mode}")
        started = (clock.mono(), clock.wall())
        body, problem = await read_body(request, MAX_RESPONSE_BYTES)
        if problem == "truncated":
            return error(400, "TruncatedHTTPRequest", "Request body shorter than Content-Length")
        invocation.runtime_responded = True
        invocation.response_start, invocation.response_end = started, (clock.mono(), clock.wall())
        if problem == "too_large":
            msg = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            payload = json.dumps({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": msg}).encode()
            control.on_runtime_result(invocation, "error", payload, "Function.ResponseSizeTooLarge")
            return error(413, "RequestEntityTooLarge", msg)
        invocation.produced_bytes = len(body)
        control.on_runtime_result(invocation, "success", body, None)
        return accepted()

    async def invocation_error(request: web.Request) -> web.Response:
        invocation = _current(env, request)
        if isinstance(invocation, web.Response):
            return invocation
        started = (clock.mono(), clock.wall())
        body, problem = await read_body(request, MAX_RESPONSE_BYTES)
        if problem == "truncated":
            return error(400, "TruncatedHTTPRequest", "Request body shorter than Content-Length")
        header = request.headers.get(ERROR_TYPE_HEADER)
        error_type = normalize_error_type(header)
        if not body or problem:
            body = json.dumps({"errorType": header or error_type, "errorMessage": ""}).encode()
        invocation.runtime_responded = True
        invocation.response_start, invocation.response_end = started, (clock.mono(), clock.wall())
        invocation.produced_bytes = len(body)
        control.on_runtime_result(invocation, "error", body, error_type)
        return accepted()

    async def init_error(request: web.Request) -> web.Response:
        runtime = env.runtime
        if not env.in_init or runtime is None or runtime.state != RuntimeState.STARTING:
            return error(403, "InvalidStateTransition", "init/error is only allowed during init")
        body, _ = await read_body(request, MAX_RESPONSE_BYTES)
        header = request.headers.get(ERROR_TYPE_HEADER)
        error_type = normalize_error_type(header)
        if not body:
            body = json.dumps({"errorType": header or error_type, "errorMessage": ""}).encode()
        control.fail(Failure(error_type, "runtime init error", body=body))
        return accepted()

    app.router.add_get(f"{PREFIX}/invocation/next", next_invocation)
    app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/response", invocation_response)
    app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/error", invocation_error)
    app.router.add_post(f"{PREFIX}/init/error", init_error)
