"""Telemetry API wire format -> typed events, tolerant of everything real captures contain.

The edge of the pipeline: a POST body (already JSON-decoded) becomes `TelemetryEvent`s whose
platform records are frozen dataclasses. Real payloads are messier than the schema: 2022-era
records lack most fields, documentation examples carry invalid ISO times
(`2022-08-02T12:01:23:521Z`), text records end in `\\n`, request ids read `undefined`. So:
unknown fields are ignored, missing ones become None, unknown event types are kept (kind None)
and counted, and `parse_batch` never raises whatever it is given.
Standard library only (the listener imports it on the start-up path).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple


class EventType(enum.Enum):
    INIT_START = "platform.initStart"
    INIT_RUNTIME_DONE = "platform.initRuntimeDone"
    INIT_REPORT = "platform.initReport"
    START = "platform.start"
    RUNTIME_DONE = "platform.runtimeDone"
    REPORT = "platform.report"
    RESTORE_START = "platform.restoreStart"
    RESTORE_RUNTIME_DONE = "platform.restoreRuntimeDone"
    RESTORE_REPORT = "platform.restoreReport"
    EXTENSION_STATE = "platform.extension"
    TELEMETRY_SUBSCRIPTION = "platform.telemetrySubscription"
    LOGS_DROPPED = "platform.logsDropped"
    FUNCTION = "function"
    EXTENSION = "extension"
    # Logs API (2020-08-15) names, tolerated so a legacy payload still parses.
    END = "platform.end"
    FAULT = "platform.fault"
    LOGS_SUBSCRIPTION = "platform.logsSubscription"


_KIND_BY_NAME: dict[str, EventType] = {k.value: k for k in EventType}


# --------------------------------------------------------------------------------------------
# Record types (fields as in https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html;
# every optional field may be None)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tracing:
    """TraceContext: `value` is the X-Ray header, `span_id` Lambda's span id for the phase."""

    span_id: str | None
    type: str | None
    value: str | None


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """An entry of a record's `spans` list (responseLatency, extensionOverhead, ...)."""

    name: str
    start_ns: int | None
    duration_ms: float | None


@dataclass(frozen=True, slots=True)
class InitStart:
    initialization_type: str | None
    phase: str | None
    function_name: str | None
    function_version: str | None
    instance_id: str | None
    instance_max_memory: int | None
    runtime_version: str | None
    runtime_version_arn: str | None
    tracing: Tracing | None


@dataclass(frozen=True, slots=True)
class PhaseDone:
    """initRuntimeDone / initReport / restoreRuntimeDone / restoreReport (same shape)."""

    initialization_type: str | None
    phase: str | None
    status: str | None
    error_type: str | None
    duration_ms: float | None
    spans: tuple[PhaseSpan, ...]
    tracing: Tracing | None


@dataclass(frozen=True, slots=True)
class Start:
    request_id: str | None
    version: str | None
    tracing: Tracing | None
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class RuntimeDone:
    request_id: str | None
    status: str | None
    error_type: str | None
    duration_ms: float | None
    produced_bytes: int | None
    spans: tuple[PhaseSpan, ...]
    tracing: Tracing | None
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class Report:
    request_id: str | None
    status: str | None
    error_type: str | None
    duration_ms: float | None
    billed_duration_ms: float | None
    memory_size_mb: int | None
    max_memory_used_mb: int | None
    init_duration_ms: float | None
    restore_duration_ms: float | None
    spans: tuple[PhaseSpan, ...]
    tracing: Tracing | None
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class ExtensionState:
    name: str | None
    state: str | None
    events: tuple[str, ...]
    error_type: str | None


@dataclass(frozen=True, slots=True)
class Subscription:
    """platform.telemetrySubscription (and the Logs API's platform.logsSubscription)."""

    name: str | None
    state: str | None
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogsDropped:
    dropped_bytes: int | None
    dropped_records: int | None
    reason: str | None


