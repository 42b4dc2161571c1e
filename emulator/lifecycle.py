"""The execution-environment state machine: init, invoke, shutdown/reset, freeze (spec 2.6, 2.7, 5).

One :class:`Sandbox` per emulated function. All state lives on one asyncio loop; the HTTP
handlers report what processes do (register, next, response, errors) and the lifecycle methods
wait on :class:`~emulator.notifier.Notifier` predicates for the phase to end, fail, or time out.
Every fatal failure resets the environment (SHUTDOWN with ``timeout``/``failure``) and the next
invoke re-runs init inside the invocation ("suppressed init", ``phase: "invoke"``).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from emulator import clock, platform_events
from emulator.config import FunctionConfig
from emulator.envvars import make_lang_bin
from emulator.framing import TelemetryFd
from emulator.init_phase import run_init
from emulator.invoke_phase import fail_without_runtime, run_invoke
from emulator.model import (
    Agent,
    AgentState,
    ExtensionOutcome,
    Failure,
    Invocation,
    RuntimeSlot,
    RuntimeState,
)
from emulator.notifier import Notifier
from emulator.processes import LineCallback, ManagedProcess
from emulator.server import ApiServer
from emulator.shutdown_phase import shutdown
from emulator.telemetry import FLUSH_BEFORE_FREEZE_S, TelemetryHub
from emulator.tracing import TraceContext

FREEZE_CONFIRM_POLLS = 250
"""Bound on waiting for SIGSTOP to take effect (x 2 ms)."""
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
        self.lang_bin = make_lang_bin(self._workdir)
        self.tfd: TelemetryFd | None = None
        self.pending_init_ms: float | None = None
        self.idle_failure: Failure | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.instance_id = ""
        self.launched: list[ManagedProcess] = []

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
                await shutdown(self, "spindown")
            self.state = EnvState.CLOSED
        for proc in self.launched:  # belt and braces: nothing survives the environment
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
            return await run_init(self, "init", self.config.init_timeout_s)

    async def spindown(self) -> None:
        """SHUTDOWN(spindown) now; the next invoke cold-starts a new environment."""
        async with self._lock:
            if self.state == EnvState.READY:
                await shutdown(self, "spindown")
            if self.state != EnvState.CLOSED:
                self.state = EnvState.COLD

    # ---- events from the API handlers and process watchers ---------------------------------
    def fail(self, failure: Failure) -> None:
        """Record a fatal error of the current phase (the first one wins)."""
        if self.phase in (Phase.INIT, Phase.INVOKE):
            if self.failure is None:
                self.failure = failure
            self.changed.notify()
        elif self.phase == Phase.IDLE and self.state == EnvState.READY and self.idle_failure is None:
            self.idle_failure = failure
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

    def on_exit(self, proc: ManagedProcess) -> None:
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

    def line_callback(self, kind: Literal["function", "extension"], source: str) -> LineCallback:
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

    async def wait_until(self, predicate: Callable[[], bool], deadline_mono: float) -> bool:
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
            if self.generation == generation and self.state == EnvState.READY and self.idle_failure:
                await self.reset(self.idle_failure.reason)

    async def reset(self, reason: Literal["failure", "timeout"]) -> None:
        await shutdown(self, reason)
        self.state = EnvState.RESET

    def max_memory_mb(self) -> int:
        kib = sum(p.sample_memory() for p in self.live_processes())
        return max(1, math.ceil(kib / 1024))

    # ---- operations -----------------------------------------------------------------------
    async def invoke(self, payload: bytes, trace: TraceContext | None = None) -> Invocation:
        """Run one invocation through its whole phase; the answer is on the returned object.

        A cold environment is initialised first (phase ``init``, not counted in the invoke's
        time); a reset one re-runs init inside the invocation (phase ``invoke``), bounded by the
        function timeout, and its failure is the invocation's failure.
        """
        async with self._lock:
            if self.state == EnvState.CLOSED:
                raise RuntimeError("the environment is closed")
            inv = Invocation(
                str(uuid.uuid4()), payload, trace or TraceContext.new(), self.config.function_arn
            )
            if self.idle_failure is not None and self.state == EnvState.READY:
                await self.reset(self.idle_failure.reason)
            if self.state == EnvState.COLD:
                await run_init(self, "init", self.config.init_timeout_s)
                inv.start_mono, inv.start_wall = clock.mono(), clock.wall()
            timeout = self.config.timeout_s
            inv.deadline_mono = inv.start_mono + timeout
            inv.deadline_ms = clock.epoch_ms(inv.start_wall) + int(timeout * 1000)
            if self.state == EnvState.RESET:
                remaining = max(0.001, inv.deadline_mono - clock.mono())
                failure = await run_init(self, "invoke", min(self.config.init_timeout_s, remaining))
                if failure is not None:
                    fail_without_runtime(self, inv, failure)
                    return inv
            await run_invoke(self, inv)
            return inv

    # ---- freeze ----------------------------------------------------------------------------
    async def freeze(self, flush: bool) -> None:
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
        for _ in range(FREEZE_CONFIRM_POLLS):  # polling /proc: there is no event to wait on
            if all(p.proc_state() in ("T", "t", None) for p in procs):
                break
            await asyncio.sleep(0.002)

    async def thaw(self) -> None:
        if not self.frozen:
            return
        for proc in self.live_processes():
            proc.signal_group(signal.SIGCONT)
        self.frozen = False
        self.hub.thawed.set()
