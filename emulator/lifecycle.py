"""The top of the emulator: one :class:`Sandbox` per emulated function, which knows everything.

The state lives in :class:`~emulator.state.EnvironmentState`; the HTTP handlers report what
processes do (register, next, response, errors) through the
:class:`~emulator.control.EnvironmentControl` this class implements, and the phases
(:mod:`~emulator.init_phase`, :mod:`~emulator.invoke_phase`, :mod:`~emulator.shutdown_phase`)
wait on the state's :class:`~emulator.notifier.Notifier` for their end, a failure or a time
limit. Every fatal failure resets the environment (SHUTDOWN with ``timeout``/``failure``) and the
next invoke re-runs init inside the invocation ("suppressed init", ``phase: "invoke"``).

In Managed Instances mode several invocations run at once: the lock serialises init, reset and
shutdown only, and up to ``concurrency`` invocations wait on the state together.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

from emulator import clock, cpu_quota, platform_events
from emulator.config import FunctionConfig
from emulator.envvars import make_lang_bin
from emulator.init_phase import run_init
from emulator.invoke_phase import fail_without_runtime, run_concurrent_invoke, run_invoke
from emulator.model import AgentState, Failure, Invocation, RuntimeState
from emulator.processes import LineCallback, ManagedProcess
from emulator.server import ApiServer
from emulator.shutdown_phase import reset, shutdown
from emulator.state import EnvironmentState, EnvState, Phase
from emulator.telemetry import TelemetryHub
from emulator.tracing import TraceContext

OutputCallback = Callable[[str, str], None]
CGROUP_REMOVAL_POLLS = 100
"""Bound on waiting for the CPU-share cgroup to empty at close (x 20 ms)."""


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


class Sandbox:
    """One emulated Lambda execution environment (and its successors after resets)."""

    def __init__(self, config: FunctionConfig, *, on_output: OutputCallback | None = None) -> None:
        self.config = config
        self._workdir = Path(tempfile.mkdtemp(prefix="lambda-emulator-"))
        hub = TelemetryHub(
            log_format_json=config.log_format_json,
            telemetry_log=config.telemetry_log,
            cap_bytes=config.subscriber_cap_bytes,
        )
        self.env = EnvironmentState(config, hub, make_lang_bin(self._workdir))
        self._on_output = on_output
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(config.runtime_workers)
        self._server = ApiServer(self.env, self)
        self._background: set[asyncio.Task[None]] = set()
        self.cpu_share_problem: str | None = None
        """Why the CPU share of ``cpu_share`` could not be enforced on this machine, if it could not."""
        self._pending_reset: Failure | None = None
        """Managed Instances: a timed-out invocation left a runtime process busy; reset once idle."""

    # ---- EnvironmentControl ----------------------------------------------------------------
    def fail(self, failure: Failure) -> None:
        """Record a fatal error of the current phase (the first one wins)."""
        env = self.env
        if env.phase in (Phase.INIT, Phase.INVOKE):
            if env.failure is None:
                env.failure = failure
            env.changed.notify()
        elif env.phase == Phase.IDLE and env.state == EnvState.READY and env.idle_failure is None:
            env.idle_failure = failure
            self._spawn(self._reset_after_idle_failure(env.generation))

    def on_runtime_ready(self) -> None:
        """A runtime worker's first ``/next``; once every one made it, registration closes."""
        runtime = self.env.runtime
        assert runtime is not None
        runtime.workers_ready += 1
        if runtime.workers_ready >= self.config.runtime_workers:
            runtime.state = RuntimeState.READY
            self.env.registration_open = False
        self.env.changed.notify()

    def on_runtime_result(
        self, invocation: Invocation, status: str, body: bytes, error_type: str | None
    ) -> None:
        """The runtime posted a response or error: answer the invoker right away."""
        invocation.telemetry_status = status
        invocation.telemetry_error_type = error_type
        invocation.answer("success" if status == "success" else "error", body, error_type)
        self.env.changed.notify()

    def on_runtime_done(self, invocation: Invocation) -> None:
        """The runtime called ``/next`` after answering: emit ``platform.runtimeDone``."""
        runtime = self.env.runtime
        assert runtime is not None
        done = (clock.mono(), clock.wall())
        runtime.state = RuntimeState.READY
        invocation.runtime_done, invocation.runtime_done_at = True, done
        record = platform_events.runtime_done(
            invocation, invocation.telemetry_status or "success", invocation.telemetry_error_type, done
        )
        self.env.hub.emit("platform.runtimeDone", record)
        self.env.changed.notify()

    def on_process_exit(self, process: ManagedProcess) -> None:
        env = self.env
        if process.generation != env.generation:
            return
        env.changed.notify()
        if env.phase == Phase.SHUTDOWN:
            return
        if process.kind == "runtime":
            if env.runtime is not None:
                env.runtime.state = RuntimeState.EXITED
            message = f"Runtime exited with error: {_describe_exit(process.exit_code)}"
            self.fail(Failure("Runtime.ExitError", message))
            return
        agent = env.agents.get(process.name)
        if agent is None or agent.state in (AgentState.INIT_ERROR, AgentState.EXIT_ERROR):
            return
        agent.state, agent.error_type = AgentState.EXITED, "Extension.Crash"
        message = f"Extension {process.name} exited unexpectedly: {_describe_exit(process.exit_code)}"
        self.fail(Failure("Extension.Crash", message))

    def output_sink(self, kind: Literal["function", "extension"], source: str) -> LineCallback:
        def on_line(line: str, timestamp: float | None) -> None:
            self.env.output_lines.append((source, line))
            if self._on_output is not None:
                self._on_output(source, line)
            # With several invocations in flight a plain output line cannot be told apart.
            invocation = self.env.invocation
            request_id = invocation.request_id if invocation is not None else None
            self.env.hub.emit_log(kind, line, request_id, timestamp)

        return on_line

    # ---- start / stop ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the API server (no processes yet)."""
        self.env.runtime_api = await self._server.start()
        if self.config.cpu_share:
            made = cpu_quota.create(self.config.memory_mb)
            if isinstance(made, str):
                self.cpu_share_problem = made
            else:
                self.env.cpu_quota = made

    async def close(self) -> None:
        """Spin down if running, stop the server and delivery, remove temporary files."""
        env = self.env
        async with self._lock:
            await self._wait_no_invocations()
            if env.state == EnvState.READY or env.live_processes():
                await shutdown(env, "spindown")
            env.state = EnvState.CLOSED
        for process in env.launched:  # belt and braces: nothing survives the environment
            if process.alive:
                await process.kill()
        for task in list(self._background):
            task.cancel()
        await env.hub.aclose()
        await self._server.stop()
        if env.cpu_quota is not None:
            # Killed processes leave the cgroup once reaped; the kernel sends no event for that.
            for _ in range(CGROUP_REMOVAL_POLLS):
                if env.cpu_quota.remove():
                    break
                await asyncio.sleep(0.02)
        shutil.rmtree(self._workdir, ignore_errors=True)

    async def initialize(self) -> Failure | None:
        """Eager cold-start init (phase ``init``); a failure leaves the environment reset."""
        async with self._lock:
            if self.env.state != EnvState.COLD:
                return None
            return await run_init(self.env, self, "init", self.config.init_timeout_s)

    async def spindown(self) -> None:
        """SHUTDOWN(spindown) now; the next invoke cold-starts a new environment."""
        async with self._lock:
            await self._wait_no_invocations()
            if self.env.state == EnvState.READY:
                await shutdown(self.env, "spindown")
            if self.env.state != EnvState.CLOSED:
                self.env.state = EnvState.COLD

    # ---- helpers ---------------------------------------------------------------------------
    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reset_after_idle_failure(self, generation: int) -> None:
        async with self._lock:
            env = self.env
            if env.generation == generation and env.state == EnvState.READY and env.idle_failure:
                await reset(env, env.idle_failure.reason)

    async def _wait_no_invocations(self) -> None:
        """Managed Instances: let the invocations in flight finish before tearing down."""
        while self.env.in_flight:
            await self.env.changed.wait(None)

    # ---- operations ------------------------------------------------------------------------
    async def invoke(self, payload: bytes, trace: TraceContext | None = None) -> Invocation:
        """Run one invocation through its whole phase; the answer is on the returned object.

        A cold environment is initialised first (phase ``init``, not counted in the invoke's
        time); a reset one re-runs init inside the invocation (phase ``invoke``), bounded by the
        function timeout, and its failure is the invocation's failure. In Managed Instances mode
        up to ``concurrency`` invocations run at once; the lock only covers the init.
        """
        if self.config.managed_instances:
            async with self._slots:
                return await self._invoke_concurrently(payload, trace)
        async with self._lock:
            invocation = self._new_invocation(payload, trace)
            if await self._prepare(invocation):
                await run_invoke(self.env, invocation)
            return invocation

    def _new_invocation(self, payload: bytes, trace: TraceContext | None) -> Invocation:
        if self.env.state == EnvState.CLOSED:
            raise RuntimeError("the environment is closed")
        return Invocation(str(uuid.uuid4()), payload, trace or TraceContext.new(), self.config.function_arn)

    async def _prepare(self, invocation: Invocation) -> bool:
        """Init (or re-init) the environment for ``invocation``; False when that failed it."""
        env = self.env
        if env.idle_failure is not None and env.state == EnvState.READY:
            await reset(env, env.idle_failure.reason)
        if env.state == EnvState.COLD:
            await run_init(env, self, "init", self.config.init_timeout_s)
            invocation.start_mono, invocation.start_wall = clock.mono(), clock.wall()
        timeout = self.config.timeout_s
        invocation.deadline_mono = invocation.start_mono + timeout
        invocation.deadline_ms = clock.epoch_ms(invocation.start_wall) + int(timeout * 1000)
        if env.state == EnvState.RESET:
            remaining = max(0.001, invocation.deadline_mono - clock.mono())
            failure = await run_init(env, self, "invoke", min(self.config.init_timeout_s, remaining))
            if failure is not None:
                fail_without_runtime(env, invocation, failure)
                return False
        return True

    async def _invoke_concurrently(self, payload: bytes, trace: TraceContext | None) -> Invocation:
        env = self.env
        async with self._lock:
            invocation = self._new_invocation(payload, trace)
            if env.state == EnvState.READY and not env.in_flight:
                # A timeout left a worker busy, or a failure hit the invocations in flight.
                broken = self._pending_reset or env.failure
                if broken is not None:
                    await reset(env, broken.reason)
            if env.state != EnvState.READY:  # torn down since (spindown, reset): nothing pending
                self._pending_reset = None
            if not await self._prepare(invocation):
                return invocation
            env.phase = Phase.INVOKE
            if not env.in_flight:
                env.failure = None
            env.in_flight[invocation.request_id] = invocation
        try:
            failure = await run_concurrent_invoke(env, invocation)
        finally:
            env.in_flight.pop(invocation.request_id, None)
            env.changed.notify()
        if failure is not None and failure.status == "timeout" and self._pending_reset is None:
            self._pending_reset = failure
        if not env.in_flight and env.phase == Phase.INVOKE:
            env.phase = Phase.IDLE
        return invocation
