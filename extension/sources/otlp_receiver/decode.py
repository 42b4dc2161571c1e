"""OTLP export requests (protobuf or JSON) -> our signal records, with the `opentelemetry-proto`
classes (protobuf parses; nothing here reads the wire format by hand).

Imported only when the first intake request arrives (see `server.py`): protobuf and the OTLP
classes cost tens of milliseconds to import, which a function without instrumented code should
never pay on its cold start.

OTLP/JSON differs from the protobuf JSON mapping in one place: trace and span ids are hex strings,
not base64 (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding); they are turned into
base64 before `json_format.ParseDict`, which then does the rest (lowerCamelCase keys, integer
enums, 64-bit integers as strings or numbers, unknown fields ignored as the spec requires).

Metrics become our `Measurement`s: gauges as gauges, delta sums and histograms as they are,
cumulative ones (the SDK's default temporality) turned into deltas per series, as the collector's
cumulativetodelta processor does (the state is bounded). Exponential histograms and summaries
are rejected and reported in the partial-success answer.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from extension.signals import (
    AttrValue,
    HistogramValue,
    LogData,
    Measurement,
    MetricKind,
    Origin,
    Resource,
    Signals,
    SpanData,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)

_REQUESTS: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
#: Field of the response's PartialSuccess holding the rejected count, per signal
#: (collector/{trace,metrics,logs}/v1/*_service.proto).
_REJECTED_FIELD = {
    "traces": "rejected_spans",
    "metrics": "rejected_data_points",
    "logs": "rejected_log_records",
}
_RESPONSES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
#: AggregationTemporality (metrics/v1/metrics.proto).
_DELTA, _CUMULATIVE = 1, 2
#: DataPointFlags.FLAG_NO_RECORDED_VALUE_MASK.
_NO_RECORDED_VALUE = 1
#: Series remembered for cumulative -> delta conversion.
MAX_CUMULATIVE_SERIES = 10_000


class BadRequest(ValueError):
    """The body is not an OTLP export request (answered 400; the text says why, never the data)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    signals: Signals
    received: int
    rejected: int = 0
    message: str = ""


def parse(signal: str, body: bytes, is_json: bool) -> Message:
    """The Export*ServiceRequest in `body`; BadRequest when it is not one."""
    request = _REQUESTS[signal]()
    if is_json:
        try:
            doc = json.loads(body)
            if not isinstance(doc, dict):
                raise BadRequest("the JSON body is not an object")
            json_format.ParseDict(_ids_to_base64(doc), request, ignore_unknown_fields=True)
        except BadRequest:
            raise
        except (ValueError, RecursionError, json_format.ParseError, TypeError) as exc:
            raise BadRequest(f"not an OTLP/JSON {signal} request ({type(exc).__name__})") from None
        return request
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise BadRequest(f"not an OTLP/protobuf {signal} request ({type(exc).__name__})") from None
    return request


def _ids_to_base64(value: Any, depth: int = 0) -> Any:
    """OTLP/JSON's hex ids -> the base64 the protobuf JSON mapping expects for `bytes` fields."""
    if depth > 64:
        raise BadRequest("the JSON body is nested too deeply")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _ID_KEYS and isinstance(item, str):
                try:
                    out[key] = base64.b64encode(bytes.fromhex(item)).decode("ascii")
                except ValueError:
                    raise BadRequest(f"{key} is not a hex string") from None
            else:
                out[key] = _ids_to_base64(item, depth + 1)
        return out
    if isinstance(value, list):
        return [_ids_to_base64(item, depth + 1) for item in value]
    return value


def response(signal: str, rejected: int, message: str, is_json: bool) -> bytes:
    """The Export*ServiceResponse: empty on full success, else a PartialSuccess."""
    reply = _RESPONSES[signal]()
    if rejected or message:
        partial = reply.partial_success  # type: ignore[attr-defined]
        setattr(partial, _REJECTED_FIELD[signal], rejected)
        partial.error_message = message
    if is_json:
        return json.dumps(json_format.MessageToDict(reply), separators=(",", ":")).encode()
    return bytes(reply.SerializeToString())


# -- values -------------------------------------------------------------------------------------


