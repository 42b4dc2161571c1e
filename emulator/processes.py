"""Real OS processes of the environment: launch, output capture, signals, memory.

Every process (each extension, the runtime) leads its own process group
(``start_new_session``), so freeze (SIGSTOP), thaw (SIGCONT) and kill reach its children too.
stdout/stderr are read line by line and handed to a callback; the runtime may additionally
write framed records to the telemetry log fd (see :mod:`emulator.framing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from emulator import clock

LineCallback = Callable[[str, float | None], None]
"""Called with one output line (without newline) and an optional producer timestamp."""

STREAM_LIMIT = 8 * 1024 * 1024


class ManagedProcess:
    """One launched process, leader of its own process group."""

    def __init__(
        self,
        name: str,
        kind: Literal["extension", "runtime"],
        child: asyncio.subprocess.Process,
        generation: int,
    ) -> None:
        self.name = name
        self.kind = kind
        self.child = child
        self.pid = child.pid
        self.generation = generation
        self.exit_code: int | None = None
        self.exited = asyncio.Event()
        self.exited_mono: float | None = None
        self._peak_kb = 0
        self._readers: list[asyncio.Task[None]] = []
        self._watcher: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return not self.exited.is_set()

    def signal_group(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the whole process group (ignored when it is gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def sample_memory(self) -> int:
        """Peak resident set size (VmHWM) in KiB, remembered across calls (0 when unknown)."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return self._peak_kb
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                with contextlib.suppress(ValueError, IndexError):
                    self._peak_kb = max(self._peak_kb, int(line.split()[1]))
        return self._peak_kb

    def proc_state(self) -> str | None:
        """The one-letter state from /proc/<pid>/stat (``T`` when stopped), None if unknown."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[0]

    async def wait_exit(self, within_s: float | None) -> bool:
        """Wait until the process exited; False on timeout."""
        try:
            await asyncio.wait_for(self.exited.wait(), within_s)
        except TimeoutError:
            return False
        return True

    async def kill(self) -> None:
        """SIGKILL the group (and SIGCONT, in case it is stopped) and wait for the leader."""
        self.signal_group(signal.SIGKILL)
        self.signal_group(signal.SIGCONT)
        await self.wait_exit(5.0)

    async def drain_output(self, within_s: float) -> None:
        """Wait (bounded) until the output readers have seen EOF."""
        if self._readers:
            await asyncio.wait(self._readers, timeout=within_s)
        for task in self._readers:
            task.cancel()


async def read_lines(stream: asyncio.StreamReader, on_line: LineCallback) -> None:
    while True:
        try:
            raw = await stream.readline()
        except (asyncio.LimitOverrunError, ValueError):
            raw = await stream.read(STREAM_LIMIT)
        if not raw:
            return
        on_line(raw.decode("utf-8", "replace").rstrip("\r\n"), None)


async def launch(
    name: str,
    kind: Literal["extension", "runtime"],
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    generation: int,
    on_line: LineCallback,
    on_exit: Callable[[ManagedProcess], None],
    pass_fds: Sequence[int] = (),
) -> ManagedProcess:
    """Start ``argv`` in a new session; raises OSError when it cannot be executed."""
    child = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(cwd),
        start_new_session=True,
        pass_fds=tuple(pass_fds),
        limit=STREAM_LIMIT,
    )
    managed = ManagedProcess(name, kind, child, generation)
    assert child.stdout is not None and child.stderr is not None
    managed._readers = [
        asyncio.create_task(read_lines(child.stdout, on_line)),
        asyncio.create_task(read_lines(child.stderr, on_line)),
    ]

    async def watch() -> None:
        code = await child.wait()
        managed.exit_code = code
        managed.exited_mono = clock.mono()
        managed.exited.set()
        on_exit(managed)

    managed._watcher = asyncio.create_task(watch())
    return managed


def list_extensions(opt_dir: Path) -> list[Path]:
    """Regular files (or symlinks to files) directly in ``<opt>/extensions``, sorted by name."""
    ext_dir = opt_dir / "extensions"
    if not ext_dir.is_dir():
        return []
    return sorted((p for p in ext_dir.iterdir() if p.is_file()), key=lambda p: p.name)
