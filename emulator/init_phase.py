"""The init phase (spec 2.7 steps 1-6): launch extensions, start the runtime, wait for ``next``.

Order: ``platform.initStart``; every file in ``<opt>/extensions`` launched; the runtime starts
only once each extension registered (or died); init is over when the runtime and every
registered extension wait in ``next``. Subscriptions then close and ``initRuntimeDone``, one
``platform.extension`` per extension and ``initReport`` are emitted. Any failure (including the
time limit) resets the environment.
"""

from __future__ import annotations

import secrets
import sys
from typing import TYPE_CHECKING

from emulator import clock, platform_events
from emulator.config import MAX_EXTENSIONS
from emulator.envvars import extension_env, function_env
from emulator.framing import TelemetryFd
from emulator.model import Agent, AgentState, Failure, RuntimeSlot, RuntimeState
from emulator.processes import launch, list_extensions

if TYPE_CHECKING:
    from emulator.lifecycle import Sandbox


async def run_init(sb: Sandbox, phase: str, limit_s: float) -> Failure | None:
    """Run one init phase; on failure reset the environment and return the failure."""
    from emulator.lifecycle import EnvState, Phase

    sb.generation += 1
    generation = sb.generation
    sb.phase = Phase.INIT
    sb.failure = None
    sb.idle_failure = None
    sb.agents, sb.agents_by_id = {}, {}
    sb.runtime = None
    sb.registration_open = True
    sb.hub.open_subscriptions()
    sb.hub.thawed.set()
    started = clock.mono()
    deadline = started + limit_s
    sb.instance_id = clock.iso()[:10].replace("-", "/") + "/[$LATEST]" + secrets.token_hex(16)
    sb.hub.emit("platform.initStart", platform_events.init_start(sb.config, phase, sb.instance_id))
    fenv = function_env(sb.config, sb.runtime_api, sb.lang_bin)

    await _launch_extensions(sb, extension_env(fenv, sb.config.env), generation)
    externals = list(sb.agents.values())
    ok = sb.failure is None and await sb.wait_until(
        lambda: all(a.state != AgentState.STARTED for a in externals), deadline
    )
    if ok:
        await _start_runtime(sb, fenv, generation)
        ok = sb.failure is None and await sb.wait_until(lambda: _init_done(sb), deadline)
    if sb.failure is None and not ok:
        sb.failure = Failure(
            "Sandbox.Timedout",
            f"Init timed out after {limit_s:.2f} seconds",
            status="timeout",
            reason="timeout",
        )
    failure = sb.failure
    sb.registration_open = False
    sb.hub.close_subscriptions()
    duration_ms = clock.ms(clock.mono() - started)
    status = failure.status if failure else "success"
    error_type = failure.error_type if failure else None
    sb.hub.emit("platform.initRuntimeDone", platform_events.init_runtime_done(phase, status, error_type))
    for agent in sb.agents.values():
        sb.hub.emit("platform.extension", platform_events.extension(agent))
    sb.hub.emit("platform.initReport", platform_events.init_report(phase, status, error_type, duration_ms))
    if failure is not None:
        await sb.reset(failure.reason)
        return failure
    sb.state = EnvState.READY
    sb.phase = Phase.IDLE
    sb.pending_init_ms = duration_ms if phase == "init" else None
    await sb.freeze(flush=True)
    return None


def _init_done(sb: Sandbox) -> bool:
    runtime = sb.runtime
    if runtime is None or runtime.state != RuntimeState.READY:
        return False
    return all(a.state == AgentState.READY for a in sb.agents.values() if a.registered)


async def _launch_extensions(sb: Sandbox, env: dict[str, str], generation: int) -> None:
    files = list_extensions(sb.config.opt_dir)
    if len(files) > MAX_EXTENSIONS:
        message = f"{len(files)} extensions found; at most {MAX_EXTENSIONS} are allowed"
        sb.fail(Failure("Extension.TooManyExtensions", message))
        return
    for path in files:
        agent = Agent(name=path.name, external=True)
        sb.agents[path.name] = agent
        try:
            agent.process = proc = await launch(
                path.name,
                "extension",
                [str(path)],
                env=env,
                cwd=sb.config.task_dir,
                generation=generation,
                on_line=sb.line_callback("extension", path.name),
                on_exit=sb.on_exit,
            )
        except OSError as exc:
            agent.state, agent.error_type = AgentState.LAUNCH_ERROR, "Extension.LaunchError"
            sb.fail(Failure("Extension.LaunchError", f"Extension {path.name} could not be launched: {exc}"))
            return
        sb.launched.append(proc)


async def _start_runtime(sb: Sandbox, fenv: dict[str, str], generation: int) -> None:
    """Start awslambdaric on the handler, with the framed telemetry log fd (multi-line records)."""
    tfd = TelemetryFd()
    slot = RuntimeSlot()
    sb.runtime = slot
    on_line = sb.line_callback("function", "function")
    try:
        slot.process = proc = await launch(
            "runtime",
            "runtime",
            [sys.executable, "-m", "awslambdaric", sb.config.handler],
            env={**fenv, **tfd.child_env()},
            cwd=sb.config.task_dir,
            generation=generation,
            on_line=on_line,
            on_exit=sb.on_exit,
            pass_fds=[tfd.write_fd],
        )
    except OSError as exc:
        tfd.close_unused()
        slot.state = RuntimeState.EXITED
        sb.fail(Failure("Runtime.InvalidEntrypoint", f"Runtime could not be started: {exc}"))
        return
    sb.launched.append(proc)
    await tfd.start(on_line)
    sb.tfd = tfd
