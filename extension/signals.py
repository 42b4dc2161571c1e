"""The signal types that flow from processors to exporters.

They are our own small frozen records rather than the OpenTelemetry SDK's objects: processors
stay pure and cheap to import, every exporter (OTLP, HTTP JSON, EMF, file) converts from one
stable shape, and the OTLP exporter encodes them straight into `opentelemetry.proto` messages.
Only the standard library is imported here, so the fast start-up path may import it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

#: An attribute value as OTLP allows it (nested lists/maps become array/kvlist values).
AttrValue: TypeAlias = str | bool | int | float | list[Any] | dict[str, Any] | None
Attributes: TypeAlias = Mapping[str, AttrValue]

#: The default of every `attributes` field: one shared empty mapping, never mutated (the type is
#: read-only `Mapping`).
_NO_ATTRIBUTES: Attributes = {}


class SpanKind(enum.IntEnum):
    """OTLP `Span.SpanKind` numbers, so encoding is a plain int conversion."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    """OTLP `Status.StatusCode` numbers."""

    UNSET = 0
    OK = 1
    ERROR = 2


class MetricKind(enum.Enum):
    """How an exporter aggregates a measurement: counters sum, histograms bucket, gauges keep the last."""

    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


class Resource(NamedTuple):
    """An OTel resource: ours (shared by every platform record of this execution environment),
    or one the function's SDK sent with its own records (see `Origin`)."""

    attributes: Attributes


class Origin:
    """Where a record received from the function's own SDK came from: its resource (ours merged
    in for what it lacks) and instrumentation scope. Records without one are our own and use the
    destination's resource and our scope. Compared by identity (a plain class, not a tuple): the
    records of one request share one Origin, and encoders group by it."""

    __slots__ = ("resource", "scope_attributes", "scope_name", "scope_version")

    def __init__(
        self,
        resource: Resource,
        scope_name: str = "",
        scope_version: str = "",
        scope_attributes: Attributes = _NO_ATTRIBUTES,
    ) -> None:
        self.resource = resource
        self.scope_name = scope_name
        self.scope_version = scope_version
        self.scope_attributes = scope_attributes


class HistogramValue:
    """A histogram point the function's SDK already aggregated (OTLP HistogramDataPoint, delta).
    A plain class: a tuple's own `count` method would shadow the field."""

    __slots__ = ("bounds", "bucket_counts", "count", "maximum", "minimum", "total")

    def __init__(
        self,
        count: int,
        total: float,
        bounds: tuple[float, ...],
        bucket_counts: tuple[int, ...],
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        self.count = count
        self.total = total
        self.bounds = bounds
        self.bucket_counts = bucket_counts
        self.minimum = minimum
        self.maximum = maximum

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HistogramValue) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __hash__(self) -> int:
        return hash((self.count, self.total, self.bounds, self.bucket_counts))


class SpanEvent(NamedTuple):
    name: str
    time_ns: int
    attributes: Attributes = _NO_ATTRIBUTES


class SpanLink(NamedTuple):
    trace_id: bytes
    span_id: bytes
    attributes: Attributes = _NO_ATTRIBUTES


class SpanData(NamedTuple):
    """One finished span. Ids are raw bytes (16 for traces, 8 for spans) as OTLP carries them."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    status: StatusCode = StatusCode.UNSET
    status_message: str = ""
    attributes: Attributes = _NO_ATTRIBUTES
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()
    sampled: bool = True
    origin: Origin | None = None
    trace_state: str = ""


class LogData(NamedTuple):
    """One log record. `body` is a string, or a mapping for structured (JSON) records."""

    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: AttrValue
    attributes: Attributes = _NO_ATTRIBUTES
    trace_id: bytes | None = None
    span_id: bytes | None = None
    sampled: bool = True
    origin: Origin | None = None


class Measurement(NamedTuple):
    """One raw measurement. Exporters aggregate (OTLP: delta sums/histograms per flush; EMF: per line)."""

    name: str
    kind: MetricKind
    value: float
    unit: str
    time_ns: int
    attributes: Attributes = _NO_ATTRIBUTES
    description: str = ""
    origin: Origin | None = None
    #: Set for a histogram the function's SDK aggregated; `value` is then its sum.
    histogram: HistogramValue | None = None
    #: Start of the point's interval (received points); 0: the measurement's own time.
    start_ns: int = 0
    #: A received non-monotonic sum (UpDownCounter) is exported as a sum, not a counter.
    monotonic: bool = True


@dataclass(frozen=True, slots=True)
class Signals:
    """What one processing step produced. `raw_events` keeps the Telemetry API events as received
    (JSON-ready dicts) for destinations that want them unconverted (HTTP JSON in `raw` mode)."""

    spans: tuple[SpanData, ...] = ()
    logs: tuple[LogData, ...] = ()
    metrics: tuple[Measurement, ...] = ()
    raw_events: tuple[Mapping[str, Any], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.spans or self.logs or self.metrics or self.raw_events)

    def __add__(self, other: Signals) -> Signals:
        return Signals(
            self.spans + other.spans,
            self.logs + other.logs,
            self.metrics + other.metrics,
            self.raw_events + other.raw_events,
        )
