"""Shutdown and reset: runtime first, then SHUTDOWN to extensions, then SIGKILL.

The runtime gets SIGTERM and 300 ms before SIGKILL; pending telemetry is flushed; extensions
subscribed to SHUTDOWN get ``{"shutdownReason", "deadlineMs"}`` with the deadline at the end of
the 2,000 ms budget; others are SIGKILLed at once, survivors at the deadline
(``ShutdownFailed``). Every process group is killed at the end, so no grandchild survives.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
"""

from __future__ import annotations

import asyncio
import signal
from typing import Literal

from emulator import clock
from emulator.config import RUNTIME_SHUTDOWN_S, SHUTDOWN_BUDGET_S
from emulator.freezing import thaw
from emulator.model import DEAD_STATES, Agent, AgentState, ExtensionOutcome, RuntimeState
from emulator.state import EnvironmentState, EnvState, Phase

FLUSH_BEFORE_SHUTDOWN_S = 0.5
ShutdownReason = Literal["spindown", "failure", "timeout"]


async def shutdown(env: EnvironmentState, reason: ShutdownReason) -> None:
    """Tear the current environment down; outcomes are recorded in ``env.outcomes``."""
    env.phase = Phase.SHUTDOWN
    env.registration_open = False
    env.hub.close_subscriptions()
    await thaw(env)
    started_mono, started_wall = clock.mono(), clock.wall()
    launched = [agent for agent in env.agents.values() if agent.process is not None]
    budget = SHUTDOWN_BUDGET_S if launched else RUNTIME_SHUTDOWN_S
    deadline_mono = started_mono + budget
    deadline_ms = clock.epoch_ms(started_wall) + int(budget * 1000)

    await _stop_runtime(env)
    await env.hub.flush(min(FLUSH_BEFORE_SHUTDOWN_S, max(0.0, deadline_mono - clock.mono() - 0.5)))

    waiting: list[Agent] = []
    for agent in launched:
        process = agent.process
        assert process is not None
        if not process.alive:
            continue
        if "SHUTDOWN" in agent.events and agent.registered and agent.state not in DEAD_STATES:
            agent.shutdown_sent = True
            agent.queue.put_nowait(
                {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
            )
            waiting.append(agent)
        else:
            process.signal_group(signal.SIGKILL)
    if waiting:
        await asyncio.wait(
            [
                asyncio.ensure_future(agent.process.exited.wait())
                for agent in waiting
                if agent.process is not None
            ],
            timeout=max(0.0, deadline_mono - clock.mono()),
        )
    for agent in waiting:
        process = agent.process
        assert process is not None
        agent.exited_before_deadline = not process.alive
        if process.alive:
            agent.state = AgentState.SHUTDOWN_FAILED
    for agent in launched:
        if agent.process is not None:
            await agent.process.kill()
            await agent.process.drain_output(0.5)
        if agent.state not in (AgentState.SHUTDOWN_FAILED, *DEAD_STATES):
            agent.state = AgentState.EXITED
    _record_outcomes(env)
    await env.hub.close_subscribers()
    for agent in env.agents.values():
        agent.queue.put_nowait(None)  # release any long poll still parked on this environment
    if env.runtime is not None:
        for _ in range(env.config.runtime_workers):  # one per worker parked in /next
            env.runtime.queue.put_nowait(None)
    env.launched = [process for process in env.launched if process.alive]
    env.runtime = None
    env.invocation = None
    env.in_flight.clear()
    env.phase = Phase.IDLE


async def reset(env: EnvironmentState, reason: Literal["failure", "timeout"]) -> None:
    """Tear down after a failure; the next invoke re-runs init inside the invocation."""
    await shutdown(env, reason)
    env.state = EnvState.RESET


async def _stop_runtime(env: EnvironmentState) -> None:
    runtime = env.runtime
    if runtime is None:
        return
    process = runtime.process
    if process is not None:
        if process.alive:
            process.signal_group(signal.SIGTERM)
            if not await process.wait_exit(RUNTIME_SHUTDOWN_S):
                process.signal_group(signal.SIGKILL)
        await process.kill()
        await process.drain_output(0.3)
    if env.telemetry_fd is not None:
        await env.telemetry_fd.drain(0.3)
        env.telemetry_fd = None
    if env.worker_output is not None:
        await env.worker_output.drain(0.3)
        env.worker_output = None
    runtime.state = RuntimeState.EXITED


def _record_outcomes(env: EnvironmentState) -> None:
    for agent in env.agents.values():
        process = agent.process
        outcome = ExtensionOutcome(
            name=agent.name,
            registered=agent.registered,
            events=list(agent.events),
            state=str(agent.state),
            exit_code=process.exit_code if process is not None else None,
            exited_before_deadline=agent.exited_before_deadline,
            shutdown_reason=agent.shutdown_reason,
            error_type=agent.error_type,
            pid=process.pid if process is not None else None,
        )
        env.outcomes[agent.name] = outcome
        env.outcome_history.append(outcome)
