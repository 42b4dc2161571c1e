"""The invoke phase: release INVOKE and the invocation together, wait for ``next``.

The invoker is answered as soon as the runtime posts; the phase ends when the runtime and every
INVOKE-subscribed extension are back in ``next`` (then ``platform.report``), or fails (crash,
exit error) or times out over the whole phase, which resets the environment.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
"""

from __future__ import annotations

import json

from emulator import clock, platform_events
from emulator.freezing import freeze, thaw
from emulator.model import DEAD_STATES, AgentState, Failure, Invocation, RuntimeState
from emulator.shutdown_phase import reset
from emulator.state import EnvironmentState, Phase
from emulator.telemetry import FLUSH_BEFORE_FREEZE_S


def timeout_payload(request_id: str, timeout_s: float) -> bytes:
    """What the invoker gets on a timeout (the AWS wording)."""
    message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()


def fail_without_runtime(env: EnvironmentState, invocation: Invocation, failure: Failure) -> None:
    """The suppressed init inside this invocation failed: the invocation fails with it."""
    env.hub.emit("platform.start", platform_events.start(invocation))
    _answer_failure(env, invocation, failure)
    record = platform_events.report(
        invocation,
        env.config,
        status=failure.status,
        error_type=None if failure.status == "timeout" else failure.error_type,
        end_mono=clock.mono(),
        max_memory_mb=1,
        init_duration_ms=None,
        extension_overhead=None,
    )
    env.hub.emit("platform.report", record)


def _answer_failure(env: EnvironmentState, invocation: Invocation, failure: Failure) -> None:
    if failure.status == "timeout":
        invocation.answer(
            "timeout", timeout_payload(invocation.request_id, env.config.timeout_s), "Sandbox.Timedout"
        )
    else:
        invocation.answer("error", failure.payload(invocation.request_id), failure.error_type)


async def run_invoke(env: EnvironmentState, invocation: Invocation) -> None:
    """Run one invoke phase on an initialised environment."""
    runtime = env.runtime
    assert runtime is not None
    await thaw(env)
    env.phase = Phase.INVOKE
    env.invocation = invocation
    env.failure = None
    env.hub.emit("platform.start", platform_events.start(invocation))
    event = {
        "eventType": "INVOKE",
        "deadlineMs": invocation.deadline_ms,
        "requestId": invocation.request_id,
        "invokedFunctionArn": invocation.function_arn,
        "tracing": invocation.trace.invoke_field(),
    }
    subscribers = [
        agent
        for agent in env.agents.values()
        if agent.registered and "INVOKE" in agent.events and agent.state not in DEAD_STATES
    ]
    invocation.dispatched_mono, invocation.dispatched_wall = clock.mono(), clock.wall()
    for agent in subscribers:
        agent.state = AgentState.RUNNING
        agent.queue.put_nowait(dict(event))
    runtime.state = RuntimeState.RUNNING
    runtime.queue.put_nowait(invocation)

    def phase_over() -> bool:
        return (
            invocation.runtime_done
            and runtime.state == RuntimeState.READY
            and all(agent.state == AgentState.READY for agent in subscribers)
        )

    ok = await env.wait_until(phase_over, invocation.deadline_mono)
    end_mono = clock.mono()
    failure = env.failure
    if not ok and failure is None:
        message = f"Task timed out after {env.config.timeout_s:.2f} seconds"
        failure = Failure("Sandbox.Timedout", message, status="timeout", reason="timeout")
    status: str
    if failure is not None:
        _finish_failed_runtime(env, invocation, failure)
        status = failure.status
        error_type = None if failure.status == "timeout" else failure.error_type
    else:
        status = invocation.telemetry_status or "success"
        error_type = invocation.telemetry_error_type
    overhead = None
    if subscribers and invocation.runtime_done_at is not None:
        last_ready = max((agent.ready_mono or 0.0) for agent in subscribers)
        overhead = (invocation.runtime_done_at, last_ready if failure is None else end_mono)
    record = platform_events.report(
        invocation,
        env.config,
        status=status,
        error_type=error_type,
        end_mono=end_mono,
        max_memory_mb=env.max_memory_mb(),
        init_duration_ms=env.pending_init_ms,
        extension_overhead=overhead,
    )
    env.pending_init_ms = None
    if failure is not None:
        env.hub.emit("platform.report", record)
        await reset(env, failure.reason)
        return
    if env.config.freeze:
        # Deliver what is pending now; the report itself waits for the next thaw (as in Lambda).
        await env.hub.flush(FLUSH_BEFORE_FREEZE_S)
    env.hub.emit("platform.report", record)
    env.phase = Phase.IDLE
    env.invocation = None
    await freeze(env, flush=False)


def _finish_failed_runtime(env: EnvironmentState, invocation: Invocation, failure: Failure) -> None:
    """Answer the invoker (if the runtime had not) and close the runtime's part."""
    _answer_failure(env, invocation, failure)
    if not invocation.runtime_done:
        done = (clock.mono(), clock.wall())
        invocation.runtime_done_at = done
        error_type = None if failure.status == "timeout" else failure.error_type
        env.hub.emit(
            "platform.runtimeDone", platform_events.runtime_done(invocation, failure.status, error_type, done)
        )


async def run_concurrent_invoke(env: EnvironmentState, invocation: Invocation) -> Failure | None:
    """One invocation of several in flight (Managed Instances mode); returns its failure, if any.

    The invocation waits in the runtime processes' shared queue for the first free one. There
    is no INVOKE event (extensions may register only for SHUTDOWN) and no
    ``platform.runtimeDone``; ``platform.report`` carries ``durationMs`` and the response spans.
    A failure recorded for the environment (a runtime process exited) fails every invocation
    in flight; a timeout fails this one only.
    """
    runtime = env.runtime
    assert runtime is not None
    env.hub.emit("platform.start", platform_events.start(invocation))
    invocation.dispatched_mono, invocation.dispatched_wall = clock.mono(), clock.wall()
    runtime.queue.put_nowait(invocation)
    await env.wait_until(lambda: invocation.status is not None, invocation.deadline_mono)
    end_mono = clock.mono()
    failure: Failure | None = None
    status: str
    if invocation.status is None:
        failure = env.failure or Failure(
            "Sandbox.Timedout",
            f"Task timed out after {env.config.timeout_s:.2f} seconds",
            status="timeout",
            reason="timeout",
        )
        _answer_failure(env, invocation, failure)
        status = failure.status
        error_type = None if failure.status == "timeout" else failure.error_type
    else:
        status = invocation.telemetry_status or "success"
        error_type = invocation.telemetry_error_type
        end_mono = invocation.answered_mono or end_mono
    record = platform_events.concurrent_report(
        invocation, status=status, error_type=error_type, end_mono=end_mono
    )
    env.hub.emit("platform.report", record)
    return failure