PlatformRecord = (
    InitStart | PhaseDone | Start | RuntimeDone | Report | ExtensionState | Subscription | LogsDropped
)


@dataclass(frozen=True, slots=True)
class TelemetryEvent:
    """One event. `record` is a platform record above, a str or dict for function/extension logs
    (and Logs-API `platform.fault`), or the untouched record value for an unknown type."""

    type: str
    kind: EventType | None
    time_ns: int | None
    record: object
    raw: Mapping[str, Any]

    @property
    def request_id(self) -> str | None:
        rec = self.record
        if isinstance(rec, str):
            line = split_text_line(rec)
            return line.request_id if line is not None else None
        if isinstance(rec, dict):
            return _request_id_of(rec)
        rid = getattr(rec, "request_id", None)
        return rid if isinstance(rid, str) else None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """`error` set (and no events) when the body is not a JSON array: the listener answers 400."""

    events: tuple[TelemetryEvent, ...] = ()
    invalid: int = 0
    unknown_types: int = 0
    error: str | None = None


# --------------------------------------------------------------------------------------------
# Tolerant field readers
# --------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_INF = float("inf")
_MAX_NS = 2**63 - 1
_LOOSE_TIME = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.:,](\d{1,9}))?\s*"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


#: Parsed time strings: the records of a burst share a handful of millisecond timestamps (the
#: envelope's `time` and, for JSON logs, the record's own), and parsing was a visible share of the
#: per-record work. Bounded: cleared when full.
_TIME_CACHE: dict[str, int | None] = {}
_TIME_CACHE_MAX = 256


def parse_time_ns(value: object) -> int | None:
    """Epoch ns from an ISO-8601-ish string (or a number of s/ms/us/ns); None when unreadable or
    outside 1970..2262 (OTLP carries times as fixed64 ns; a garbage year must not break encoding)."""
    if type(value) is str:
        try:
            return _TIME_CACHE[value]
        except KeyError:
            pass
        ns = _time_ns(value)
        ns = ns if ns is not None and 0 < ns <= _MAX_NS else None
        if len(_TIME_CACHE) >= _TIME_CACHE_MAX:
            _TIME_CACHE.clear()
        _TIME_CACHE[value] = ns
        return ns
    ns = _time_ns(value)
    return ns if ns is not None and 0 < ns <= _MAX_NS else None


