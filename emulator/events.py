"""The Telemetry API event envelope and the shapes of log records.

An :class:`Event` keeps the record in the form the newest schema delivers and, for
``function``/``extension`` records, also the raw text line that older schemas (and the Logs API)
deliver as a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from emulator import clock


@dataclass(frozen=True)
class Event:
    """One Telemetry API event: ``{"time", "type", "record"}``."""

    time: str
    type: str
    record: Any
    text: str | None = None
    """Raw line of a function/extension record whose ``record`` is an object (JSON log format)."""

    @property
    def category(self) -> str:
        """The subscription type that selects this event: platform, function or extension."""
        return "platform" if self.type.startswith("platform.") else self.type

    def as_dict(self, string_records: bool = False) -> dict[str, Any]:
        record = self.text if string_records and self.text is not None else self.record
        return {"time": self.time, "type": self.type, "record": record}


def json_log_record(line: str, request_id: str | None, ts: float | None) -> dict[str, Any]:
    """A log line in the JSON log format: JSON objects pass through, other text is wrapped."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    record: dict[str, Any] = {"timestamp": clock.iso(ts), "level": "INFO"}
    if request_id:
        record["requestId"] = request_id
    record["message"] = line
    return record
