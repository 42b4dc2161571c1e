"""`function` / `extension` records -> OTLP log records (severity, time, request id, trace ids).

Both record shapes are handled: text lines in the Python (`[LEVEL]\\t<ts>\\t<rid>\\t<msg>`) and
Node (`<ts>\\t<rid>\\t<LEVEL>\\t<msg>`) runtime formats or free text, and JSON records (objects,
or strings holding an object) whose message becomes the body and whose other fields become
attributes. This is the hot path (tens of thousands of records per second): regexes are
precompiled, the common case does one split and one dict lookup, and nothing is allocated per
record beyond the record itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from extension.config import ProcessingSettings
from extension.log import is_self_line, is_self_object
from extension.signals import AttrValue, LogData
from extension.sources.telemetry_api.schema import parse_time_ns, split_text_line
from extension.stats import Stats

SEVERITY: dict[str, int] = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "NOTICE": 10,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "CRITICAL": 21,
    "FATAL": 21,
}
INFO = 9
WARN = 13
ERROR = 17

_LEADING_LEVEL = re.compile(
    r"\s*\[?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL)\b", re.IGNORECASE
)
_MESSAGE_KEYS = ("message", "msg")
_LEVEL_KEYS = ("level", "levelname", "severity", "log.level")
_TIME_KEYS = ("timestamp", "time", "@timestamp")
_REQUEST_ID_KEYS = ("requestId", "AWSRequestId", "aws_request_id", "awsRequestId")
#: JSON fields turned into our own fields rather than copied as attributes.
_CONSUMED = frozenset((*_MESSAGE_KEYS, *_LEVEL_KEYS, *_TIME_KEYS, *_REQUEST_ID_KEYS))
#: Lambda's JSON error fields -> OTel exception semantic conventions.
_EXCEPTION_KEYS = {"errorType": "exception.type", "errorMessage": "exception.message"}


class Correlation(Protocol):
    """What a log record needs of the invocation (or init phase) it belongs to."""

    @property
    def trace_id(self) -> bytes: ...
    @property
    def span_id(self) -> bytes: ...
    @property
    def sampled(self) -> bool: ...
    @property
    def request_id(self) -> str | None: ...


Finder = Callable[[str], Correlation | None]


def severity_of(level: object) -> tuple[int, str]:
    """(OTel severity number, text) from a level word or a pino-style number; INFO otherwise."""
    if isinstance(level, str):
        return SEVERITY.get(level.upper(), INFO), level
    if isinstance(level, int | float) and not isinstance(level, bool):
        n = int(level)
        number = (
            1 if n <= 10 else 5 if n <= 20 else 9 if n <= 30 else 13 if n <= 40 else 17 if n <= 50 else 21
        )
        return number, str(n)
    return INFO, "INFO"


def is_self_record(record: object) -> bool:
    """A line the extension itself wrote. Only ask this of `extension` records: the function's
    own stream is never ours, whatever its lines say."""
    if isinstance(record, str):
        return is_self_line(record)
    if not isinstance(record, dict):
        return False
    # JSON log format: the platform wraps our text lines as {"message": "[lambda-sidecar] ..."}
    message = record.get("message")
    return is_self_object(record) or (isinstance(message, str) and is_self_line(message))


def min_severity(level_name: str) -> int:
    return SEVERITY.get(level_name.upper(), 1)


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = record.get(key)
        if value is not None:
            return value
    return None


#: What a record says of itself: (level, body, attributes, request id, timestamp ns).
_Parsed = tuple[object, Any, dict[str, AttrValue], str | None, int | None]


def _from_text(record: str, source: str) -> _Parsed:
    """A runtime-format line, a line holding a JSON object, or free text (level from its first word)."""
    text = record.rstrip("\r\n") if record.endswith("\n") else record
    line = split_text_line(text)
    if line is not None:
        return (
            line.level,
            line.message,
            {"log.source": source},
            line.request_id,
            parse_time_ns(line.timestamp),
        )
    if text.startswith("{") and text.endswith("}"):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            return _from_object(obj, source)
    match = _LEADING_LEVEL.match(text)
    return (match.group(1) if match is not None else "INFO"), text, {"log.source": source}, None, None


def _from_object(obj: dict[str, Any], source: str) -> _Parsed:
    """A JSON record: its message is the body and its other fields attributes (Lambda's error
    fields under OTel exception names); with no message field the object itself is the body."""
    message = _first(obj, _MESSAGE_KEYS)
    ts = _first(obj, _TIME_KEYS)
    rid = next(
        (
            value
            for key in _REQUEST_ID_KEYS
            if isinstance(value := obj.get(key), str) and value != "undefined"
        ),
        None,
    )
    attrs: dict[str, AttrValue] = {}
    body: Any
    if message is None:
        body = obj
    else:
        body = message
        for key, value in obj.items():
            if key in _CONSUMED:
                continue
            if key == "stackTrace" and isinstance(value, list):
                attrs["exception.stacktrace"] = "\n".join(str(x) for x in value)
            else:
                attrs[_EXCEPTION_KEYS.get(key, key)] = value
    attrs["log.source"] = source
    return _first(obj, _LEVEL_KEYS), body, attrs, rid, parse_time_ns(ts) if ts is not None else None


class LogMapper:
    """Maps one record at a time; returns None for records below the minimum level (counted).

    The caller has already dropped our own lines (`is_self_record`) and redacted the record, so
    raw-event destinations get the same redacted record as the log record."""

    def __init__(self, settings: ProcessingSettings, stats: Stats) -> None:
        self._min = min_severity(settings.log_min_level)
        self._stats = stats

    def record(
        self,
        record: object,
        source: str,
        event_ns: int | None,
        observed_ns: int,
        find: Finder | None,
        current: Correlation | None,
    ) -> LogData | None:
        """`find(request_id)` resolves an invocation; `current` is used when the record names none."""
        if isinstance(record, str):
            parsed = _from_text(record, source)
        elif isinstance(record, dict):
            parsed = _from_object(record, source)
        else:
            return None
        level, body, attrs, rid, ts_ns = parsed
        return self._finish(level, body, attrs, rid, ts_ns, event_ns, observed_ns, find, current)

    def _finish(
        self,
        level: object,
        body: Any,
        attrs: dict[str, AttrValue],
        rid: str | None,
        ts_ns: int | None,
        event_ns: int | None,
        observed_ns: int,
        find: Finder | None,
        current: Correlation | None,
    ) -> LogData | None:
        number, text = severity_of(level)
        if number < self._min:
            self._stats.add("logs_filtered", 1, "min_level")
            return None
        ctx: Correlation | None = current
        if rid is not None:
            attrs["faas.invocation_id"] = rid
            ctx = find(rid) if find is not None else None
        elif current is not None and current.request_id is not None:
            attrs["faas.invocation_id"] = current.request_id
        time_ns = ts_ns or event_ns or observed_ns
        if ctx is None:
            return LogData(time_ns, observed_ns, number, text, body, attrs)
        return LogData(
            time_ns, observed_ns, number, text, body, attrs, ctx.trace_id, ctx.span_id, ctx.sampled
        )


def platform_log(
    body: AttrValue,
    severity: int,
    time_ns: int,
    observed_ns: int,
    ctx: Correlation | None,
    request_id: str | None = None,
    attributes: dict[str, AttrValue] | None = None,
) -> LogData:
    """A platform event rendered as a log line (CloudWatch-style START/END/REPORT and warnings)."""
    attrs: dict[str, AttrValue] = {"log.source": "platform"}
    if request_id:
        attrs["faas.invocation_id"] = request_id
    if attributes:
        attrs.update(attributes)
    sev_text = "ERROR" if severity >= ERROR else "WARN" if severity >= WARN else "INFO"
    if ctx is None:
        return LogData(time_ns, observed_ns, severity, sev_text, body, attrs)
    return LogData(
        time_ns, observed_ns, severity, sev_text, body, attrs, ctx.trace_id, ctx.span_id, ctx.sampled
    )