def _time_ns(value: object) -> int | None:
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return _parse_loose(value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        try:
            return ((dt - _EPOCH) // _MICRO) * 1000
        except OverflowError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
            if number != number or number in (_INF, -_INF):
                return None
            mag = abs(number)
            scale = (
                1 if mag >= 1e17 else 1_000 if mag >= 1e14 else 1_000_000 if mag >= 1e11 else 1_000_000_000
            )
            return int(value * scale) if isinstance(value, int) else int(number * scale)
        except OverflowError:
            return None
    return None


def _parse_loose(text: str) -> int | None:
    match = _LOOSE_TIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    ns = ((dt - _EPOCH) // _MICRO) * 1000 + (int(frac.ljust(9, "0")) if frac else 0)
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1  # local time minus offset = UTC
        digits = zone[1:].replace(":", "")
        offset_min = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        ns += sign * offset_min * 60_000_000_000
    return ns


def _str(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) else None


def _num(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if number == number and number not in (_INF, -_INF) else None


def _int(record: Mapping[str, Any], key: str) -> int | None:
    number = _num(record, key)
    return int(number) if number is not None else None


def _dict(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _strs(record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = record.get(key)
    return tuple(x for x in value if isinstance(x, str)) if isinstance(value, list) else ()


def _tracing(record: Mapping[str, Any]) -> Tracing | None:
    tracing = record.get("tracing")
    if not isinstance(tracing, dict):
        return None
    return Tracing(span_id=_str(tracing, "spanId"), type=_str(tracing, "type"), value=_str(tracing, "value"))


def _spans(record: Mapping[str, Any]) -> tuple[PhaseSpan, ...]:
    value = record.get("spans")
    if not isinstance(value, list):
        return ()
    return tuple(
        PhaseSpan(name=s["name"], start_ns=parse_time_ns(s.get("start")), duration_ms=_num(s, "durationMs"))
        for s in value
        if isinstance(s, dict) and isinstance(s.get("name"), str)
    )


def _request_id_of(record: Mapping[str, Any]) -> str | None:
    for key in ("requestId", "AWSRequestId", "aws_request_id", "awsRequestId"):
        value = record.get(key)
        if isinstance(value, str) and value and value != "undefined":
            return value
    return None


# --------------------------------------------------------------------------------------------
# Record parsers, one per platform type
# --------------------------------------------------------------------------------------------


def _init_start(record: Mapping[str, Any]) -> InitStart:
    return InitStart(
        initialization_type=_str(record, "initializationType"),
        phase=_str(record, "phase"),
        function_name=_str(record, "functionName"),
        function_version=_str(record, "functionVersion"),
        instance_id=_str(record, "instanceId"),
        instance_max_memory=_int(record, "instanceMaxMemory"),
        runtime_version=_str(record, "runtimeVersion"),
        runtime_version_arn=_str(record, "runtimeVersionArn"),
        tracing=_tracing(record),
    )


def _phase_done(record: Mapping[str, Any]) -> PhaseDone:
    return PhaseDone(
        initialization_type=_str(record, "initializationType"),
        phase=_str(record, "phase"),
        status=_str(record, "status"),
        error_type=_str(record, "errorType"),
        duration_ms=_num(_dict(record, "metrics"), "durationMs"),
        spans=_spans(record),
        tracing=_tracing(record),
    )


def _start(record: Mapping[str, Any]) -> Start:
    return Start(
        request_id=_str(record, "requestId"),
        version=_str(record, "version"),
        tracing=_tracing(record),
        tenant_id=_str(record, "tenantId"),
    )


def _end(record: Mapping[str, Any]) -> Start:
    return Start(request_id=_str(record, "requestId"), version=None, tracing=None, tenant_id=None)


def _runtime_done(record: Mapping[str, Any]) -> RuntimeDone:
    metrics = _dict(record, "metrics")
    return RuntimeDone(
        request_id=_str(record, "requestId"),
        status=_str(record, "status"),
        error_type=_str(record, "errorType"),
        duration_ms=_num(metrics, "durationMs"),
        produced_bytes=_int(metrics, "producedBytes"),
        spans=_spans(record),
        tracing=_tracing(record),
        tenant_id=_str(record, "tenantId"),
    )


def _report(record: Mapping[str, Any]) -> Report:
    metrics = _dict(record, "metrics")
    return Report(
        request_id=_str(record, "requestId"),
        status=_str(record, "status"),
        error_type=_str(record, "errorType"),
        duration_ms=_num(metrics, "durationMs"),
        billed_duration_ms=_num(metrics, "billedDurationMs"),
        memory_size_mb=_int(metrics, "memorySizeMB"),
        max_memory_used_mb=_int(metrics, "maxMemoryUsedMB"),
        init_duration_ms=_num(metrics, "initDurationMs"),
        restore_duration_ms=_num(metrics, "restoreDurationMs"),
        spans=_spans(record),
        tracing=_tracing(record),
        tenant_id=_str(record, "tenantId"),
    )


def _extension_state(record: Mapping[str, Any]) -> ExtensionState:
    return ExtensionState(
        name=_str(record, "name"),
        state=_str(record, "state"),
        events=_strs(record, "events"),
        error_type=_str(record, "errorType"),
    )


def _subscription(record: Mapping[str, Any]) -> Subscription:
    return Subscription(name=_str(record, "name"), state=_str(record, "state"), types=_strs(record, "types"))


def _logs_dropped(record: Mapping[str, Any]) -> LogsDropped:
    return LogsDropped(
        dropped_bytes=_int(record, "droppedBytes"),
        dropped_records=_int(record, "droppedRecords"),
        reason=_str(record, "reason"),
    )


_PLATFORM_PARSERS: dict[EventType, Callable[[Mapping[str, Any]], PlatformRecord]] = {
    EventType.INIT_START: _init_start,
    EventType.INIT_RUNTIME_DONE: _phase_done,
    EventType.INIT_REPORT: _phase_done,
    EventType.START: _start,
    EventType.RUNTIME_DONE: _runtime_done,
    EventType.REPORT: _report,
    EventType.RESTORE_START: _init_start,
    EventType.RESTORE_RUNTIME_DONE: _phase_done,
    EventType.RESTORE_REPORT: _phase_done,
    EventType.EXTENSION_STATE: _extension_state,
    EventType.TELEMETRY_SUBSCRIPTION: _subscription,
    EventType.LOGS_DROPPED: _logs_dropped,
    EventType.END: _end,
    EventType.LOGS_SUBSCRIPTION: _subscription,
}
#: Log event types by name (a set of strings: hashing an Enum member is a Python-level call).
_LOG_TYPES = frozenset(k.value for k in (EventType.FUNCTION, EventType.EXTENSION, EventType.FAULT))


def parse_event(item: object) -> TelemetryEvent | None:
    """One envelope -> event; None when it is not an object with a string `type` and a usable record."""
    if not isinstance(item, dict):
        return None
    type_ = item.get("type")
    if not isinstance(type_, str):
        return None
    kind = _KIND_BY_NAME.get(type_)
    record = item.get("record")
    time_ns = parse_time_ns(item.get("time"))
    if kind is None:
        return TelemetryEvent(type_, None, time_ns, record, item)
    if type_ in _LOG_TYPES:
        if record is None:
            return None
        if not isinstance(record, str | dict):
            record = str(record) if not isinstance(record, list) else repr(record)
        return TelemetryEvent(type_, kind, time_ns, record, item)
    if not isinstance(record, dict):
        return None
    return TelemetryEvent(type_, kind, time_ns, _PLATFORM_PARSERS[kind](record), item)


def parse_batch(payload: object) -> ParseResult:
    """A decoded POST body -> events. Never raises: bad events are counted in `invalid`."""
    if not isinstance(payload, list):
        return ParseResult(error=f"body must be a JSON array of events, got {type(payload).__name__}")
    events: list[TelemetryEvent] = []
    invalid = unknown = 0
    for item in payload:
        try:
            event = parse_event(item)
        except Exception:  # defensive: a record shape nobody anticipated must not fail the batch
            event = None
        if event is None:
            invalid += 1
            continue
        if event.kind is None:
            unknown += 1
        events.append(event)
    return ParseResult(tuple(events), invalid, unknown)


# --------------------------------------------------------------------------------------------
# The runtimes' text log formats (they carry the request id, which `request_id` exposes)
# --------------------------------------------------------------------------------------------

LEVEL_WORDS = frozenset(("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"))


class TextLine(NamedTuple):
    level: str
    timestamp: str
    request_id: str | None
    message: str


def split_text_line(text: str) -> TextLine | None:
    """Python `[LEVEL]\\t<ts>\\t<requestId>\\t<msg>` or Node `<ts>\\t<requestId>\\t<LEVEL>\\t<msg>`."""
    if "\t" not in text:
        return None
    parts = text.split("\t", 3)
    if len(parts) != 4:
        return None
    first = parts[0]
    if first.startswith("[") and first.endswith("]") and first[1:-1].upper() in LEVEL_WORDS:
        level, ts, rid = first[1:-1], parts[1], parts[2]
    elif parts[2].upper() in LEVEL_WORDS and first[:1].isdigit():
        level, ts, rid = parts[2], first, parts[1]
    else:
        return None
    return TextLine(level, ts, rid if rid and rid != "undefined" else None, parts[3])
