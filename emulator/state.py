"""The state of one execution environment: phase, environment state, registered extensions.

Everything the API handlers and the phases read or write lives here, on one asyncio loop. The
module knows no HTTP handler, no phase and no lifecycle: they all depend on it (and on
:class:`~emulator.control.EnvironmentControl` for what they may ask the top to do), never the
other way round, so the emulator has no import cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from emulator import clock
from emulator.config import FunctionConfig
from emulator.cpu_quota import CpuQuota
from emulator.framing import TelemetryFd
from emulator.model import Agent, ExtensionOutcome, Failure, Invocation, RuntimeSlot
from emulator.notifier import Notifier
from emulator.processes import ManagedProcess
from emulator.telemetry import TelemetryHub
from emulator.worker_output import WorkerOutput


class Phase(StrEnum):
    """What the environment is doing right now."""

    IDLE = "idle"
    INIT = "init"
    INVOKE = "invoke"
    SHUTDOWN = "shutdown"


class EnvState(StrEnum):
    """Where the environment stands between operations."""

    COLD = "cold"  # no processes; the next invoke is a cold start
    READY = "ready"  # initialised and idle (possibly frozen)
    RESET = "reset"  # torn down after a failure; the next invoke re-inits (phase "invoke")
    CLOSED = "closed"


class EnvironmentState:
    """The mutable state of one emulated environment (and its successors after resets)."""

    def __init__(self, config: FunctionConfig, hub: TelemetryHub, lang_bin: Path) -> None:
        self.config = config
        self.hub = hub
        self.lang_bin = lang_bin
        """The private ``lang/bin`` put first on every process's ``PATH``."""
        self.changed = Notifier()
        self.phase = Phase.IDLE
        self.state = EnvState.COLD
        self.generation = 0
        """Incremented by every init; events of processes from older generations are ignored."""
        self.agents: dict[str, Agent] = {}
        self.agents_by_id: dict[str, Agent] = {}
        self.runtime: RuntimeSlot | None = None
        self.invocation: Invocation | None = None
        """The invocation of the invoke phase (one at a time outside Managed Instances mode)."""
        self.in_flight: dict[str, Invocation] = {}
        """Managed Instances mode: every invocation handed out and not yet answered, by request id."""
        self.registration_open = False
        self.failure: Failure | None = None
        self.idle_failure: Failure | None = None
        """A failure reported while idle (e.g. an extension exited between invokes)."""
        self.frozen = False
        self.output_lines: list[tuple[str, str]] = []
        self.outcomes: dict[str, ExtensionOutcome] = {}
        self.outcome_history: list[ExtensionOutcome] = []
        self.runtime_api = ""
        self.telemetry_fd: TelemetryFd | None = None
        """The runtime's framed log pipe (``_LAMBDA_TELEMETRY_LOG_FD``)."""
        self.worker_output: WorkerOutput | None = None
        """Managed Instances: the socket the runtime's workers connect their stdout/stderr to."""
        self.pending_init_ms: float | None = None
        """Init duration still to be reported in the next ``platform.report``."""
        self.instance_id = ""
        self.launched: list[ManagedProcess] = []
        self.cpu_quota: CpuQuota | None = None
        """The cgroup holding every process with the CPU share of the memory size (``cpu_share``)."""

    def adopt(self, process: ManagedProcess) -> None:
        """A process of the environment was launched: track it, and cap its CPU with the rest."""
        self.launched.append(process)
        if self.cpu_quota is not None:
            self.cpu_quota.add(process.pid)

    @property
    def in_init(self) -> bool:
        return self.phase == Phase.INIT

    def live_processes(self) -> list[ManagedProcess]:
        processes = [agent.process for agent in self.agents.values() if agent.process is not None]
        if self.runtime is not None and self.runtime.process is not None:
            processes.append(self.runtime.process)
        return [process for process in processes if process.alive]

    def max_memory_mb(self) -> int:
        kib = sum(process.sample_memory() for process in self.live_processes())
        return max(1, math.ceil(kib / 1024))

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

    async def wait_for(self, predicate: Callable[[], bool], deadline_mono: float) -> bool:
        """Wait for ``predicate`` whatever failures are recorded; False when the deadline passed."""
        while not predicate():
            remaining = deadline_mono - clock.mono()
            if remaining <= 0:
                return False
            await self.changed.wait(remaining)
        return True
