"""Reader for the runtime's framed telemetry log fd (``_LAMBDA_TELEMETRY_LOG_FD``).

awslambdaric writes each log message as one frame: 4-byte type, 4-byte length, 8-byte
timestamp (epoch microseconds), message; big-endian. A frame may hold a multi-line message
(e.g. a traceback), which Lambda delivers as one ``function`` record. Plain ``print`` output
still goes to stdout and is captured line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

from emulator.processes import LineCallback

_HEADER = struct.Struct(">IIQ")
_MAX_FRAME = 64 * 1024 * 1024


class TelemetryFd:
    """A pipe whose write end is handed to the runtime; frames are read on the loop."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self._task: asyncio.Task[None] | None = None

    def child_env(self) -> dict[str, str]:
        return {"_LAMBDA_TELEMETRY_LOG_FD": str(self.write_fd)}

    async def start(self, on_record: LineCallback) -> None:
        """Close our copy of the write end and start reading frames."""
        os.close(self.write_fd)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_MAX_FRAME)
        pipe = os.fdopen(self.read_fd, "rb", 0)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        self._task = asyncio.create_task(_read_frames(reader, on_record))

    def close_unused(self) -> None:
        """Close both ends when the runtime could not be started."""
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    async def drain(self, within_s: float) -> None:
        if self._task is not None:
            await asyncio.wait([self._task], timeout=within_s)
            self._task.cancel()


async def _read_frames(reader: asyncio.StreamReader, on_record: LineCallback) -> None:
    while True:
        try:
            header = await reader.readexactly(_HEADER.size)
            _ftype, length, micros = _HEADER.unpack(header)
            if length > _MAX_FRAME:
                return
            body = await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        on_record(body.decode("utf-8", "replace").rstrip("\r\n"), micros / 1e6)
