"""State records of one execution environment: extensions, runtime, invocation, failures.

Plain data with no behaviour beyond tiny helpers: the HTTP handlers and the lifecycle mutate
them; keeping them in one module lets both sides share the vocabulary (state names are the
ones that appear in ``platform.extension.state``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from emulator import clock
from emulator.processes import ManagedProcess
from emulator.tracing import TraceContext


class AgentState(StrEnum):
    """Extension states as Lambda names them."""

    STARTED = "Started"
    REGISTERED = "Registered"
    READY = "Ready"
    RUNNING = "Running"
    EXITED = "Exited"
    INIT_ERROR = "InitError"
    EXIT_ERROR = "ExitError"
    LAUNCH_ERROR = "LaunchError"
    SHUTDOWN_FAILED = "ShutdownFailed"


DEAD_STATES = frozenset(
    {AgentState.EXITED, AgentState.INIT_ERROR, AgentState.EXIT_ERROR, AgentState.LAUNCH_ERROR}
)
"""States in which no further Extensions API call succeeds."""


class RuntimeState(StrEnum):
    """Runtime states from the platform's point of view."""

    STARTING = "Starting"  # launched, has not called /next yet (runtime + function init)
    READY = "Ready"  # blocked in /next
    RUNNING = "Running"  # has an invocation
    EXITED = "Exited"


EventQueue = asyncio.Queue[dict[str, Any] | None]


@dataclass(eq=False)
class Agent:
    """One extension of the current environment (external: a launched file; internal: in-runtime)."""

    name: str
    external: bool
    process: ManagedProcess | None = None
    state: AgentState = AgentState.STARTED
    agent_id: str | None = None
    events: list[str] = field(default_factory=list)
    queue: EventQueue = field(default_factory=asyncio.Queue)
    ready_mono: float | None = None
    error_type: str | None = None
    subscribed_api: Literal["telemetry", "logs"] | None = None
    shutdown_reason: str | None = None
    """``shutdownReason`` of the SHUTDOWN event this extension actually received."""
    shutdown_sent: bool = False
    exited_before_deadline: bool | None = None

    @property
    def registered(self) -> bool:
        return self.agent_id is not None


@dataclass(eq=False)
class RuntimeSlot:
    """The runtime process and its position in the Runtime API state machine.

    On Managed Instances the runtime (awslambdaric, given ``AWS_LAMBDA_MAX_CONCURRENCY``) forks
    one worker per concurrency slot; every worker polls the same ``queue`` and takes one
    invocation at a time, and ``state`` turns ``READY`` once each made its first ``/next``
    (counted in ``workers_ready``).
    """

    process: ManagedProcess | None = None
    state: RuntimeState = RuntimeState.STARTING
    queue: asyncio.Queue[Invocation | None] = field(default_factory=asyncio.Queue)
    workers_ready: int = 0


@dataclass(frozen=True)
class Failure:
    """A fatal error of the current phase (init or invoke); the first one wins."""

    error_type: str
    message: str
    status: Literal["error", "failure", "timeout"] = "error"
    reason: Literal["failure", "timeout"] = "failure"
    body: bytes | None = None
    """Payload the invoker receives (e.g. the runtime's init/error body)."""

    def payload(self, request_id: str) -> bytes:
        if self.body:
            return self.body
        msg = f"RequestId: {request_id} Error: {self.message}"
        return json.dumps({"errorType": self.error_type, "errorMessage": msg}).encode()


@dataclass(frozen=True)
class InvokeResult:
    """What the invoker of one invocation got back."""

    request_id: str
    status: Literal["success", "error", "timeout"]
    response: Any
    """The response parsed as JSON, else the raw text."""
    duration_ms: float
    """Time from the invoke request until the response was available to the invoker."""
    error_type: str | None = None
    """Platform-side error type (``Runtime.ExitError``, ``Sandbox.Timedout``, ...) when not success."""


def decode_body(body: bytes) -> Any:
    """Response bytes as the invoker sees them: parsed JSON when possible, else text."""
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(eq=False)
class Invocation:
    """One invocation in flight, with the timestamps its telemetry is built from."""

    request_id: str
    payload: bytes
    trace: TraceContext
    function_arn: str
    start_mono: float = field(default_factory=clock.mono)
    start_wall: float = field(default_factory=clock.wall)
    deadline_ms: int = 0
    deadline_mono: float = 0.0
    dispatched_mono: float | None = None
    dispatched_wall: float | None = None
    response_start: tuple[float, float] | None = None  # (mono, wall)
    response_end: tuple[float, float] | None = None
    produced_bytes: int = 0
    runtime_responded: bool = False
    runtime_done: bool = False
    runtime_done_at: tuple[float, float] | None = None
    status: Literal["success", "error", "timeout"] | None = None
    error_type: str | None = None
    telemetry_status: str | None = None
    telemetry_error_type: str | None = None
    body: bytes = b""
    answered_mono: float | None = None

    def answer(
        self, status: Literal["success", "error", "timeout"], body: bytes, error_type: str | None
    ) -> bool:
        """Give the invoker its result (only the first answer counts)."""
        if self.status is not None:
            return False
        self.status, self.body, self.error_type = status, body, error_type
        self.answered_mono = clock.mono()
        return True

    def result(self) -> InvokeResult:
        assert self.status is not None
        end = self.answered_mono or clock.mono()
        return InvokeResult(
            request_id=self.request_id,
            status=self.status,
            response=decode_body(self.body),
            duration_ms=clock.ms(end - self.start_mono),
            error_type=self.error_type,
        )


@dataclass
class ExtensionOutcome:
    """How one extension fared in one environment (inspectable after shutdown)."""

    name: str
    registered: bool
    events: list[str]
    state: str
    exit_code: int | None
    exited_before_deadline: bool | None
    shutdown_reason: str | None
    error_type: str | None = None
    pid: int | None = None
