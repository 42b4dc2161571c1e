"""Our signal records → OTLP protobuf request bytes, for HTTP and gRPC alike, without the
`protobuf` runtime (see `protowire.py` for why).

Field numbers are those of the OTLP `.proto` files at
https://github.com/open-telemetry/opentelemetry-proto (paths below under `opentelemetry/proto/`);
fields are written in field-number order and proto3 defaults (0, "", empty) are left out, as
protobuf's own serializer does, so a decoder sees exactly the message the `opentelemetry-proto`
classes would have built. The tests decode every message type with `opentelemetry-proto`.

Metrics are aggregated per export call, as an OTel SDK with DELTA temporality would at each
collection: counters become monotonic delta Sums per (name, attributes), histograms delta
Histograms with explicit bounds, gauges keep the last value. The interval of each point is the
span of its measurements' timestamps, so points from different flushes never overlap.

Logs are the bulk of what a busy function sends, so `encode_logs` is written for speed: constant
tags are bytes computed at import, attribute keys are encoded once and remembered, string values
(the common case) are encoded inline, and the request is joined from its parts in one copy.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from extension.exporters.protowire import (
    I32,
    I64,
    LEN,
    VARINT,
    fields,
    length_delimited,
    pack_double,
    pack_fixed32,
    pack_fixed64,
    packed_double,
    packed_fixed64,
    tag,
    varint,
)
from extension.signals import (
    Attributes,
    LogData,
    Measurement,
    MetricKind,
    Origin,
    Resource,
    SpanData,
    SpanEvent,
    SpanLink,
)

SCOPE_NAME = "lambda-sidecar"
#: Histogram bounds for millisecond durations: Lambda durations span 1 ms to 15 minutes.
# fmt: off
MS_BOUNDS: tuple[float, ...] = (
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 900000,
)
# fmt: on
#: The OpenTelemetry SDK's default explicit bounds, for every other unit.
DEFAULT_BOUNDS: tuple[float, ...] = (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)
#: `AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA` (metrics/v1/metrics.proto).
DELTA = 1
#: W3C trace flags "sampled", in bits 0-7 of `Span.flags` / `LogRecord.flags`.
SAMPLED_FLAG = 0x01
_MAX_DEPTH = 16
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# -- common/v1/common.proto --------------------------------------------------------------------
# AnyValue: string_value 1, bool_value 2, int_value 3, double_value 4, array_value 5,
# kvlist_value 6, bytes_value 7 (a oneof: a set member is written even when it is 0/""/false).
_ANY_STRING = tag(1, LEN)
_ANY_BOOL_FALSE = tag(2, VARINT) + b"\x00"
_ANY_BOOL_TRUE = tag(2, VARINT) + b"\x01"
_ANY_INT = tag(3, VARINT)
_ANY_DOUBLE = tag(4, I64)
_ANY_ARRAY = tag(5, LEN)
_ANY_KVLIST = tag(6, LEN)
_ANY_BYTES = tag(7, LEN)
# ArrayValue.values 1, KeyValueList.values 1, KeyValue: key 1, value 2.
_LIST_VALUES = tag(1, LEN)
_KV_KEY = tag(1, LEN)
_KV_VALUE = tag(2, LEN)
# InstrumentationScope: name 1, version 2, attributes 3.
_SCOPE_NAME = tag(1, LEN)
_SCOPE_VERSION = tag(2, LEN)
_SCOPE_ATTRIBUTES = tag(3, LEN)

# -- resource/v1/resource.proto: Resource.attributes 1 ----------------------------------------
_RESOURCE_ATTRIBUTES = tag(1, LEN)

# -- Resource{Spans,Metrics,Logs}: resource 1, scope_{spans,metrics,logs} 2;
# -- Scope{Spans,Metrics,Logs}: scope 1, {spans,metrics,log_records} 2 (trace/v1/trace.proto,
# -- metrics/v1/metrics.proto, logs/v1/logs.proto) ---------------------------------------------
_RESOURCE = tag(1, LEN)
_SCOPE_ITEMS = tag(2, LEN)
_SCOPE = tag(1, LEN)
_ITEM = tag(2, LEN)
# Export{Trace,Metrics,Logs}ServiceRequest.resource_{spans,metrics,logs} 1
# (collector/{trace,metrics,logs}/v1/{trace,metrics,logs}_service.proto).
_REQUEST_RESOURCE = tag(1, LEN)

# -- trace/v1/trace.proto ----------------------------------------------------------------------
# Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start_time_unix_nano 7,
# end_time_unix_nano 8, attributes 9, events 11, links 13, status 15, flags 16 (fixed32).
_SPAN_TRACE_ID = tag(1, LEN)
_SPAN_SPAN_ID = tag(2, LEN)
_SPAN_TRACE_STATE = tag(3, LEN)
_SPAN_PARENT = tag(4, LEN)
_SPAN_NAME = tag(5, LEN)
_SPAN_KIND = tag(6, VARINT)
_SPAN_START = tag(7, I64)
_SPAN_END = tag(8, I64)
_SPAN_ATTRIBUTES = tag(9, LEN)
_SPAN_EVENTS = tag(11, LEN)
_SPAN_LINKS = tag(13, LEN)
_SPAN_STATUS = tag(15, LEN)
_SPAN_FLAGS = tag(16, I32)
# Span.Event: time_unix_nano 1, name 2, attributes 3. Span.Link: trace_id 1, span_id 2,
# attributes 4. Status: message 2, code 3.
_EVENT_TIME = tag(1, I64)
_EVENT_NAME = tag(2, LEN)
_EVENT_ATTRIBUTES = tag(3, LEN)
_LINK_TRACE_ID = tag(1, LEN)
_LINK_SPAN_ID = tag(2, LEN)
_LINK_ATTRIBUTES = tag(4, LEN)
_STATUS_MESSAGE = tag(2, LEN)
_STATUS_CODE = tag(3, VARINT)

# -- metrics/v1/metrics.proto ------------------------------------------------------------------
# Metric: name 1, description 2, unit 3, gauge 5, sum 7, histogram 9.
_METRIC_NAME = tag(1, LEN)
_METRIC_DESCRIPTION = tag(2, LEN)
_METRIC_UNIT = tag(3, LEN)
_METRIC_GAUGE = tag(5, LEN)
_METRIC_SUM = tag(7, LEN)
_METRIC_HISTOGRAM = tag(9, LEN)
# Gauge/Sum/Histogram: data_points 1; Sum/Histogram: aggregation_temporality 2; Sum: is_monotonic 3.
_DATA_POINTS = tag(1, LEN)
_DELTA_TEMPORALITY = tag(2, VARINT) + varint(DELTA)
_MONOTONIC = tag(3, VARINT) + b"\x01"
# NumberDataPoint: start_time_unix_nano 2, time_unix_nano 3, as_double 4, attributes 7.
# HistogramDataPoint: start 2, time 3, count 4 (fixed64), sum 5, bucket_counts 6 (packed
# fixed64), explicit_bounds 7 (packed double), attributes 9, min 11, max 12 (sum/min/max are
# `optional`: written even when 0).
_POINT_START = tag(2, I64)
_POINT_TIME = tag(3, I64)
_NUMBER_AS_DOUBLE = tag(4, I64)
_NUMBER_ATTRIBUTES = tag(7, LEN)
_HIST_COUNT = tag(4, I64)
_HIST_SUM = tag(5, I64)
_HIST_BUCKETS = tag(6, LEN)
_HIST_BOUNDS = tag(7, LEN)
_HIST_ATTRIBUTES = tag(9, LEN)
_HIST_MIN = tag(11, I64)
_HIST_MAX = tag(12, I64)

# -- logs/v1/logs.proto ------------------------------------------------------------------------
# LogRecord: time_unix_nano 1, severity_number 2, severity_text 3, body 5, attributes 6,
# flags 8 (fixed32), trace_id 9, span_id 10, observed_time_unix_nano 11.
_LOG_TIME = tag(1, I64)
_LOG_SEVERITY_NUMBER = tag(2, VARINT)
_LOG_SEVERITY_TEXT = tag(3, LEN)
_LOG_BODY = tag(5, LEN)
_LOG_ATTRIBUTES = tag(6, LEN)
_LOG_FLAGS = tag(8, I32)
_LOG_TRACE_ID = tag(9, LEN)
_LOG_SPAN_ID = tag(10, LEN)
_LOG_OBSERVED = tag(11, I64)
_LOG_SAMPLED = _LOG_FLAGS + pack_fixed32(SAMPLED_FLAG)

#: InstrumentationScope{name: "lambda-sidecar"} as the `scope` field of a Scope* message.
_SCOPE_FIELD = length_delimited(_SCOPE, length_delimited(_SCOPE_NAME, SCOPE_NAME.encode()))

#: Encoded `KeyValue.key` fields by key; attribute keys repeat on every record. Bounded so that
#: records with ever-new keys (structured bodies are not keys, but user attributes could be)
#: cannot grow it without limit.
_KEY_CACHE: dict[str, bytes] = {}
_KEY_CACHE_MAX = 4096


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of `text`; lone surrogates (JSON allows "\\ud800") become U+FFFD instead of
    failing the whole batch: protobuf strings must be valid UTF-8."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text).encode()


def _key_field(key: Any) -> bytes:
    encoded = _KEY_CACHE.get(key)
    if encoded is None:
        key_bytes = _utf8(str(key))
        encoded = length_delimited(_KV_KEY, key_bytes) if key_bytes else b""
        if len(_KEY_CACHE) < _KEY_CACHE_MAX and type(key) is str:
            _KEY_CACHE[key] = encoded
    return encoded


def any_value(value: Any, depth: int = 0) -> bytes:
    """The payload of an OTLP `AnyValue` for any attribute value (nested lists and maps
    included). Integers beyond int64 and values nested deeper than 16 levels are sent as text
    rather than lost; `None` is the empty AnyValue."""
    kind = type(value)
    if kind is str:
        encoded = _utf8(value)
        return _ANY_STRING + varint(len(encoded)) + encoded
    if kind is bool:
        return _ANY_BOOL_TRUE if value else _ANY_BOOL_FALSE
    if value is None:
        return b""
    if isinstance(value, bool):
        return _ANY_BOOL_TRUE if value else _ANY_BOOL_FALSE
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return _ANY_INT + varint(int(value))
        return length_delimited(_ANY_STRING, str(value).encode())
    if isinstance(value, float):
        return _ANY_DOUBLE + pack_double(value)
    if isinstance(value, str):
        return length_delimited(_ANY_STRING, _utf8(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return length_delimited(_ANY_BYTES, bytes(value))
    if depth < _MAX_DEPTH:
        if isinstance(value, list | tuple):
            items = b"".join(length_delimited(_LIST_VALUES, any_value(v, depth + 1)) for v in value)
            return length_delimited(_ANY_ARRAY, items)
        if isinstance(value, Mapping):
            return length_delimited(_ANY_KVLIST, key_values(_LIST_VALUES, value, depth + 1))
    return length_delimited(_ANY_STRING, _utf8(str(value)))


def key_values(field_tag: bytes, attrs: Attributes | Mapping[Any, Any], depth: int = 0) -> bytes:
    """A repeated `KeyValue` field (`field_tag` is the parent's attributes field)."""
    parts: list[bytes] = []
    append = parts.append
    for key, value in attrs.items():
        if type(value) is str:  # the common case, inline
            encoded = _utf8(value)
            payload = _ANY_STRING + varint(len(encoded)) + encoded
            kv = _key_field(key) + _KV_VALUE + varint(len(payload)) + payload
        elif value is None:  # an empty AnyValue: the value field is left out
            kv = _key_field(key)
        else:
            payload = any_value(value, depth)
            kv = _key_field(key) + _KV_VALUE + varint(len(payload)) + payload
        append(field_tag)
        append(varint(len(kv)))
        append(kv)
    return b"".join(parts)


_resource_cache: tuple[Resource, bytes] | None = None


def _resource_field(resource: Resource) -> bytes:
    """The `resource` field of a Resource* message; the resource is the same for every export
    of an environment, so its bytes are kept for the last one seen."""
    global _resource_cache
    cached = _resource_cache
    if cached is not None and cached[0] is resource:
        return cached[1]
    encoded = length_delimited(_RESOURCE, key_values(_RESOURCE_ATTRIBUTES, resource.attributes))
    _resource_cache = (resource, encoded)
    return encoded


def _request(resource: Resource, items: list[bytes], scope_field: bytes = _SCOPE_FIELD) -> bytes:
    """Export*ServiceRequest{resource_*: [{resource, scope_*: [{scope, items}]}]}, joined in one
    copy (the items are already complete fields of the Scope* message)."""
    items_len = sum(map(len, items))
    scope_len = len(scope_field) + items_len
    scope_head = _SCOPE_ITEMS + varint(scope_len)
    resource_field = _resource_field(resource)
    outer_len = len(resource_field) + len(scope_head) + scope_len
    head = _REQUEST_RESOURCE + varint(outer_len) + resource_field + scope_head + scope_field
    items.insert(0, head)
    return b"".join(items)


def _scope_field(origin: Origin) -> bytes:
    """The `scope` field of a Scope* message for records received from the function's SDK."""
    name, version = _utf8(origin.scope_name), _utf8(origin.scope_version)
    payload = b"".join(
        (
            length_delimited(_SCOPE_NAME, name) if name else b"",
            length_delimited(_SCOPE_VERSION, version) if version else b"",
            key_values(_SCOPE_ATTRIBUTES, origin.scope_attributes),
        )
    )
    return length_delimited(_SCOPE, payload)


def _grouped_request(resource: Resource, groups: Sequence[tuple[Origin | None, list[bytes]]]) -> bytes:
    """A request with one Resource*/Scope* pair per origin: our records under `resource` and our
    scope, each received origin under its own resource and scope (a request is the concatenation
    of its repeated `resource_*` fields, so each group is encoded as a one-group request)."""
    return b"".join(
        _request(resource, items)
        if origin is None
        else _request(origin.resource, items, _scope_field(origin))
        for origin, items in groups
    )


def _by_origin(records: Sequence[Any]) -> list[tuple[Origin | None, list[Any]]]:
    """Records grouped by their `origin` (identity), in first-seen order."""
    groups: dict[int, tuple[Origin | None, list[Any]]] = {}
    for record in records:
        origin = record.origin
        group = groups.get(id(origin))
        if group is None:
            group = groups[id(origin)] = (origin, [])
        group[1].append(record)
    return list(groups.values())


# -- traces ------------------------------------------------------------------------------------


def _event(event: SpanEvent) -> bytes:
    name = _utf8(event.name)
    payload = b"".join(
        (
            _EVENT_TIME + pack_fixed64(event.time_ns) if event.time_ns else b"",
            length_delimited(_EVENT_NAME, name) if name else b"",
            key_values(_EVENT_ATTRIBUTES, event.attributes),
        )
    )
    return length_delimited(_SPAN_EVENTS, payload)


def _link(link: SpanLink) -> bytes:
    payload = b"".join(
        (
            length_delimited(_LINK_TRACE_ID, link.trace_id) if link.trace_id else b"",
            length_delimited(_LINK_SPAN_ID, link.span_id) if link.span_id else b"",
            key_values(_LINK_ATTRIBUTES, link.attributes),
        )
    )
    return length_delimited(_SPAN_LINKS, payload)


def encode_span(span: SpanData) -> bytes:
    """One `Span` message (its payload, without the enclosing field)."""
    name = _utf8(span.name)
    message = _utf8(span.status_message)
    status = b"".join(
        (
            length_delimited(_STATUS_MESSAGE, message) if message else b"",
            _STATUS_CODE + varint(int(span.status)) if span.status else b"",
        )
    )
    return b"".join(
        (
            length_delimited(_SPAN_TRACE_ID, span.trace_id) if span.trace_id else b"",
            length_delimited(_SPAN_SPAN_ID, span.span_id) if span.span_id else b"",
            length_delimited(_SPAN_TRACE_STATE, _utf8(span.trace_state)) if span.trace_state else b"",
            length_delimited(_SPAN_PARENT, span.parent_span_id) if span.parent_span_id else b"",
            length_delimited(_SPAN_NAME, name) if name else b"",
            _SPAN_KIND + varint(int(span.kind)) if span.kind else b"",
            _SPAN_START + pack_fixed64(span.start_ns) if span.start_ns else b"",
            _SPAN_END + pack_fixed64(span.end_ns) if span.end_ns else b"",
            key_values(_SPAN_ATTRIBUTES, span.attributes),
            b"".join(_event(e) for e in span.events),
            b"".join(_link(link) for link in span.links),
            length_delimited(_SPAN_STATUS, status),
            _SPAN_FLAGS + pack_fixed32(SAMPLED_FLAG) if span.sampled else b"",
        )
    )


def encode_traces(spans: Sequence[SpanData], resource: Resource) -> bytes:
    """An `ExportTraceServiceRequest` (collector/trace/v1/trace_service.proto)."""
    if not any(s.origin is not None for s in spans):
        return _request(resource, [length_delimited(_ITEM, encode_span(s)) for s in spans])
    return _grouped_request(
        resource,
        [
            (origin, [length_delimited(_ITEM, encode_span(s)) for s in group])
            for origin, group in _by_origin(spans)
        ],
    )


# -- logs --------------------------------------------------------------------------------------


#: `body` fields for short strings, by UTF-8 length: LogRecord.body tag, AnyValue length,
#: AnyValue.string_value tag, string length (the text follows).
_SHORT_BODY: tuple[bytes, ...] = tuple(
    _LOG_BODY + varint(n + 2) + _ANY_STRING + varint(n) for n in range(126)
)
#: Complete `log_records` field heads for records shorter than 128 bytes.
_SHORT_ITEM: tuple[bytes, ...] = tuple(_ITEM + varint(n) for n in range(128))
#: Complete `LogRecord.attributes` fields by (key, string value): a log line's attributes
#: (`log.source`, `faas.invocation_id`, ...) repeat over thousands of records. Bounded.
_LOG_ATTRIBUTE_CACHE: dict[tuple[Any, Any], bytes] = {}
_LOG_ATTRIBUTE_CACHE_MAX = 1024
#: `severity_number` + `severity_text` fields by (number, text).
_SEVERITY_CACHE: dict[tuple[int, str], bytes] = {}


def _log_attribute(key: Any, value: Any) -> bytes:
    """A complete `LogRecord.attributes` field; remembered when the value is a string."""
    if value is None:  # an empty AnyValue: the value field is left out
        kv = _key_field(key)
    else:
        payload = any_value(value)
        kv = _key_field(key) + _KV_VALUE + varint(len(payload)) + payload
    encoded = _LOG_ATTRIBUTES + varint(len(kv)) + kv
    if type(value) is str:
        if len(_LOG_ATTRIBUTE_CACHE) >= _LOG_ATTRIBUTE_CACHE_MAX:
            _LOG_ATTRIBUTE_CACHE.clear()  # e.g. one request id per invoke: keep the recent ones
        _LOG_ATTRIBUTE_CACHE[(key, value)] = encoded
    return encoded


def _severity(number: int, text: str) -> bytes:
    encoded = (_LOG_SEVERITY_NUMBER + varint(number) if number else b"") + (
        length_delimited(_LOG_SEVERITY_TEXT, _utf8(text)) if text else b""
    )
    if len(_SEVERITY_CACHE) < 256:
        _SEVERITY_CACHE[(number, text)] = encoded
    return encoded


def _trace_fields(trace_id: bytes | None, span_id: bytes | None, sampled: bool) -> bytes:
    """`flags`, `trace_id` and `span_id` of a LogRecord (flags only with a trace id)."""
    trace = b""
    if trace_id:
        trace = (_LOG_SAMPLED if sampled else b"") + length_delimited(_LOG_TRACE_ID, trace_id)
    if span_id:
        trace += length_delimited(_LOG_SPAN_ID, span_id)
    return trace


def _body(body: Any) -> bytes:
    """The `body` field for anything but a short string (see `_SHORT_BODY`)."""
    if body is None:
        return b""
    payload = any_value(body)
    return _LOG_BODY + varint(len(payload)) + payload


def encode_logs(logs: Sequence[LogData], resource: Resource) -> bytes:
    """An `ExportLogsServiceRequest` (collector/logs/v1/logs_service.proto)."""
    if not any(log.origin is not None for log in logs):
        return _request(resource, _log_items(logs))
    return _grouped_request(resource, [(origin, _log_items(group)) for origin, group in _by_origin(logs)])


def _log_items(logs: Sequence[LogData]) -> list[bytes]:
    """The complete `log_records` fields of `logs`.

    The hot loop of the log path, so it is one loop without per-field calls in the common case
    (a short string body and string attributes seen before): LogRecord fields are time 1,
    severity 2-3, body 5, attributes 6, flags 8, trace_id 9, span_id 10, observed time 11."""
    items: list[bytes] = []
    append = items.append
    attribute_cache = _LOG_ATTRIBUTE_CACHE
    severity_cache = _SEVERITY_CACHE
    short_body, short_item = _SHORT_BODY, _SHORT_ITEM
    last_trace_id: bytes | None = None
    last_span_id: bytes | None = None
    last_sampled = True
    last_trace = b""
    for log in logs:
        t = log.time_ns
        time_field = _LOG_TIME + pack_fixed64(t) if t else b""
        severity = severity_cache.get((log.severity_number, log.severity_text))
        if severity is None:
            severity = _severity(log.severity_number, log.severity_text)
        body = log.body
        if type(body) is str:
            try:
                text = body.encode()
            except UnicodeEncodeError:
                text = _utf8(body)
            n = len(text)
            body_field = short_body[n] + text if n < 126 else _body(body)
        else:
            body_field = _body(body)
        attributes = b""
        for item in log.attributes.items():
            try:
                attributes += attribute_cache[item]
            except (KeyError, TypeError):  # not seen yet, or an unhashable (list/map) value
                attributes += _log_attribute(*item)
        trace_id, span_id, sampled = log.trace_id, log.span_id, log.sampled
        if trace_id is last_trace_id and span_id is last_span_id and sampled is last_sampled:
            trace = last_trace  # the records of one invocation share its context objects
        else:
            trace = _trace_fields(trace_id, span_id, sampled)
            last_trace_id, last_span_id, last_sampled, last_trace = trace_id, span_id, sampled, trace
        t = log.observed_ns
        record = b"".join(
            (
                time_field,
                severity,
                body_field,
                attributes,
                trace,
                _LOG_OBSERVED + pack_fixed64(t) if t else b"",
            )
        )
        n = len(record)
        if n < 128:
            append(short_item[n] + record)
        elif n < 16384:
            append(_ITEM + bytes(((n & 0x7F) | 0x80, n >> 7)) + record)
        else:
            append(_ITEM + varint(n) + record)
    return items


# -- metrics -----------------------------------------------------------------------------------


def freeze(value: Any) -> Any:
    """A hashable, order-independent key for an attribute value or mapping."""
    if isinstance(value, Mapping):
        return ("\x00map", tuple(sorted((str(k), freeze(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("\x00list", tuple(freeze(v) for v in value))
    return (type(value).__name__, value)


@dataclass
class Series:
    """Aggregation state for one (metric, attribute set)."""

    attributes: Attributes
    start_ns: int
    end_ns: int
    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    last: float = 0.0
    last_ns: int = -1
    buckets: list[int] = field(default_factory=list)

    def add(self, m: Measurement, bounds: tuple[float, ...] | None) -> None:
        self.start_ns = min(self.start_ns, m.start_ns or m.time_ns)
        self.end_ns = max(self.end_ns, m.time_ns)
        h = m.histogram
        if h is not None:  # already aggregated by the function's SDK: merge its buckets
            self.count += h.count
            self.total += h.total
            self.minimum = min(self.minimum, h.minimum if h.minimum is not None else self.minimum)
            self.maximum = max(self.maximum, h.maximum if h.maximum is not None else self.maximum)
            if not self.buckets:
                self.buckets = [0] * len(h.bucket_counts)
            for index, bucket in enumerate(h.bucket_counts[: len(self.buckets)]):
                self.buckets[index] += bucket
            return
        self.count += 1
        self.total += m.value
        self.minimum = min(self.minimum, m.value)
        self.maximum = max(self.maximum, m.value)
        if m.time_ns >= self.last_ns:
            self.last, self.last_ns = m.value, m.time_ns
        if bounds is not None:
            if not self.buckets:
                self.buckets = [0] * (len(bounds) + 1)
            self.buckets[bisect_left(bounds, m.value)] += 1


class AggregatedMetric(NamedTuple):
    """One OTLP `Metric`: every series of a (name, kind, unit) in one export."""

    name: str
    kind: MetricKind
    unit: str
    description: str
    series: tuple[Series, ...]
    origin: Origin | None = None
    #: Explicit bounds of a received histogram (None: ours, by unit).
    bounds: tuple[float, ...] | None = None
    monotonic: bool = True


def bounds_for(unit: str) -> tuple[float, ...]:
    return MS_BOUNDS if unit == "ms" else DEFAULT_BOUNDS


_MetricKey = tuple[str, MetricKind, str, int, tuple[float, ...] | None, bool]


def aggregate(measurements: Sequence[Measurement]) -> list[AggregatedMetric]:
    """Aggregate raw measurements, one metric per (name, kind, unit) in first-seen order; received
    measurements also per origin, histogram bounds and monotonicity."""
    metrics: dict[_MetricKey, dict[Any, Series]] = {}
    descriptions: dict[_MetricKey, str] = {}
    origins: dict[int, Origin | None] = {}
    for m in measurements:
        h = m.histogram
        key = (m.name, m.kind, m.unit, id(m.origin), h.bounds if h is not None else None, m.monotonic)
        origins[id(m.origin)] = m.origin
        per_attrs = metrics.setdefault(key, {})
        if m.description and key not in descriptions:
            descriptions[key] = m.description
        attr_key = freeze(m.attributes)
        s = per_attrs.get(attr_key)
        if s is None:
            start = m.start_ns or m.time_ns
            s = per_attrs[attr_key] = Series(m.attributes, start, m.time_ns)
        s.add(m, bounds_for(m.unit) if m.kind is MetricKind.HISTOGRAM else None)
    return [
        AggregatedMetric(
            name,
            kind,
            unit,
            descriptions.get(key, ""),
            tuple(series.values()),
            origins[origin_id],
            bounds,
            monotonic,
        )
        for key, series in metrics.items()
        for name, kind, unit, origin_id, bounds, monotonic in (key,)
    ]


def _times(s: Series) -> bytes:
    return (_POINT_START + pack_fixed64(s.start_ns) if s.start_ns else b"") + (
        _POINT_TIME + pack_fixed64(s.end_ns) if s.end_ns else b""
    )


def _number_point(s: Series, value: float) -> bytes:
    payload = (
        _times(s) + _NUMBER_AS_DOUBLE + pack_double(value) + key_values(_NUMBER_ATTRIBUTES, s.attributes)
    )
    return length_delimited(_DATA_POINTS, payload)


def _histogram_point(s: Series, bounds: tuple[float, ...]) -> bytes:
    payload = b"".join(
        (
            _times(s),
            _HIST_COUNT + pack_fixed64(s.count) if s.count else b"",
            _HIST_SUM + pack_double(s.total),
            packed_fixed64(_HIST_BUCKETS, s.buckets),
            packed_double(_HIST_BOUNDS, bounds),
            key_values(_HIST_ATTRIBUTES, s.attributes),
            # unknown for a received cumulative histogram turned into a delta: left out (optional)
            _HIST_MIN + pack_double(s.minimum) if s.minimum != float("inf") else b"",
            _HIST_MAX + pack_double(s.maximum) if s.maximum != float("-inf") else b"",
        )
    )
    return length_delimited(_DATA_POINTS, payload)


def encode_metric(metric: AggregatedMetric) -> bytes:
    """One `Metric` message: a delta Histogram, a monotonic delta Sum or a Gauge."""
    if metric.kind is MetricKind.HISTOGRAM:
        bounds = metric.bounds if metric.bounds is not None else bounds_for(metric.unit)
        points = b"".join(_histogram_point(s, bounds) for s in metric.series)
        data = length_delimited(_METRIC_HISTOGRAM, points + _DELTA_TEMPORALITY)
    elif metric.kind is MetricKind.COUNTER:
        points = b"".join(_number_point(s, s.total) for s in metric.series)
        monotonic = _MONOTONIC if metric.monotonic else b""
        data = length_delimited(_METRIC_SUM, points + _DELTA_TEMPORALITY + monotonic)
    else:
        points = b"".join(_number_point(s, s.last) for s in metric.series)
        data = length_delimited(_METRIC_GAUGE, points)
    name, description, unit = _utf8(metric.name), _utf8(metric.description), _utf8(metric.unit)
    return b"".join(
        (
            length_delimited(_METRIC_NAME, name) if name else b"",
            length_delimited(_METRIC_DESCRIPTION, description) if description else b"",
            length_delimited(_METRIC_UNIT, unit) if unit else b"",
            data,
        )
    )


def encode_metrics(measurements: Sequence[Measurement], resource: Resource) -> bytes:
    """An `ExportMetricsServiceRequest` (collector/metrics/v1/metrics_service.proto)."""
    metrics = aggregate(measurements)
    if not any(m.origin is not None for m in metrics):
        return _request(resource, [length_delimited(_ITEM, encode_metric(m)) for m in metrics])
    return _grouped_request(
        resource,
        [
            (origin, [length_delimited(_ITEM, encode_metric(m)) for m in group])
            for origin, group in _by_origin(metrics)
        ],
    )


# -- responses ---------------------------------------------------------------------------------


def partial_success(body: bytes) -> tuple[int, str]:
    """(rejected count, server message) from an `Export*ServiceResponse`: its field 1
    `partial_success` holds the rejected count in field 1 (`rejected_spans`,
    `rejected_data_points` or `rejected_log_records`) and `error_message` in field 2 for all three
    signals (collector/*/v1/*_service.proto). An empty body (the usual reply) is (0, "").
    Raises `WireError` when the body is not a protobuf message."""
    rejected, message = 0, ""
    for number, wire_type, value in fields(body):
        if number != 1 or wire_type != LEN or not isinstance(value, bytes):
            continue  # unknown fields are skipped, as protobuf does
        for inner, inner_type, inner_value in fields(value):
            if inner == 1 and inner_type == VARINT and isinstance(inner_value, int):
                rejected = inner_value if inner_value < 2**63 else inner_value - 2**64
            elif inner == 2 and inner_type == LEN and isinstance(inner_value, bytes):
                message = inner_value.decode("utf-8", "replace")
    return rejected, message
