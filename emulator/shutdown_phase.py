"""Shutdown and reset (spec 2.7, 5): runtime first, then SHUTDOWN to extensions, then SIGKILL.

The runtime gets SIGTERM and 300 ms before SIGKILL; pending telemetry is flushed; extensions
subscribed to SHUTDOWN get ``{"shutdownReason", "deadlineMs"}`` with the deadline at the end of
the 2,000 ms budget; others are SIGKILLed at once, survivors at the deadline
(``ShutdownFailed``). Every process group is killed at the end, so no grandchild survives.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Literal

from emulator import clock
from emulator.config import RUNTIME_SHUTDOWN_S, SHUTDOWN_BUDGET_S
from emulator.model import DEAD_STATES, Agent, AgentState, ExtensionOutcome, RuntimeState

if TYPE_CHECKING:
    from emulator.lifecycle import Sandbox

FLUSH_BEFORE_SHUTDOWN_S = 0.5
ShutdownReason = Literal["spindown", "failure", "timeout"]


async def shutdown(sb: Sandbox, reason: ShutdownReason) -> None:
    """Tear the current environment down; outcomes are recorded in ``sb.outcomes``."""
    from emulator.lifecycle import Phase

    sb.phase = Phase.SHUTDOWN
    sb.registration_open = False
    sb.hub.close_subscriptions()
    await sb.thaw()
    started_mono, started_wall = clock.mono(), clock.wall()
    launched = [a for a in sb.agents.values() if a.process is not None]
    budget = SHUTDOWN_BUDGET_S if launched else RUNTIME_SHUTDOWN_S
    deadline_mono = started_mono + budget
    deadline_ms = clock.epoch_ms(started_wall) + int(budget * 1000)

    await _stop_runtime(sb)
    await sb.hub.flush(min(FLUSH_BEFORE_SHUTDOWN_S, max(0.0, deadline_mono - clock.mono() - 0.5)))

    waiting: list[Agent] = []
    for agent in launched:
        proc = agent.process
        assert proc is not None
        if not proc.alive:
            continue
        if "SHUTDOWN" in agent.events and agent.registered and agent.state not in DEAD_STATES:
            agent.shutdown_sent = True
            agent.queue.put_nowait(
                {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
            )
            waiting.append(agent)
        else:
            proc.signal_group(signal.SIGKILL)
    if waiting:
        await asyncio.wait(
            [asyncio.ensure_future(a.process.exited.wait()) for a in waiting if a.process is not None],
            timeout=max(0.0, deadline_mono - clock.mono()),
        )
    for agent in waiting:
        proc = agent.process
        assert proc is not None
        agent.exited_before_deadline = not proc.alive
        if proc.alive:
            agent.state = AgentState.SHUTDOWN_FAILED
    for agent in launched:
        if agent.process is not None:
            await agent.process.kill()
            await agent.process.drain_output(0.5)
        if agent.state not in (AgentState.SHUTDOWN_FAILED, *DEAD_STATES):
            agent.state = AgentState.EXITED
    _record_outcomes(sb)
    await sb.hub.close_subscribers()
    for agent in sb.agents.values():
        agent.queue.put_nowait(None)  # release any long poll still parked on this environment
    if sb.runtime is not None:
        sb.runtime.queue.put_nowait(None)
    sb.launched = [p for p in sb.launched if p.alive]
    sb.runtime = None
    sb.invocation = None
    sb.phase = Phase.IDLE


async def _stop_runtime(sb: Sandbox) -> None:
    runtime = sb.runtime
    if runtime is None:
        return
    proc = runtime.process
    if proc is not None:
        if proc.alive:
            proc.signal_group(signal.SIGTERM)
            if not await proc.wait_exit(RUNTIME_SHUTDOWN_S):
                proc.signal_group(signal.SIGKILL)
        await proc.kill()
        await proc.drain_output(0.3)
    if sb.tfd is not None:
        await sb.tfd.drain(0.3)
        sb.tfd = None
    runtime.state = RuntimeState.EXITED


def _record_outcomes(sb: Sandbox) -> None:
    for agent in sb.agents.values():
        proc = agent.process
        outcome = ExtensionOutcome(
            name=agent.name,
            registered=agent.registered,
            events=list(agent.events),
            state=str(agent.state),
            exit_code=proc.exit_code if proc is not None else None,
            exited_before_deadline=agent.exited_before_deadline,
            shutdown_reason=agent.shutdown_reason,
            error_type=agent.error_type,
            pid=proc.pid if proc is not None else None,
        )
        sb.outcomes[agent.name] = outcome
        sb.outcome_history.append(outcome)
