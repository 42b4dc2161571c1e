"""Telemetry as Lambda Managed Instances sends it: schema 2025-01-29, no platform.runtimeDone, a
platform.report with only `durationMs` plus responseLatency/responseDuration spans, and the
events of concurrent invocations interleaved (correlated by requestId only).

The events are built from the Telemetry API schema reference
(https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html) and the record
shapes AWS's runtime interface emulator emits in its managed-instances mode.
"""

from __future__ import annotations

import itertools
from typing import Any

from extension.processors.processor import TelemetryProcessor
from extension.signals import Resource, Signals, SpanData, SpanKind, StatusCode
from extension.stats import Stats
from tests.unit.processors.helpers import FN, NOW, ev, events, metric_values, settings

MS = 1_000_000
INIT_TYPE = "lambda-managed-instances"
A, B, C = (f"{n}1111111-2222-4333-8444-55555555555{n}" for n in (1, 2, 3))
ROOTS = {
    A: "1-67a1b2c3-0123456789abcdef0123456a",
    B: "1-67a1b2c3-0123456789abcdef0123456b",
    C: "1-67a1b2c3-0123456789abcdef0123456c",
}
SPAN_IDS = {A: "a1a1a1a1a1a1a1a1", B: "b2b2b2b2b2b2b2b2", C: "c3c3c3c3c3c3c3c3"}


def managed_processor(stats: Stats | None = None, *, concurrent: bool = True) -> TelemetryProcessor:
    counter = itertools.count(1)
    return TelemetryProcessor(
        settings(AWS_LAMBDA_INITIALIZATION_TYPE=INIT_TYPE),
        Resource({"service.name": FN}),
        stats or Stats(),
        clock=lambda: NOW,
        id_generator=lambda size: next(counter).to_bytes(size, "big"),
        concurrent_invocations=concurrent,
    )


def tracing(rid: str) -> dict[str, str]:
    return {
        "spanId": SPAN_IDS[rid],
        "type": "X-Amzn-Trace-Id",
        "value": f"Root={ROOTS[rid]};Parent=89abcdef01234567;Sampled=1",
    }


def at(ms: int) -> str:
    """2026-03-01T10:15:30.000Z plus `ms` milliseconds."""
    return f"2026-03-01T10:15:{30 + ms // 1000:02d}.{ms % 1000:03d}Z"


T0_NS = 1772360130000 * MS


def start(rid: str, ms: int) -> dict[str, Any]:
    record = {
        "requestId": rid,
        "version": "$LATEST",
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
        "tracing": tracing(rid),
    }
    return ev("platform.start", at(ms), record)


def report(rid: str, ms: int, duration_ms: float, status: str = "success", **extra: Any) -> dict[str, Any]:
    begin = ms - int(duration_ms)
    record = {
        "requestId": rid,
        "status": status,
        "metrics": {"durationMs": duration_ms},
        "spans": [
            {"name": "responseLatency", "start": at(begin), "durationMs": duration_ms - 1.0},
            {"name": "responseDuration", "start": at(ms - 1), "durationMs": 0.5},
        ],
        "tracing": tracing(rid),
        **extra,
    }
    return ev("platform.report", at(ms), record)


def line(rid: str | None, ms: int, message: str) -> dict[str, Any]:
    """A function record in the JSON log format (the default on Managed Instances)."""
    record: dict[str, Any] = {"timestamp": at(ms), "level": "INFO", "message": message}
    if rid is not None:
        record["requestId"] = rid
    return ev("function", at(ms), record)


INIT = [
    ev(
        "platform.initStart",
        at(0),
        {
            "initializationType": INIT_TYPE,
            "phase": "init",
            "functionName": FN,
            "functionVersion": "$LATEST",
            "instanceMaxMemory": 3154116608,
        },
    ),
    ev(
        "platform.initRuntimeDone",
        at(80),
        {"initializationType": INIT_TYPE, "phase": "init", "status": "success"},
    ),
    ev("platform.extension", at(80), {"name": "lambda-sidecar", "state": "Ready", "events": ["SHUTDOWN"]}),
    ev(
        "platform.initReport",
        at(80),
        {
            "initializationType": INIT_TYPE,
            "phase": "init",
            "status": "success",
            "metrics": {"durationMs": 80.0},
        },
    ),
]

#: Three invocations in flight at once, their events interleaved and split across two batches.
FIRST_BATCH = [
    start(A, 100),
    start(B, 105),
    line(A, 110, "a: charging"),
    start(C, 120),
    line(B, 130, "b: failing"),
]
SECOND_BATCH = [
    report(B, 140, 35.0, status="error", errorType="Function.UnhandledError"),
    line(A, 150, "a: charged"),
    report(A, 160, 60.0),
    line(C, 170, "c: done"),
    report(C, 180, 60.0),
]


def invocation_spans(out: Signals) -> dict[str, SpanData]:
    return {
        str(s.attributes["faas.invocation_id"]): s
        for s in out.spans
        if s.kind is SpanKind.SERVER and "faas.invocation_id" in s.attributes
    }


