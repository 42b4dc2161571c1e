"""The per-destination queue of signal records (a bounded buffer each `Destination` owns).

Each destination owns one buffer so a slow or failing backend can only fill its own queue. The
buffer is bounded by item count and by an *estimated* byte size (a cheap sum of string lengths
and fixed per-record overheads: serialising every record on the hot path would cost more than
the export itself). On overflow the oldest log records go first (the newest telemetry is the most
useful; spans and metrics, a few per invocation, go last), and every drop is counted with a
reason and the destination's name.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from extension.signals import Attributes, LogData, Measurement, Signals, SpanData
from extension.stats import Stats

#: Record kinds, in the order of the `Signals` fields.
SPANS, LOGS, METRICS, RAW = 0, 1, 2, 3

#: Evicted first on overflow: the kinds that flood (function/extension log lines, raw events).
_EVICT_FIRST = (LOGS, RAW)

#: Fixed per-record overheads (bytes) standing for ids, timestamps and encoding framing.
_SPAN_BASE, _LOG_BASE, _METRIC_BASE, _RAW_BASE = 160, 96, 64, 96
_SCALAR = 16
_CONTAINER_ITEM = 24


def item_count(signals: Signals) -> int:
    """Number of records in `signals` (the unit every counter and bound uses)."""
    return len(signals.spans) + len(signals.logs) + len(signals.metrics) + len(signals.raw_events)


def count_drop(stats: Stats, destination: str, reason: str, count: int) -> None:
    """Count `count` dropped records: the global `dropped{reason}` total plus a per-destination
    `destination_dropped{<destination>:<reason>}` counter, so both views are available."""
    if count <= 0:
        return
    stats.dropped(reason, count)
    stats.add("destination_dropped", count, f"{destination}:{reason}")


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | dict):
        return _SCALAR + _CONTAINER_ITEM * len(value)
    return _SCALAR


def _attrs_size(attrs: Attributes | Mapping[str, Any]) -> int:
    return sum(len(k) + _value_size(v) for k, v in attrs.items())


def estimate_span(span: SpanData) -> int:
    size = _SPAN_BASE + len(span.name) + len(span.status_message) + _attrs_size(span.attributes)
    for event in span.events:
        size += 32 + len(event.name) + _attrs_size(event.attributes)
    for link in span.links:
        size += 48 + _attrs_size(link.attributes)
    return size


def estimate_log(log: LogData) -> int:
    body = log.body
    body_size = _attrs_size(body) if isinstance(body, dict) else _value_size(body)
    return _LOG_BASE + len(log.severity_text) + body_size + _attrs_size(log.attributes)


def estimate_metric(m: Measurement) -> int:
    return _METRIC_BASE + len(m.name) + len(m.unit) + _attrs_size(m.attributes)


def estimate_raw(event: Mapping[str, Any]) -> int:
    record = event.get("record")
    record_size = _attrs_size(record) if isinstance(record, dict) else _value_size(record)
    return _RAW_BASE + len(str(event.get("type", ""))) + record_size


_ESTIMATORS: tuple[Any, ...] = (estimate_span, estimate_log, estimate_metric, estimate_raw)


class BoundedBuffer:
    """FIFO of records bounded by `max_items` and `max_bytes` (estimated); drop-oldest on overflow.

    `take()` hands a batch to the exporter; `put_back()` returns what could not be delivered to
    the front (it is the oldest data), where the bounds apply again: a destination that stays
    down loses its oldest records first, counted as `queue_full`.
    """

    def __init__(
        self,
        max_items: int,
        max_bytes: int,
        stats: Stats,
        label: str,
        flush_fraction: float = 0.5,
    ) -> None:
        self.max_items = max(1, max_items)
        self.max_bytes = max(1, max_bytes)
        self._stats = stats
        self._label = label
        self._flush_items = max(1, int(self.max_items * flush_fraction))
        self._flush_bytes = max(1, int(self.max_bytes * flush_fraction))
        self._queue: deque[tuple[int, Any, int]] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def bytes(self) -> int:
        """Estimated size of what is queued."""
        return self._bytes

    def put(self, signals: Signals, *, reserved: bool = False) -> None:
        """Append every record of `signals` (newest data), then enforce the bounds.

        `reserved` is for the extension's own health metrics (a few records per flush): they may
        overshoot the bounds until the next put instead of evicting records, because the drops
        such an eviction caused could no longer be reported by the very snapshot being queued."""
        self._extend(signals, left=False)
        if not reserved:
            self._enforce()

    def put_back(self, signals: Signals) -> None:
        """Return undelivered records to the front (they are older than anything queued)."""
        self._extend(signals, left=True)
        self._enforce()

    def take(self, max_items: int | None = None, max_bytes: int | None = None) -> Signals:
        """Remove and return up to `max_items` records (and about `max_bytes`), oldest first.
        At least one record is returned when the buffer is not empty."""
        limit_items = max_items if max_items is not None else len(self._queue)
        limit_bytes = max_bytes if max_bytes is not None else self._bytes + 1
        groups: tuple[list[Any], list[Any], list[Any], list[Any]] = ([], [], [], [])
        taken = taken_bytes = 0
        while self._queue and taken < limit_items:
            kind, item, size = self._queue[0]
            if taken and taken_bytes + size > limit_bytes:
                break
            self._queue.popleft()
            self._bytes -= size
            groups[kind].append(item)
            taken += 1
            taken_bytes += size
        return Signals(tuple(groups[0]), tuple(groups[1]), tuple(groups[2]), tuple(groups[3]))

    def clear(self) -> int:
        """Discard everything (the caller counts the drop with its own reason); returns the count."""
        n = len(self._queue)
        self._queue.clear()
        self._bytes = 0
        return n

    def over_threshold(self) -> bool:
        """True once the buffer holds more than `flush_fraction` of either bound: the pipeline
        should export at the next lifecycle point, before overflow starts dropping data."""
        return len(self._queue) >= self._flush_items or self._bytes >= self._flush_bytes

    def _extend(self, signals: Signals, left: bool) -> None:
        parts: tuple[Iterable[Any], ...] = (signals.spans, signals.logs, signals.metrics, signals.raw_events)
        entries: list[tuple[int, Any, int]] = []
        for kind, items in enumerate(parts):
            estimate = _ESTIMATORS[kind]
            for item in items:
                size = estimate(item)
                entries.append((kind, item, size))
                self._bytes += size
        if left:
            self._queue.extendleft(reversed(entries))
        else:
            self._queue.extend(entries)

    def _over(self, set_aside: int = 0) -> bool:
        return len(self._queue) + set_aside > self.max_items or self._bytes > self.max_bytes

    def _enforce(self) -> None:
        """Drop the oldest log lines and raw events first; spans and metrics (a few per invocation,
        including our own drop counters and `platform.logsDropped`) only when nothing else is
        left, so a log flood cannot erase the record of what happened and of what was dropped."""
        if not self._over():
            return
        dropped = 0
        kept: list[tuple[int, Any, int]] = []
        while self._queue and self._over(len(kept)):
            entry = self._queue.popleft()
            if entry[0] in _EVICT_FIRST:
                self._bytes -= entry[2]
                dropped += 1
            else:
                kept.append(entry)
        self._queue.extendleft(reversed(kept))
        while self._queue and self._over():
            _, _, size = self._queue.popleft()
            self._bytes -= size
            dropped += 1
        count_drop(self._stats, self._label, "queue_full", dropped)
