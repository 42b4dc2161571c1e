"""The execution-environment state machine: init, invoke, shutdown/reset, freeze (spec 2.6, 2.7, 5).

One :class:`Sandbox` per emulated function. All state lives on one asyncio loop; the HTTP
handlers report what processes do (register, next, response, errors) and the lifecycle methods
wait on :class:`~emulator.notifier.Notifier` predicates for the phase to end, fail, or time out.
Every fatal failure resets the environment (SHUTDOWN with ``timeout``/``failure``) and the next
invoke re-runs init inside the invocation ("suppressed init", ``phase: "invoke"``).
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from emulator import clock, platform_events
from emulator.config import (
    MAX_EXTENSIONS,
    RUNTIME_SHUTDOWN_S,
    SHUTDOWN_BUDGET_S,
    FunctionConfig,
)
from emulator.envvars import extension_env, function_env, make_lang_bin
from emulator.framing import TelemetryFd
from emulator.model import (
    DEAD_STATES,
    Agent,
    AgentState,
    ExtensionOutcome,
    Failure,
    Invocation,
    RuntimeSlot,
    RuntimeState,
)
from emulator.notifier import Notifier
from emulator.processes import LineCallback, ManagedProcess, launch, list_extensions
from emulator.server import ApiServer
from emulator.telemetry import TelemetryHub
from emulator.tracing import TraceContext

FLUSH_BEFORE_FREEZE_S = 1.0
FLUSH_BEFORE_SHUTDOWN_S = 0.5
FREEZE_CONFIRM_S = 0.5
OutputCallback = Callable[[str, str], None]


class Phase(StrEnum):
    IDLE = "idle"
    INIT = "init"
    INVOKE = "invoke"
    SHUTDOWN = "shutdown"


class EnvState(StrEnum):
    COLD = "cold"  # no processes; the next invoke is a cold start
    READY = "ready"  # initialised and idle (possibly frozen)
    RESET = "reset"  # torn down after a failure; the next invoke re-inits (phase "invoke")
    CLOSED = "closed"


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def timeout_payload(request_id: str, timeout_s: float) -> bytes:
    message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()


class Sandbox:
    """One emulated Lambda execution environment (and its successors after resets)."""

    def __init__(self, config: FunctionConfig, *, on_output: OutputCallback | None = None) -> None:
        self.config = config
        self.hub = TelemetryHub(
            log_format_json=config.log_format_json,
            telemetry_log=config.telemetry_log,
            cap_bytes=config.subscriber_cap_bytes,
        )
        self.changed = Notifier()
        self.phase = Phase.IDLE
        self.state = EnvState.COLD
        self.generation = 0
        self.agents: dict[str, Agent] = {}
        self.agents_by_id: dict[str, Agent] = {}
        self.runtime: RuntimeSlot | None = None
        self.invocation: Invocation | None = None
        self.registration_open = False
        self.failure: Failure | None = None
        self.frozen = False
        self.output_lines: list[tuple[str, str]] = []
        self.outcomes: dict[str, ExtensionOutcome] = {}
        self.outcome_history: list[ExtensionOutcome] = []
        self.runtime_api = ""
        self._on_output = on_output
        self._lock = asyncio.Lock()
        self._server = ApiServer(self)
        self._workdir = Path(tempfile.mkdtemp(prefix="lambda-emulator-"))
        self._lang_bin = make_lang_bin(self._workdir)
        self._tfd: TelemetryFd | None = None
        self._pending_init_ms: float | None = None
        self._idle_failure: Failure | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._instance_id = ""
        self._launched: list[ManagedProcess] = []

    # ---- properties used by the API handlers -----------------------------------------------
    @property
    def in_init(self) -> bool:
        return self.phase == Phase.INIT

    def live_processes(self) -> list[ManagedProcess]:
        procs = [a.process for a in self.agents.values() if a.process is not None]
        if self.runtime is not None and self.runtime.process is not None:
            procs.append(self.runtime.process)
        return [p for p in procs if p.alive]

    # ---- start / stop ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the API server (no processes yet)."""
        self.runtime_api = await self._server.start()

    async def close(self) -> None:
        """Spin down if running, stop the server and delivery, remove temporary files."""
        async with self._lock:
            if self.state == EnvState.READY or self.live_processes():
                await self._shutdown("spindown")
            self.state = EnvState.CLOSED
        for proc in self._launched:  # belt and braces: nothing survives the environment
            if proc.alive:
                await proc.kill()
        for task in list(self._background):
            task.cancel()
        await self.hub.aclose()
        await self._server.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    async def initialize(self) -> Failure | None:
        """Eager cold-start init (phase ``init``); a failure leaves the environment reset."""
        async with self._lock:
            if self.state != EnvState.COLD:
                return None
            return await self._init("init", self.config.init_timeout_s)

    async def spindown(self) -> None:
        """SHUTDOWN(spindown) now; the next invoke cold-starts a new environment."""
        async with self._lock:
            if self.state == EnvState.READY:
                await self._shutdown("spindown")
            if self.state != EnvState.CLOSED:
                self.state = EnvState.COLD

    # ---- events from the API handlers and process watchers ---------------------------------
    def fail(self, failure: Failure) -> None:
        """Record a fatal error of the current phase (the first one wins)."""
        if self.phase in (Phase.INIT, Phase.INVOKE):
            if self.failure is None:
                self.failure = failure
            self.changed.notify()
        elif self.phase == Phase.IDLE and self.state == EnvState.READY and self._idle_failure is None:
            self._idle_failure = failure
            self._spawn(self._reset_after_idle_failure(self.generation))

    def on_runtime_ready(self) -> None:
        """The runtime's first ``/next``: runtime and function init done, registration closes."""
        assert self.runtime is not None
        self.runtime.state = RuntimeState.READY
        self.registration_open = False
        self.changed.notify()

    def on_runtime_result(self, inv: Invocation, status: str, body: bytes, error_type: str | None) -> None:
        """The runtime posted a response or error: answer the invoker right away."""
        inv.telemetry_status = status
        inv.telemetry_error_type = error_type
        inv.answer("success" if status == "success" else "error", body, error_type)
        self.changed.notify()

    def on_runtime_done(self, inv: Invocation) -> None:
        """The runtime called ``/next`` after answering: emit ``platform.runtimeDone``."""
        assert self.runtime is not None
        done = (clock.mono(), clock.wall())
        self.runtime.state = RuntimeState.READY
        inv.runtime_done, inv.runtime_done_at = True, done
        record = platform_events.runtime_done(
            inv, inv.telemetry_status or "success", inv.telemetry_error_type, done
        )
        self.hub.emit("platform.runtimeDone", record)
        self.changed.notify()

    def _on_exit(self, proc: ManagedProcess) -> None:
        if proc.generation != self.generation:
            return
        self.changed.notify()
        if self.phase == Phase.SHUTDOWN:
            return
        if proc.kind == "runtime":
            if self.runtime is not None:
                self.runtime.state = RuntimeState.EXITED
            self.fail(
                Failure("Runtime.ExitError", f"Runtime exited with error: {_describe_exit(proc.exit_code)}")
            )
            return
        agent = self.agents.get(proc.name)
        if agent is None or agent.state in (AgentState.INIT_ERROR, AgentState.EXIT_ERROR):
            return
        agent.state, agent.error_type = AgentState.EXITED, "Extension.Crash"
        self.fail(
            Failure(
                "Extension.Crash",
                f"Extension {proc.name} exited unexpectedly: {_describe_exit(proc.exit_code)}",
            )
        )

    def _line_callback(self, kind: Literal["function", "extension"], source: str) -> LineCallback:
        def on_line(line: str, ts: float | None) -> None:
            self.output_lines.append((source, line))
            if self._on_output is not None:
                self._on_output(source, line)
            request_id = self.invocation.request_id if self.invocation is not None else None
            self.hub.emit_log(kind, line, request_id, ts)

        return on_line

    # ---- helpers ---------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _wait_until(self, predicate: Callable[[], bool], deadline_mono: float) -> bool:
        """Wait for ``predicate``; False when a failure was recorded or the deadline passed."""
        while True:
            if self.failure is not None:
                return False
            if predicate():
                return True
            remaining = deadline_mono - clock.mono()
            if remaining <= 0:
                return False
            await self.changed.wait(remaining)

    async def _reset_after_idle_failure(self, generation: int) -> None:
        async with self._lock:
            if self.generation == generation and self.state == EnvState.READY and self._idle_failure:
                await self._reset(self._idle_failure.reason)

    async def _reset(self, reason: Literal["failure", "timeout"]) -> None:
        await self._shutdown(reason)
        self.state = EnvState.RESET

    def _max_memory_mb(self) -> int:
        kib = sum(p.sample_memory() for p in self.live_processes())
        return max(1, math.ceil(kib / 1024))

    # ---- init ------------------------------------------------------------------------------
    async def _init(self, phase: str, limit_s: float) -> Failure | None:
        """Run one init phase; on failure reset the environment and return the failure."""
        self.generation += 1
        generation = self.generation
        self.phase = Phase.INIT
        self.failure = None
        self._idle_failure = None
        self.agents, self.agents_by_id = {}, {}
        self.runtime = None
        self.registration_open = True
        self.hub.open_subscriptions()
        self.hub.thawed.set()
        started = clock.mono()
        deadline = started + limit_s
        self._instance_id = clock.iso()[:10].replace("-", "/") + "/[$LATEST]" + secrets.token_hex(16)
        self.hub.emit("platform.initStart", platform_events.init_start(self.config, phase, self._instance_id))
        fenv = function_env(self.config, self.runtime_api, self._lang_bin)

        await self._launch_extensions(extension_env(fenv, self.config.env), generation)
        externals = list(self.agents.values())
        ok = self.failure is None and await self._wait_until(
            lambda: all(a.state != AgentState.STARTED for a in externals), deadline
        )
        if ok:
            await self._start_runtime(fenv, generation)
            ok = self.failure is None and await self._wait_until(self._init_done, deadline)
        if self.failure is None and not ok:
            self.failure = Failure(
                "Sandbox.Timedout",
                f"Init timed out after {limit_s:.2f} seconds",
                status="timeout",
                reason="timeout",
            )
        failure = self.failure
        self.registration_open = False
        self.hub.close_subscriptions()
        duration_ms = clock.ms(clock.mono() - started)
        status = failure.status if failure else "success"
        error_type = failure.error_type if failure else None
        self.hub.emit(
            "platform.initRuntimeDone", platform_events.init_runtime_done(phase, status, error_type)
        )
        for agent in self.agents.values():
            self.hub.emit("platform.extension", platform_events.extension(agent))
        self.hub.emit(
            "platform.initReport", platform_events.init_report(phase, status, error_type, duration_ms)
        )
        if failure is not None:
            await self._reset(failure.reason)
            return failure
        self.state = EnvState.READY
        self.phase = Phase.IDLE
        self._pending_init_ms = duration_ms if phase == "init" else None
        await self._freeze(flush=True)
        return None

    def _init_done(self) -> bool:
        runtime = self.runtime
        if runtime is None or runtime.state != RuntimeState.READY:
            return False
        return all(a.state == AgentState.READY for a in self.agents.values() if a.registered)

    async def _launch_extensions(self, env: dict[str, str], generation: int) -> None:
        files = list_extensions(self.config.opt_dir)
        if len(files) > MAX_EXTENSIONS:
            self.fail(
                Failure(
                    "Extension.TooManyExtensions",
                    f"{len(files)} extensions found; at most {MAX_EXTENSIONS} are allowed",
                )
            )
            return
        for path in files:
            agent = Agent(name=path.name, external=True)
            self.agents[path.name] = agent
            try:
                agent.process = proc = await launch(
                    path.name,
                    "extension",
                    [str(path)],
                    env=env,
                    cwd=self.config.task_dir,
                    generation=generation,
                    on_line=self._line_callback("extension", path.name),
                    on_exit=self._on_exit,
                )
                self._launched.append(proc)
            except OSError as exc:
                agent.state, agent.error_type = AgentState.LAUNCH_ERROR, "Extension.LaunchError"
                self.fail(
                    Failure("Extension.LaunchError", f"Extension {path.name} could not be launched: {exc}")
                )
                return

    async def _start_runtime(self, fenv: dict[str, str], generation: int) -> None:
        tfd = TelemetryFd()
        env = {**fenv, **tfd.child_env()}
        slot = RuntimeSlot()
        self.runtime = slot
        argv = [sys.executable, "-m", "awslambdaric", self.config.handler]
        on_line = self._line_callback("function", "function")
        try:
            slot.process = await launch(
                "runtime",
                "runtime",
                argv,
                env=env,
                cwd=self.config.task_dir,
                generation=generation,
                on_line=on_line,
                on_exit=self._on_exit,
                pass_fds=[tfd.write_fd],
            )
        except OSError as exc:
            tfd.close_unused()
            slot.state = RuntimeState.EXITED
            self.fail(Failure("Runtime.InvalidEntrypoint", f"Runtime could not be started: {exc}"))
            return
        self._launched.append(slot.process)
        await tfd.start(on_line)
        self._tfd = tfd

    # ---- invoke ----------------------------------------------------------------------------
    async def invoke(self, payload: bytes, trace: TraceContext | None = None) -> Invocation:
        """Run one invocation through its whole phase; the answer is on the returned object."""
        async with self._lock:
            if self.state == EnvState.CLOSED:
                raise RuntimeError("the environment is closed")
            inv = Invocation(
                str(uuid.uuid4()), payload, trace or TraceContext.new(), self.config.function_arn
            )
            if self._idle_failure is not None and self.state == EnvState.READY:
                await self._reset(self._idle_failure.reason)
            if self.state == EnvState.COLD:
                await self._init("init", self.config.init_timeout_s)
                inv.start_mono, inv.start_wall = clock.mono(), clock.wall()
            timeout = self.config.timeout_s
            inv.deadline_mono = inv.start_mono + timeout
            inv.deadline_ms = clock.epoch_ms(inv.start_wall) + int(timeout * 1000)
            if self.state == EnvState.RESET:
                remaining = max(0.001, inv.deadline_mono - clock.mono())
                failure = await self._init("invoke", min(self.config.init_timeout_s, remaining))
                if failure is not None:
                    self._fail_without_runtime(inv, failure)
                    return inv
            await self._run_invoke(inv)
            return inv

    def _fail_without_runtime(self, inv: Invocation, failure: Failure) -> None:
        """The suppressed init inside this invocation failed: the invocation fails with it."""
        self.hub.emit("platform.start", platform_events.start(inv))
        if failure.status == "timeout":
            inv.answer("timeout", timeout_payload(inv.request_id, self.config.timeout_s), "Sandbox.Timedout")
        else:
            inv.answer("error", failure.payload(inv.request_id), failure.error_type)
        record = platform_events.report(
            inv,
            self.config,
            status=failure.status,
            error_type=None if failure.status == "timeout" else failure.error_type,
            end_mono=clock.mono(),
            max_memory_mb=1,
            init_duration_ms=None,
            extension_overhead=None,
        )
        self.hub.emit("platform.report", record)

    async def _run_invoke(self, inv: Invocation) -> None:
        runtime = self.runtime
        assert runtime is not None
        await self._thaw()
        self.phase = Phase.INVOKE
        self.invocation = inv
        self.failure = None
        self.hub.emit("platform.start", platform_events.start(inv))
        event = {
            "eventType": "INVOKE",
            "deadlineMs": inv.deadline_ms,
            "requestId": inv.request_id,
            "invokedFunctionArn": inv.function_arn,
            "tracing": inv.trace.invoke_field(),
        }
        subscribers = [
            a
            for a in self.agents.values()
            if a.registered and "INVOKE" in a.events and a.state not in DEAD_STATES
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

        ok = await self._wait_until(phase_over, inv.deadline_mono)
        end_mono = clock.mono()
        failure = self.failure
        if not ok and failure is None:
            failure = Failure(
                "Sandbox.Timedout",
                f"Task timed out after {self.config.timeout_s:.2f} seconds",
                status="timeout",
                reason="timeout",
            )
        status: str
        if failure is not None:
            self._finish_failed_runtime(inv, failure)
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
            self.config,
            status=status,
            error_type=error_type,
            end_mono=end_mono,
            max_memory_mb=self._max_memory_mb(),
            init_duration_ms=self._pending_init_ms,
            extension_overhead=overhead,
        )
        self._pending_init_ms = None
        if failure is not None:
            self.hub.emit("platform.report", record)
            await self._reset(failure.reason)
            return
        if self.config.freeze:
            await self.hub.flush(FLUSH_BEFORE_FREEZE_S)
        self.hub.emit("platform.report", record)
        self.phase = Phase.IDLE
        self.invocation = None
        await self._freeze(flush=False)

    def _finish_failed_runtime(self, inv: Invocation, failure: Failure) -> None:
        """Answer the invoker (if the runtime had not) and close the runtime's part."""
        if failure.status == "timeout":
            inv.answer("timeout", timeout_payload(inv.request_id, self.config.timeout_s), "Sandbox.Timedout")
        else:
            inv.answer("error", failure.payload(inv.request_id), failure.error_type)
        if not inv.runtime_done:
            done = (clock.mono(), clock.wall())
            inv.runtime_done_at = done
            error_type = None if failure.status == "timeout" else failure.error_type
            record = platform_events.runtime_done(inv, failure.status, error_type, done)
            self.hub.emit("platform.runtimeDone", record)

    # ---- freeze ----------------------------------------------------------------------------
    async def _freeze(self, flush: bool) -> None:
        """SIGSTOP every process group (``--freeze``), optionally after delivering pending telemetry.

        After an invoke the caller flushes *before* emitting ``platform.report`` so that the
        report waits in the buffers for the next thaw, as in Lambda.
        """
        if not self.config.freeze or self.frozen:
            return
        if flush:
            await self.hub.flush(FLUSH_BEFORE_FREEZE_S)
        self.hub.thawed.clear()
        procs = self.live_processes()
        for proc in procs:
            proc.signal_group(signal.SIGSTOP)
        self.frozen = True
        # SIGSTOP is asynchronous: wait (bounded) until the kernel reports every leader stopped,
        # so "frozen" means frozen for whoever looks next.
        deadline = clock.mono() + FREEZE_CONFIRM_S
        while clock.mono() < deadline and any(p.proc_state() not in ("T", "t", None) for p in procs):
            await asyncio.sleep(0.002)

    async def _thaw(self) -> None:
        if not self.frozen:
            return
        for proc in self.live_processes():
            proc.signal_group(signal.SIGCONT)
        self.frozen = False
        self.hub.thawed.set()

    # ---- shutdown --------------------------------------------------------------------------
    async def _shutdown(self, reason: Literal["spindown", "failure", "timeout"]) -> None:
        """Runtime SIGTERM then SIGKILL, telemetry flush, SHUTDOWN to subscribers, SIGKILL the rest."""
        self.phase = Phase.SHUTDOWN
        self.registration_open = False
        self.hub.close_subscriptions()
        await self._thaw()
        started_mono, started_wall = clock.mono(), clock.wall()
        launched = [a for a in self.agents.values() if a.process is not None]
        budget = SHUTDOWN_BUDGET_S if launched else RUNTIME_SHUTDOWN_S
        deadline_mono = started_mono + budget
        deadline_ms = clock.epoch_ms(started_wall) + int(budget * 1000)

        await self._stop_runtime()
        await self.hub.flush(min(FLUSH_BEFORE_SHUTDOWN_S, max(0.0, deadline_mono - clock.mono() - 0.5)))

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
            elif agent.state not in DEAD_STATES:
                agent.state = AgentState.EXITED
        for agent in launched:
            if agent.process is not None:
                await agent.process.kill()
                await agent.process.drain_output(0.5)
            if agent.state not in (AgentState.SHUTDOWN_FAILED, *DEAD_STATES):
                agent.state = AgentState.EXITED
        self._record_outcomes()
        await self.hub.close_subscribers()
        for agent in self.agents.values():
            agent.queue.put_nowait(None)
        if self.runtime is not None:
            self.runtime.queue.put_nowait(None)
        self._launched = [p for p in self._launched if p.alive]
        self.runtime = None
        self.invocation = None
        self.phase = Phase.IDLE

    async def _stop_runtime(self) -> None:
        runtime = self.runtime
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
        if self._tfd is not None:
            await self._tfd.drain(0.3)
            self._tfd = None
        runtime.state = RuntimeState.EXITED

    def _record_outcomes(self) -> None:
        for agent in self.agents.values():
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
            self.outcomes[agent.name] = outcome
            self.outcome_history.append(outcome)
