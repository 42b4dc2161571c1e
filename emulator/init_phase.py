"""The init phase: launch extensions, start the runtime, wait for ``next``.

Order: ``platform.initStart``; every file in ``<opt>/extensions`` launched; the runtime starts
only once each extension registered (or died); init is over when the runtime and every
registered extension wait in ``next``. Subscriptions then close and ``initRuntimeDone``, one
``platform.extension`` per extension and ``initReport`` are emitted. Any failure (including the
time limit) resets the environment.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
"""

from __future__ import annotations

import secrets
import sys

from emulator import clock, platform_events
from emulator.config import MAX_EXTENSIONS
from emulator.control import EnvironmentControl
from emulator.envvars import extension_env, function_env
from emulator.framing import TelemetryFd
from emulator.freezing import freeze
from emulator.model import Agent, AgentState, Failure, RuntimeSlot, RuntimeState
from emulator.processes import launch, list_extensions
from emulator.shutdown_phase import reset
from emulator.state import EnvironmentState, EnvState, Phase
from emulator.worker_output import WorkerOutput


async def run_init(
    env: EnvironmentState, control: EnvironmentControl, phase: str, limit_s: float
) -> Failure | None:
    """Run one init phase; on failure reset the environment and return the failure."""
    env.generation += 1
    generation = env.generation
    env.phase = Phase.INIT
    env.failure = None
    env.idle_failure = None
    env.agents, env.agents_by_id = {}, {}
    env.runtime = None
    env.registration_open = True
    env.hub.open_subscriptions()
    env.hub.thawed.set()
    started = clock.mono()
    deadline = started + limit_s
    env.instance_id = clock.iso()[:10].replace("-", "/") + "/[$LATEST]" + secrets.token_hex(16)
    env.hub.emit("platform.initStart", platform_events.init_start(env.config, phase, env.instance_id))
    function_environment = function_env(env.config, env.runtime_api, env.lang_bin)

    await _launch_extensions(env, control, extension_env(function_environment, env.config.env), generation)
    externals = list(env.agents.values())
    ok = env.failure is None and await env.wait_until(
        lambda: all(agent.state != AgentState.STARTED for agent in externals), deadline
    )
    if ok:
        await _start_runtime(env, control, function_environment, generation)
        ok = env.failure is None and await env.wait_until(lambda: _init_done(env), deadline)
    if env.failure is None and not ok:
        env.failure = Failure(
            "Sandbox.Timedout",
            f"Init timed out after {limit_s:.2f} seconds",
            status="timeout",
            reason="timeout",
        )
    failure = env.failure
    env.registration_open = False
    env.hub.close_subscriptions()
    duration_ms = clock.ms(clock.mono() - started)
    status = failure.status if failure else "success"
    error_type = failure.error_type if failure else None
    env.hub.emit(
        "platform.initRuntimeDone", platform_events.init_runtime_done(env.config, phase, status, error_type)
    )
    for agent in env.agents.values():
        env.hub.emit("platform.extension", platform_events.extension(agent))
    env.hub.emit(
        "platform.initReport", platform_events.init_report(env.config, phase, status, error_type, duration_ms)
    )
    if failure is not None:
        await reset(env, failure.reason)
        return failure
    env.state = EnvState.READY
    env.phase = Phase.IDLE
    env.pending_init_ms = duration_ms if phase == "init" else None
    await freeze(env, flush=True)
    return None


def _init_done(env: EnvironmentState) -> bool:
    runtime = env.runtime
    if runtime is None or runtime.state != RuntimeState.READY:
        return False
    return all(agent.state == AgentState.READY for agent in env.agents.values() if agent.registered)


async def _launch_extensions(
    env: EnvironmentState, control: EnvironmentControl, process_env: dict[str, str], generation: int
) -> None:
    files = list_extensions(env.config.opt_dir)
    if len(files) > MAX_EXTENSIONS:
        message = f"{len(files)} extensions found; at most {MAX_EXTENSIONS} are allowed"
        control.fail(Failure("Extension.TooManyExtensions", message))
        return
    for path in files:
        agent = Agent(name=path.name, external=True)
        env.agents[path.name] = agent
        try:
            agent.process = process = await launch(
                path.name,
                "extension",
                [str(path)],
                env=process_env,
                cwd=env.config.task_dir,
                generation=generation,
                on_line=control.output_sink("extension", path.name),
                on_exit=control.on_process_exit,
            )
        except OSError as exc:
            agent.state, agent.error_type = AgentState.LAUNCH_ERROR, "Extension.LaunchError"
            control.fail(
                Failure("Extension.LaunchError", f"Extension {path.name} could not be launched: {exc}")
            )
            return
        env.adopt(process)


#: The runtime's bootstrap when a wrapper runs it: like Lambda's, it reads the handler from
#: `_HANDLER` when it starts, so a wrapper may change it.
_BOOTSTRAP = (
    "import os, sys\nfrom awslambdaric.__main__ import main\nmain([sys.argv[0], os.environ['_HANDLER']])"
)


def runtime_command(handler: str, environment: dict[str, str]) -> list[str]:
    """awslambdaric on the handler; behind `AWS_LAMBDA_EXEC_WRAPPER` when it is set, which Lambda
    runs with the runtime's command line as arguments
    (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html#runtime-wrapper)."""
    wrapper = environment.get("AWS_LAMBDA_EXEC_WRAPPER", "").strip()
    if wrapper:
        return [wrapper, sys.executable, "-c", _BOOTSTRAP]
    return [sys.executable, "-m", "awslambdaric", handler]


async def _start_runtime(
    env: EnvironmentState, control: EnvironmentControl, function_environment: dict[str, str], generation: int
) -> None:
    """Start awslambdaric on the handler, with the framed telemetry log fd (multi-line records).

    On Managed Instances ``AWS_LAMBDA_MAX_CONCURRENCY`` makes awslambdaric fork that many
    workers, as Lambda runs Python there; each worker's stdout and stderr are connections of
    their own to the worker output socket (see :mod:`emulator.worker_output`).
    """
    telemetry_fd = TelemetryFd()
    slot = RuntimeSlot()
    env.runtime = slot
    on_line = control.output_sink("function", "function")
    extra_env = telemetry_fd.child_env()
    if env.config.managed_instances:
        env.worker_output = WorkerOutput(env.lang_bin.parent.parent / f"worker-output-{generation}.sock")
        await env.worker_output.start(on_line)
        extra_env.update(env.worker_output.child_env())
    try:
        slot.process = process = await launch(
            "runtime",
            "runtime",
            runtime_command(env.config.handler, function_environment),
            env={**function_environment, **extra_env},
            cwd=env.config.task_dir,
            generation=generation,
            on_line=on_line,
            on_exit=control.on_process_exit,
            pass_fds=[telemetry_fd.write_fd],
        )
    except OSError as exc:
        telemetry_fd.close_unused()
        slot.state = RuntimeState.EXITED
        control.fail(Failure("Runtime.InvalidEntrypoint", f"Runtime could not be started: {exc}"))
        return
    env.adopt(process)
    await telemetry_fd.start(on_line)
    env.telemetry_fd = telemetry_fd