def _value(v: Any, depth: int = 0) -> AttrValue:
    which = v.WhichOneof("value")
    if which == "string_value":
        return str(v.string_value)
    if which == "bool_value":
        return bool(v.bool_value)
    if which == "int_value":
        return int(v.int_value)
    if which == "double_value":
        return float(v.double_value)
    if depth > 16:
        return None
    if which == "array_value":
        return [_value(item, depth + 1) for item in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    return None


def _attrs(kvs: Any) -> dict[str, AttrValue]:
    if not kvs:
        return {}
    out: dict[str, AttrValue] = {}
    for kv in kvs:
        value = kv.value
        if value.WhichOneof("value") == "string_value":  # the common case, inline
            out[kv.key] = value.string_value
        else:
            out[kv.key] = _value(value)
    return out


_ZERO16, _ZERO8 = bytes(16), bytes(8)


def _id(raw: bytes, size: int) -> bytes | None:
    """A valid id of `size` bytes (not all zero), else None."""
    return raw if len(raw) == size and raw != bytes(size) else None


# -- the converter ------------------------------------------------------------------------------


class Converter:
    """Requests -> records. Holds the cumulative-to-delta state, so one instance lives as long as
    the receiver. `merge` gives the Resource of a received resource (ours merged in)."""

    def __init__(
        self, merge: Callable[[Mapping[str, AttrValue]], Resource], clock_ns: Callable[[], int]
    ) -> None:
        self._merge = merge
        self._clock_ns = clock_ns
        #: series key -> (start_ns, time_ns, value or histogram) of the last cumulative point.
        self._cumulative: OrderedDict[Any, tuple[int, int, Any]] = OrderedDict()

    def convert(self, signal: str, request: Any) -> Decoded:
        if signal == "traces":
            return self._traces(request)
        if signal == "metrics":
            return self._metrics(request)
        return self._logs(request)

    def _origin(self, resource: Any, scope: Any) -> Origin:
        return Origin(
            self._merge(_attrs(resource.attributes)),
            str(scope.name),
            str(scope.version),
            _attrs(scope.attributes),
        )

    # -- traces ---------------------------------------------------------------------------------

    def _traces(self, request: Any) -> Decoded:
        spans: list[SpanData] = []
        received = rejected = 0
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                origin = self._origin(rs.resource, ss.scope)
                for span in ss.spans:
                    received += 1
                    record = _span(span, origin)
                    if record is None:
                        rejected += 1
                    else:
                        spans.append(record)
        message = f"{rejected} spans without a valid trace id or span id" if rejected else ""
        return Decoded(Signals(spans=tuple(spans)), received, rejected, message)

    # -- logs -----------------------------------------------------------------------------------

    def _logs(self, request: Any) -> Decoded:
        logs: list[LogData] = []
        received = 0
        now = self._clock_ns()
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                origin = self._origin(rl.resource, sl.scope)
                for rec in sl.log_records:
                    received += 1
                    body = _value(rec.body) if rec.HasField("body") else None
                    logs.append(
                        LogData(
                            time_ns=int(rec.time_unix_nano),
                            observed_ns=int(rec.observed_time_unix_nano) or now,
                            severity_number=int(rec.severity_number),
                            severity_text=str(rec.severity_text),
                            body=body,
                            attributes=_attrs(rec.attributes),
                            trace_id=_id(rec.trace_id, 16),
                            span_id=_id(rec.span_id, 8),
                            sampled=bool(rec.flags & 1) or not rec.trace_id,
                            origin=origin,
                        )
                    )
        return Decoded(Signals(logs=tuple(logs)), received)

    # -- metrics --------------------------------------------------------------------------------

    def _metrics(self, request: Any) -> Decoded:
        out: list[Measurement] = []
        received = rejected = 0
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                origin = self._origin(rm.resource, sm.scope)
                for metric in sm.metrics:
                    n, bad = self._metric(metric, origin, out)
                    received += n
                    rejected += bad
        message = (
            f"{rejected} data points of exponential histograms or summaries (not supported)"
            if rejected
            else ""
        )
        return Decoded(Signals(metrics=tuple(out)), received, rejected, message)

    def _metric(self, metric: Any, origin: Origin, out: list[Measurement]) -> tuple[int, int]:
        which = metric.WhichOneof("data")
        name, unit, description = str(metric.name), str(metric.unit), str(metric.description)
        if which == "gauge":
            points = metric.gauge.data_points
            for p in points:
                if not p.flags & _NO_RECORDED_VALUE:
                    out.append(
                        Measurement(
                            name, MetricKind.GAUGE, _number(p), unit, int(p.time_unix_nano),
                            _attrs(p.attributes), description, origin, start_ns=int(p.start_time_unix_nano),
                        )
                    )  # fmt: skip
            return len(points), 0
        if which == "sum":
            points, s = metric.sum.data_points, metric.sum
            for p in points:
                if p.flags & _NO_RECORDED_VALUE:
                    continue
                attrs = _attrs(p.attributes)
                start, end, value = int(p.start_time_unix_nano), int(p.time_unix_nano), _number(p)
                if s.aggregation_temporality == _CUMULATIVE:
                    delta = self._delta(origin, name, attrs, start, end, value, bool(s.is_monotonic))
                    if delta is None:
                        continue
                    start, value = delta
                out.append(
                    Measurement(
                        name, MetricKind.COUNTER, value, unit, end, attrs, description, origin,
                        start_ns=start, monotonic=bool(s.is_monotonic),
                    )
                )  # fmt: skip
            return len(points), 0
        if which == "histogram":
            points, h = metric.histogram.data_points, metric.histogram
            for p in points:
                if p.flags & _NO_RECORDED_VALUE:
                    continue
                attrs = _attrs(p.attributes)
                start, end = int(p.start_time_unix_nano), int(p.time_unix_nano)
                hist = HistogramValue(
                    int(p.count),
                    float(p.sum) if p.HasField("sum") else 0.0,
                    tuple(float(b) for b in p.explicit_bounds),
                    tuple(int(c) for c in p.bucket_counts),
                    float(p.min) if p.HasField("min") else None,
                    float(p.max) if p.HasField("max") else None,
                )
                if len(hist.bucket_counts) != len(hist.bounds) + 1:
                    hist = HistogramValue(
                        hist.count, hist.total, (), (hist.count,), hist.minimum, hist.maximum
                    )
                if h.aggregation_temporality == _CUMULATIVE:
                    delta = self._delta(origin, name, attrs, start, end, hist, True)
                    if delta is None:
                        continue
                    start, hist = delta
                out.append(
                    Measurement(
                        name, MetricKind.HISTOGRAM, hist.total, unit, end, attrs, description, origin,
                        histogram=hist, start_ns=start,
                    )
                )  # fmt: skip
            return len(points), 0
        if which == "exponential_histogram":
            n = len(metric.exponential_histogram.data_points)
            return n, n
        if which == "summary":
            n = len(metric.summary.data_points)
            return n, n
        return 0, 0

    def _delta(
        self,
        origin: Origin,
        name: str,
        attrs: Mapping[str, AttrValue],
        start: int,
        end: int,
        value: Any,
        monotonic: bool,
    ) -> tuple[int, Any] | None:
        """(interval start, delta) of a cumulative point against the last one of its series; the
        first point of a series (or after a reset: a new start time, a monotonic value going
        down) counts whole from its start time. None for a point not newer than the last."""
        key = (
            _frozen(origin.resource.attributes),
            origin.scope_name,
            name,
            _frozen(attrs),
            type(value).__name__,
        )
        previous = self._cumulative.pop(key, None)
        self._cumulative[key] = (start, end, value)
        while len(self._cumulative) > MAX_CUMULATIVE_SERIES:
            self._cumulative.popitem(last=False)
        if previous is None or previous[0] != start:
            return start, value
        _, prev_end, prev_value = previous
        if end <= prev_end:
            return None
        if isinstance(value, HistogramValue):
            if value.bounds != prev_value.bounds or value.count < prev_value.count:
                return start, value
            return prev_end, HistogramValue(
                value.count - prev_value.count,
                value.total - prev_value.total,
                value.bounds,
                tuple(a - b for a, b in zip(value.bucket_counts, prev_value.bucket_counts, strict=False)),
            )
        if monotonic and value < prev_value:
            return start, value
        return prev_end, value - prev_value


def _number(point: Any) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else float(point.as_double)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


_KINDS = tuple(SpanKind)  # indexed by the OTLP number (0-5)
_CODES = tuple(StatusCode)  # 0-2


def _span(span: Any, origin: Origin) -> SpanData | None:
    """One span; None when its trace id or span id is not valid. The hot path of trace intake:
    each field of the protobuf message is read once (every read builds a Python object)."""
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or len(span_id) != 8 or trace_id == _ZERO16 or span_id == _ZERO8:
        return None
    parent = span.parent_span_id
    kind = span.kind
    status = span.status
    code = status.code
    events = span.events
    links = span.links
    return SpanData(
        trace_id,
        span_id,
        parent if len(parent) == 8 and parent != _ZERO8 else None,
        span.name,
        _KINDS[kind] if 0 <= kind <= 5 else SpanKind.UNSPECIFIED,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        _CODES[code] if 0 <= code <= 2 else StatusCode.UNSET,
        status.message,
        _attrs(span.attributes),
        tuple(SpanEvent(e.name, e.time_unix_nano, _attrs(e.attributes)) for e in events) if events else (),
        tuple(
            SpanLink(link.trace_id, link.span_id, _attrs(link.attributes))
            for link in links
            if _id(link.trace_id, 16) and _id(link.span_id, 8)
        )
        if links
        else (),
        True,
        origin,
        span.trace_state,
    )
