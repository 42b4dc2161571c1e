"""Output of the runtime's workers on Managed Instances (``_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET``).

awslambdaric in multi-concurrent mode forks one worker per concurrency slot; each worker connects
to this Unix socket twice and makes the connections its stdout and stderr, so every worker writes
to streams of its own. On one shared pipe the workers' writes interleave within lines (a
``print`` is two writes, the text and the newline), and two lines of concurrent invocations come
out glued together. Each connection is read line by line, like the runtime's own stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from emulator.processes import STREAM_LIMIT, LineCallback, read_lines

#: awslambdaric reads the socket's path from this variable (``lambda_config.py``).
SOCKET_VARIABLE = "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"


class WorkerOutput:
    """A Unix socket server; every accepted connection is one worker's stdout or stderr."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._server: asyncio.Server | None = None
        self._readers: set[asyncio.Task[None]] = set()

    def child_env(self) -> dict[str, str]:
        return {SOCKET_VARIABLE: str(self.path)}

    async def start(self, on_line: LineCallback) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._readers.add(task)
            try:
                await read_lines(reader, on_line)
            finally:
                self._readers.discard(task)
                writer.close()

        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(accept, str(self.path), limit=STREAM_LIMIT)

    async def drain(self, within_s: float) -> None:
        """Stop accepting; wait (bounded) for the open streams to end, then cut them off."""
        if self._server is not None:
            self._server.close()
        readers = list(self._readers)
        if readers:
            await asyncio.wait(readers, timeout=within_s)
        for task in readers:
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
