"""What the API handlers and the phases may ask of the environment's owner.

The handlers see HTTP requests and the phases launch processes, but only the top
(:class:`emulator.lifecycle.Sandbox`) decides what a failure or an exit means for the
environment, and how the Runtime API's events turn into telemetry (which differs between the
classic mode and Managed Instances mode). This Protocol is the whole of that contract, so
handlers and phases import it and :mod:`emulator.state`, never the lifecycle.
"""

from __future__ import annotations

from typing import Literal, Protocol

from emulator.model import Failure, Invocation
from emulator.processes import LineCallback, ManagedProcess


class EnvironmentControl(Protocol):
    """Reactions of the environment to what its processes do."""

    def fail(self, failure: Failure) -> None:
        """Record a fatal error of the current phase (the first one wins)."""
        ...

    def on_runtime_ready(self) -> None:
        """A runtime process made its first ``/next``: runtime and function init are done."""
        ...

    def on_runtime_result(
        self, invocation: Invocation, status: str, body: bytes, error_type: str | None
    ) -> None:
        """The runtime posted a response or an error for ``invocation``."""
        ...

    def on_runtime_done(self, invocation: Invocation) -> None:
        """The runtime called ``/next`` again after answering ``invocation``."""
        ...

    def on_process_exit(self, process: ManagedProcess) -> None:
        """A launched process exited."""
        ...

    def output_sink(self, kind: Literal["function", "extension"], source: str) -> LineCallback:
        """Where the output lines of one process go (recorded, echoed, sent as telemetry)."""
        ...
