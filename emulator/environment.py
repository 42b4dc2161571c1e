"""Blocking Python API: :class:`LambdaEnvironment`, a context manager around one :class:`Sandbox`.

The sandbox lives on its own asyncio loop in a background thread, so tests (and the CLI) can
call ``invoke()``/``spindown()`` synchronously while extension and runtime processes talk to
the emulator's HTTP server concurrently. Leaving the context spins down and kills every
process group of the environment.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from emulator.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_FUNCTION_NAME,
    DEFAULT_REGION,
    INIT_TIMEOUT_S,
    FunctionConfig,
)
from emulator.cpu_quota import CpuQuota
from emulator.lifecycle import Sandbox
from emulator.model import ExtensionOutcome, Invocation, InvokeResult
from emulator.state import EnvState
from emulator.tracing import TraceContext

T = TypeVar("T")
OutputEcho = bool | Callable[[str, str], None]


def _stderr_echo(source: str, line: str) -> None:
    sys.stderr.write("".join(f"[{source}] {part}\n" for part in line.split("\n")))
    sys.stderr.flush()


class LambdaEnvironment:
    """A local Lambda execution environment running real extension and runtime processes.

    ``with LambdaEnvironment(opt_dir=..., task_dir=..., handler="app.handler") as env:`` starts
    the API server and runs init (a failed init is retried inside the first invoke, as Lambda
    does); ``env.invoke(event)`` runs one invocation and returns when its invoke phase is over
    (runtime and every extension back in ``next``); ``env.spindown()`` sends SHUTDOWN(spindown).

    ``managed_instances=True`` emulates Lambda Managed Instances: ``concurrency`` runtime
    processes, SHUTDOWN-only extensions, no freeze; ``env.invoke_all(events)`` runs the events
    concurrently, up to ``concurrency`` at a time (``invoke()`` may also be called from several
    threads at once).
    """

    def __init__(
        self,
        opt_dir: Path | str,
        task_dir: Path | str,
        handler: str,
        timeout_s: float = 3.0,
        memory_mb: int = 128,
        env: dict[str, str] | None = None,
        freeze: bool = False,
        telemetry_log: Path | str | None = None,
        function_name: str = DEFAULT_FUNCTION_NAME,
        *,
        region: str = DEFAULT_REGION,
        init_timeout_s: float = INIT_TIMEOUT_S,
        subscriber_cap_bytes: int | None = None,
        echo_output: OutputEcho = True,
        telemetry_api_supported: bool = True,
        telemetry_api_refusal: int | None = None,
        extension_events: tuple[str, ...] = ("INVOKE", "SHUTDOWN"),
        register_refusals: tuple[int, ...] = (),
        managed_instances: bool = False,
        concurrency: int = DEFAULT_CONCURRENCY,
        cpu_share: bool = False,
    ) -> None:
        self.config = FunctionConfig(
            opt_dir=Path(opt_dir).resolve(),
            task_dir=Path(task_dir).resolve(),
            handler=handler,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            env=dict(env or {}),
            freeze=freeze,
            telemetry_log=Path(telemetry_log) if telemetry_log is not None else None,
            function_name=function_name,
            region=region,
            init_timeout_s=init_timeout_s,
            subscriber_cap_bytes=subscriber_cap_bytes,
            telemetry_api_supported=telemetry_api_supported,
            telemetry_api_refusal=telemetry_api_refusal,
            extension_events=extension_events,
            register_refusals=register_refusals,
            managed_instances=managed_instances,
            concurrency=concurrency,
            cpu_share=cpu_share,
        )
        if echo_output is True:
            self._echo: Callable[[str, str], None] | None = _stderr_echo
        elif echo_output is False:
            self._echo = None
        else:
            self._echo = echo_output
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sandbox: Sandbox | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()

    # ---- context management ----------------------------------------------------------------
    def __enter__(self) -> LambdaEnvironment:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the loop thread and the API server, then run the cold-start init."""
        if self._loop is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lambda-emulator", daemon=True)
        self._thread.start()
        try:
            self._sandbox = self._call(self._make_sandbox())
            self._call(self._sandbox.start())
            self._call(self._sandbox.initialize())
        except BaseException:
            self.close()
            raise

    async def _make_sandbox(self) -> Sandbox:
        return Sandbox(self.config, on_output=self._echo)

    def close(self) -> None:
        """Spin down (if running), kill every process group, stop the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        for future in list(self._pending):  # e.g. an invoke interrupted by Ctrl-C in another thread
            future.cancel()
        try:
            if self._sandbox is not None:
                self._call(self._sandbox.close())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not loop.is_running():
                loop.close()
            self._loop = self._thread = None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the environment is not running (use it as a context manager)")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        self._pending.add(future)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # interrupted (e.g. Ctrl-C): stop the operation on the loop too
            raise
        finally:
            self._pending.discard(future)

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            raise RuntimeError("the environment is not running (use it as a context manager)")
        return self._sandbox

    # ---- operations ------------------------------------------------------------------------
    def invoke(
        self, event: Any = None, *, payload: bytes | None = None, trace_header: str | None = None
    ) -> InvokeResult:
        """Invoke once with ``event`` (JSON-encoded; default ``{}``) or raw ``payload`` bytes.

        Blocks until the invoke phase is over (or failed/timed out and the environment was
        reset). ``duration_ms`` is the time until the response was available to the invoker.
        """
        body = payload if payload is not None else json.dumps({} if event is None else event).encode()
        trace = TraceContext(value=trace_header, span_id=TraceContext.new().span_id) if trace_header else None
        invocation = self._call(self.sandbox.invoke(body, trace))
        return invocation.result()

    def invoke_all(self, events: Sequence[Any]) -> list[InvokeResult]:
        """Invoke once per event, concurrently (up to ``concurrency`` at a time on Managed
        Instances, one after the other otherwise); results in the order of ``events``."""
        payloads = [json.dumps({} if event is None else event).encode() for event in events]
        invocations = self._call(self._invoke_all(payloads))
        return [invocation.result() for invocation in invocations]

    async def _invoke_all(self, payloads: list[bytes]) -> list[Invocation]:
        sandbox = self.sandbox
        return list(await asyncio.gather(*(sandbox.invoke(payload) for payload in payloads)))

    def spindown(self) -> None:
        """SHUTDOWN(spindown) now; the next ``invoke()`` cold-starts a new environment."""
        self._call(self.sandbox.spindown())

    # ---- inspection ------------------------------------------------------------------------
    @property
    def events(self) -> list[dict[str, Any]]:
        """Every Telemetry API event produced so far, as ``{"time", "type", "record"}``."""
        return list(self.sandbox.env.hub.events)

    def events_of(self, type_: str) -> list[dict[str, Any]]:
        """The recorded events of one type (e.g. ``"platform.report"``)."""
        return [event for event in self.sandbox.env.hub.events if event["type"] == type_]

    @property
    def extension_outcomes(self) -> dict[str, ExtensionOutcome]:
        """Per extension name, how it fared in the most recent environment that shut down."""
        return dict(self.sandbox.env.outcomes)

    @property
    def extension_history(self) -> list[ExtensionOutcome]:
        """Outcomes of every environment so far (one entry per extension per shutdown/reset)."""
        return list(self.sandbox.env.outcome_history)

    @property
    def runtime_api(self) -> str:
        """``127.0.0.1:<port>`` (the value of ``AWS_LAMBDA_RUNTIME_API``)."""
        return self.sandbox.env.runtime_api

    @property
    def output_lines(self) -> list[tuple[str, str]]:
        """Captured ``(source, line)`` pairs; source is ``"function"`` or the extension's name."""
        return list(self.sandbox.env.output_lines)

    @property
    def pids(self) -> dict[str, int]:
        """PIDs of the live processes: extension names and ``"runtime"``."""
        return self._call(self._pids())

    async def _pids(self) -> dict[str, int]:
        return {process.name: process.pid for process in self.sandbox.env.live_processes()}

    @property
    def cpu_quota(self) -> CpuQuota | None:
        """The cgroup enforcing the CPU share (``cpu_share=True``), None when not enforced."""
        return self.sandbox.env.cpu_quota

    @property
    def cpu_share_problem(self) -> str | None:
        """Why ``cpu_share=True`` could not be enforced on this machine (None when it is)."""
        return self.sandbox.cpu_share_problem

    @property
    def frozen(self) -> bool:
        return self.sandbox.env.frozen

    @property
    def initialized(self) -> bool:
        """True when the environment is initialised and idle (not cold, not reset)."""
        return self.sandbox.env.state == EnvState.READY