def run_interleaved(stats: Stats | None = None) -> tuple[Signals, Signals, Signals]:
    proc = managed_processor(stats)
    return (
        proc.process(events(INIT)),
        proc.process(events(FIRST_BATCH)),
        proc.process(events(SECOND_BATCH)),
    )


def test_each_interleaved_invocation_gets_its_own_span_at_its_report() -> None:
    _, first, second = run_interleaved()
    assert invocation_spans(first) == {}  # nothing is final before a report
    spans = invocation_spans(second)
    assert set(spans) == {A, B, C}
    for rid, span in spans.items():
        assert span.trace_id.hex() == ROOTS[rid][2:].replace("-", "")
        assert span.span_id.hex() == SPAN_IDS[rid]
        assert span.name == f"invoke {FN}"
    assert spans[A].start_ns == T0_NS + 100 * MS and spans[A].end_ns == T0_NS + 160 * MS
    assert spans[B].start_ns == T0_NS + 105 * MS and spans[B].end_ns == T0_NS + 140 * MS
    assert spans[A].status is StatusCode.OK and spans[C].status is StatusCode.OK
    assert spans[B].status is StatusCode.ERROR
    assert spans[B].attributes["error.type"] == "Function.UnhandledError"
    assert spans[A].attributes["aws.lambda.duration_ms"] == 60.0


def test_response_spans_are_children_and_nothing_runtimedone_is_made_up() -> None:
    _, _, second = run_interleaved()
    spans = invocation_spans(second)
    for rid, parent in spans.items():
        children = sorted(s.name for s in second.spans if s.parent_span_id == parent.span_id)
        assert children == ["responseDuration", "responseLatency"], rid
        for absent in (
            "aws.lambda.runtime_duration_ms",
            "aws.lambda.produced_bytes",
            "aws.lambda.billed_duration_ms",
            "aws.lambda.max_memory_used_mb",
            "faas.max_memory",
        ):
            assert absent not in parent.attributes
    names = {s.name for s in second.spans}
    assert "runtimeOverhead" not in names and "extensionOverhead" not in names


def test_metrics_are_counted_once_from_the_report_and_none_are_invented() -> None:
    init, first, second = run_interleaved()
    assert metric_values(init, "faas.coldstarts") == [1]
    assert metric_values(init, "faas.init_duration") == [80.0]
    assert metric_values(first, "faas.invocations") == []
    assert metric_values(second, "faas.invocations") == [1, 1, 1]
    assert sorted(metric_values(second, "faas.invoke_duration")) == [35.0, 60.0, 60.0]
    (error,) = [m for m in second.metrics if m.name == "faas.errors"]
    assert error.attributes["error.type"] == "Function.UnhandledError"
    produced = {m.name for m in (*init.metrics, *first.metrics, *second.metrics)}
    for invented in (
        "aws.lambda.billed_duration",
        "faas.mem_usage",
        "aws.lambda.memory_utilization",
        "aws.lambda.response_size",
        "aws.lambda.extension_overhead",
        "faas.timeouts",
    ):
        assert invented not in produced


def test_logs_follow_their_own_request_across_batches() -> None:
    _, first, second = run_interleaved()
    spans = invocation_spans(second)
    logs = {str(log.body): log for log in (*first.logs, *second.logs)}
    for message, rid in (("a: charging", A), ("b: failing", B), ("a: charged", A), ("c: done", C)):
        log = logs[message]
        assert log.attributes["faas.invocation_id"] == rid
        assert (log.trace_id, log.span_id) == (spans[rid].trace_id, spans[rid].span_id), message


def test_a_line_naming_no_request_is_not_guessed_when_invocations_overlap() -> None:
    batch = events([start(A, 100), start(B, 105), line(None, 110, "whose line?")])
    (concurrent,) = managed_processor().process(batch).logs
    assert concurrent.trace_id is None and "faas.invocation_id" not in concurrent.attributes
    # One invocation at a time (the classic environment), the latest platform.start owns it.
    (classic,) = managed_processor(concurrent=False).process(batch).logs
    assert classic.attributes["faas.invocation_id"] == B


def test_init_phase_span_carries_the_managed_instances_type() -> None:
    init, _, _ = run_interleaved()
    (span,) = [s for s in init.spans if s.name == f"init {FN}"]
    assert span.attributes["aws.lambda.initialization_type"] == INIT_TYPE
    assert span.status is StatusCode.OK


def test_shutdown_closes_invocations_still_in_flight() -> None:
    stats = Stats()
    proc = managed_processor(stats)
    proc.process(events([start(A, 100), start(B, 105), report(A, 160, 60.0)]))
    spindown = proc.on_shutdown("spindown", NOW)
    assert invocation_spans(spindown) == {}  # outcome unknown: counted, not made up
    assert stats.counters[("invocation_events_missing", "spindown")] == 1

    proc = managed_processor()
    proc.process(events([start(A, 100), start(B, 105), report(A, 160, 60.0)]))
    failure = proc.on_shutdown("failure", NOW)
    (span,) = invocation_spans(failure).values()
    assert span.attributes["faas.invocation_id"] == B and span.status is StatusCode.ERROR
    assert metric_values(failure, "faas.invocations") == [1]
