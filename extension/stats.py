"""Self-telemetry counters: what we received, dropped (with a reason) and failed to export.

Every drop anywhere in the extension is counted here, so nothing is lost silently: the counters
are exported as metrics (`lambda_sidecar.*`) and summarised in the shutdown log line.
Standard library only (imported on the fast path).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Monotonic counters keyed by (name, label). Labels are short fixed strings (reasons,
    exporter names), never user data, so the key space stays small.

    Names read `<thing>_<event>` (`telemetry_rejected`, `cache_requests`, `destination_dropped`,
    `logs_filtered`) and the label says which one (reason, destination, status); `dropped` is the
    total of every drop, labelled with its reason."""

    counters: Counter[tuple[str, str]] = field(default_factory=Counter)
    _warned: set[str] = field(default_factory=set)

    def add(self, name: str, value: int = 1, label: str = "") -> None:
        self.counters[(name, label)] += value

    def get(self, name: str, label: str = "") -> int:
        return self.counters[(name, label)]

    def total(self, name: str) -> int:
        return sum(v for (n, _), v in self.counters.items() if n == name)

    def dropped(self, reason: str, count: int = 1) -> None:
        """Count `count` dropped items with a reason (e.g. `queue_full`, `export_failed`)."""
        self.add("dropped", count, reason)

    def first_time(self, key: str) -> bool:
        """True once per key: lets callers warn once instead of once per event."""
        if key in self._warned:
            return False
        self._warned.add(key)
        return True

    def snapshot(self) -> dict[str, int]:
        """Flat view for logs and metrics: `name` or `name{label}` -> value."""
        return {(f"{n}{{{lbl}}}" if lbl else n): v for (n, lbl), v in sorted(self.counters.items())}
