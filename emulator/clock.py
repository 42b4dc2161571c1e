"""Time helpers shared by every part of the emulator.

Telemetry timestamps are wall-clock ISO-8601 UTC with millisecond precision and a ``Z`` suffix
(the format AWS and RIE use); deadlines on the wire are absolute epoch milliseconds; durations are
measured with the monotonic clock so that they never go backwards.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def wall() -> float:
    """Seconds since the epoch (wall clock)."""
    return time.time()


def mono() -> float:
    """Monotonic seconds, for durations only."""
    return time.monotonic()


def iso(ts: float | None = None) -> str:
    """Format an epoch timestamp (default: now) as ``2026-03-01T10:15:30.123Z``."""
    moment = datetime.fromtimestamp(wall() if ts is None else ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(ts: float | None = None) -> int:
    """Epoch milliseconds (the unit of ``deadlineMs`` and ``Lambda-Runtime-Deadline-Ms``)."""
    return int((wall() if ts is None else ts) * 1000)


def ms(seconds: float) -> float:
    """Seconds to milliseconds rounded like Lambda reports them (3 decimals)."""
    return round(seconds * 1000.0, 3)
