"""The invoke phase (spec 2.7, 5): release INVOKE and the invocation together, wait for ``next``.

The invoker is answered as soon as the runtime posts; the phase ends when the runtime and every
INVOKE-subscribed extension are back in ``next`` (then ``platform.report``), or fails (crash,
exit error) or times out over the whole phase, which resets the environment.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from emulator import clock, platform_events
from emulator.model import DEAD_STATES, AgentState, Failure, Invocation, RuntimeState
from emulator.telemetry import FLUSH_BEFORE_FREEZE_S

if TYPE_CHECKING:
    from emulator.lifecycle import Sandbox


def timeout_payload(request_id: str, timeout_s: float) -> bytes:
    """What the invoker gets on a timeout (the AWS wording)."""
    message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()


def fail_without_runtime(sb: Sandbox, inv: Invocation, failure: Failure) -> None:
    """The suppressed init inside this invocation failed: the invocation fails with it."""
    sb.hub.emit("platform.start", platform_events.start(inv))
    _answer_failure(sb, inv, failure)
    record = platform_events.report(
        inv,
        sb.config,
        status=failure.status,
        error_type=None if failure.status == "timeout" else failure.error_type,
        end_mono=clock.mono(),
        max_memory_mb=1,
        init_duration_ms=None,
        extension_overhead=None,
    )
    sb.hub.emit("platform.report", record)


def _answer_failure(sb: Sandbox, inv: Invocation, failure: Failure) -> None:
    if failure.status == "timeout":
        inv.answer("timeout", timeout_payload(inv.request_id, sb.config.timeout_s), "Sandbox.Timedout")
    else:
        inv.answer("error", failure.payload(inv.request_id), failure.error_type)


async def run_invoke(sb: Sandbox, inv: Invocation) -> None:
    """Run one invoke phase on an initialised environment."""
    from emulator.lifecycle import Phase

    runtime = sb.runtime
    assert runtime is not None
    await sb.thaw()
    sb.phase = Phase.INVOKE
    sb.invocation = inv
    sb.failure = None
    sb.hub.emit("platform.start", platform_events.start(inv))
    event = {
        "eventType": "INVOKE",
        "deadlineMs": inv.deadline_ms,
        "requestId": inv.request_id,
        "invokedFunctionArn": inv.function_arn,
        "tracing": inv.trace.invoke_field(),
    }
    subscribers = [
        a for a in sb.agents.values() if a.registered and "INVOKE" in a.events and a.state not in DEAD_STATES
    ]
    inv.dispatched_mono, inv.dispatched_wall = clock.mono(), clock.wall()
    for agent in subscribers:
        agent.state = AgentState.RUNNING
        agent.queue.put_nowait(dict(event))
    runtime.state = RuntimeState.RUNNING
    runtime.queue.put_nowait(inv)

    def phase_over() -> bool:
        return (
            inv.runtime_done
            and runtime.state == RuntimeState.READY
            and all(a.state == AgentState.READY for a in subscribers)
        )

    ok = await sb.wait_until(phase_over, inv.deadline_mono)
    end_mono = clock.mono()
    failure = sb.failure
    if not ok and failure is None:
        message = f"Task timed out after {sb.config.timeout_s:.2f} seconds"
        failure = Failure("Sandbox.Timedout", message, status="timeout", reason="timeout")
    status: str
    if failure is not None:
        _finish_failed_runtime(sb, inv, failure)
        status = failure.status
        error_type = None if failure.status == "timeout" else failure.error_type
    else:
        status = inv.telemetry_status or "success"
        error_type = inv.telemetry_error_type
    overhead = None
    if subscribers and inv.runtime_done_at is not None:
        last_ready = max((a.ready_mono or 0.0) for a in subscribers)
        overhead = (inv.runtime_done_at, last_ready if failure is None else end_mono)
    record = platform_events.report(
        inv,
        sb.config,
        status=status,
        error_type=error_type,
        end_mono=end_mono,
        max_memory_mb=sb.max_memory_mb(),
        init_duration_ms=sb.pending_init_ms,
        extension_overhead=overhead,
    )
    sb.pending_init_ms = None
    if failure is not None:
        sb.hub.emit("platform.report", record)
        await sb.reset(failure.reason)
        return
    if sb.config.freeze:
        # Deliver what is pending now; the report itself waits for the next thaw (as in Lambda).
        await sb.hub.flush(FLUSH_BEFORE_FREEZE_S)
    sb.hub.emit("platform.report", record)
    sb.phase = Phase.IDLE
    sb.invocation = None
    await sb.freeze(flush=False)


def _finish_failed_runtime(sb: Sandbox, inv: Invocation, failure: Failure) -> None:
    """Answer the invoker (if the runtime had not) and close the runtime's part."""
    _answer_failure(sb, inv, failure)
    if not inv.runtime_done:
        done = (clock.mono(), clock.wall())
        inv.runtime_done_at = done
        error_type = None if failure.status == "timeout" else failure.error_type
        sb.hub.emit(
            "platform.runtimeDone", platform_events.runtime_done(inv, failure.status, error_type, done)
        )
