"""Realistic signal records for exporter tests (what the processors produce for one invoke)."""

from __future__ import annotations

from extension.signals import (
    LogData,
    Measurement,
    MetricKind,
    Resource,
    Signals,
    SpanData,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)

T0 = 1_700_000_000_000_000_000
TRACE_ID = bytes.fromhex("5759e988bd862e3fe1be46a994272793")
SPAN_ID = bytes.fromhex("53995c3f42cd8ad8")
PARENT_ID = bytes.fromhex("1122334455667788")

RESOURCE = Resource(
    {
        "service.name": "my-function",
        "faas.name": "my-function",
        "cloud.provider": "aws",
        "cloud.region": "us-east-1",
        "faas.max_memory": 134217728,
    }
)


def span(i: int = 0, status: StatusCode = StatusCode.UNSET) -> SpanData:
    return SpanData(
        trace_id=TRACE_ID,
        span_id=(int.from_bytes(SPAN_ID, "big") + i).to_bytes(8, "big"),
        parent_span_id=PARENT_ID,
        name=f"my-function invoke {i}",
        kind=SpanKind.SERVER,
        start_ns=T0 + i * 1_000_000,
        end_ns=T0 + i * 1_000_000 + 500_000,
        status=status,
        status_message="boom" if status is StatusCode.ERROR else "",
        attributes={
            "faas.invocation_id": f"req-{i}",
            "faas.coldstart": i == 0,
            "aws.lambda.billed_duration_ms": 2,
            "ratio": 0.5,
            "tags": ["a", "b", 3],
            "nested": {"k": "v", "n": [1, {"deep": True}]},
        },
        events=(SpanEvent("exception", T0 + 100, {"exception.type": "ValueError"}),),
        links=(SpanLink(TRACE_ID, PARENT_ID, {"link.kind": "init"}),),
    )


def log(i: int = 0, body: object = None) -> LogData:
    return LogData(
        time_ns=T0 + i,
        observed_ns=T0 + i + 10,
        severity_number=9,
        severity_text="INFO",
        body=body if body is not None else f"line {i}",
        attributes={"faas.invocation_id": f"req-{i}", "log.source": "function"},
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
    )


def measurement(
    name: str,
    value: float,
    kind: MetricKind = MetricKind.HISTOGRAM,
    unit: str = "ms",
    t: int = 0,
    **attrs: object,
) -> Measurement:
    return Measurement(name, kind, value, unit, T0 + t, dict(attrs))  # type: ignore[arg-type]


def signals(n_spans: int = 2, n_logs: int = 3, n_metrics: int = 4) -> Signals:
    metrics = tuple(
        measurement("faas.duration", 10.0 * (i + 1), t=i, **{"faas.trigger": "http"})
        for i in range(n_metrics)
    )
    return Signals(
        spans=tuple(span(i) for i in range(n_spans)),
        logs=tuple(log(i) for i in range(n_logs)),
        metrics=metrics,
        raw_events=tuple(
            {"time": "2024-01-01T00:00:00.000Z", "type": "function", "record": f"raw {i}"} for i in range(2)
        ),
    )
