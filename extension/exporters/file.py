"""file destination: JSON lines (spans, logs, metrics with a `signal` field) appended to a path.

Meant for `/tmp` debugging and tests, so it must never fill Lambda's small `/tmp`: when the next
write would take the file past `max_bytes`, it is rotated once to `<path>.1` (replacing the
previous one), so at most about 2 x `max_bytes` is on disk. Writes are small, appended and
flushed in one call on the loop; that is cheaper than handing them to a thread.

The file holds the function's (redacted) logs, so it is created readable by its owner only
(0600), and a symbolic link at its path is never followed (`O_NOFOLLOW`): another process in
the environment cannot point our writes at a file of its choosing.
"""

from __future__ import annotations

import errno
import os

from extension.exporters.base import OTEL_KINDS, ExportResult
from extension.exporters.jsonify import dumps, records
from extension.signals import Resource, Signals

#: Append-only, created 0600, never through a symbolic link, not inherited by child processes.
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_MODE = 0o600


class FileExporter:
    def __init__(self, path: str, max_bytes: int, include_resource: bool = True) -> None:
        self.name = "file"
        self.accepts = OTEL_KINDS
        self.path = path
        self.max_bytes = max(1, max_bytes)
        self._include_resource = include_resource
        self._size: int | None = None

    async def start(self) -> None:
        return None

    def _current_size(self) -> int:
        if self._size is None:
            try:
                self._size = os.path.getsize(self.path)
            except OSError:
                self._size = 0
        return self._size

    def _rotate(self) -> None:
        os.replace(self.path, self.path + ".1")
        self._size = 0

    def _append(self, chunk: list[bytes]) -> None:
        fd = os.open(self.path, _OPEN_FLAGS, FILE_MODE)
        with os.fdopen(fd, "ab") as f:
            f.write(b"".join(chunk))
        self._size = self._current_size() + sum(len(c) for c in chunk)

    def write_lines(self, lines: list[bytes]) -> int:
        """Append lines, rotating as needed; returns how many lines were too large to ever fit."""
        too_large = 0
        chunk: list[bytes] = []
        chunk_size = 0
        for line in lines:
            if len(line) > self.max_bytes:
                too_large += 1
                continue
            if self._current_size() + chunk_size + len(line) > self.max_bytes:
                if chunk:
                    self._append(chunk)
                    chunk, chunk_size = [], 0
                if self._current_size() > 0:
                    self._rotate()
            chunk.append(line)
            chunk_size += len(line)
        if chunk:
            self._append(chunk)
        return too_large

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        try:
            recs = records(signals, resource if self._include_resource else None)
            lines = [(dumps(r) + "\n").encode() for r in recs]
            too_large = self.write_lines(lines)
            return ExportResult.success(rejected=too_large)
        except OSError as exc:
            self._size = None  # re-read the size next time: the file may have been removed
            if exc.errno == errno.ELOOP:  # a symbolic link at the path: retrying will not help
                return ExportResult.permanent("file: the path is a symbolic link; not followed")
            return ExportResult.retryable(f"file write failed: {type(exc).__name__} errno={exc.errno}")
        except Exception as exc:
            return ExportResult.permanent(f"file: unexpected {type(exc).__name__}")

    async def shutdown(self) -> None:
        return None
