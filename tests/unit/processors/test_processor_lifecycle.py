"""State across batches and lifecycle events: INVOKE, late reports, shutdown synthesis, bounds."""

from __future__ import annotations

from extension.processors.xray import derived_id
from extension.signals import MetricKind, StatusCode
from extension.stats import Stats
from tests.unit.processors.helpers import FN, NOW, ev, events, metric_values, processor, span_named

MS = 1_000_000
RID = "0f3c9a62-8b1e-4f0e-9c55-3d2a8e7b41c9"
HEADER = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=1"
T0 = "2026-03-01T10:15:30.100Z"
T0_NS = 1772360130100 * MS


def start(rid: str = RID, tracing: dict[str, str] | None = None) -> dict[str, object]:
    record: dict[str, object] = {"requestId": rid, "version": "$LATEST"}
    if tracing is not None:
        record["tracing"] = tracing
    return ev("platform.start", T0, record)


def runtime_done(rid: str = RID, status: str = "success", **extra: object) -> dict[str, object]:
    record = {
        "requestId": rid,
        "status": status,
        "metrics": {"durationMs": 370.0, "producedBytes": 57},
        **extra,
    }
    return ev("platform.runtimeDone", "2026-03-01T10:15:30.480Z", record)


def report(rid: str = RID, status: str = "success", **extra: object) -> dict[str, object]:
    metrics = {"durationMs": 411.72, "billedDurationMs": 412, "memorySizeMB": 512, "maxMemoryUsedMB": 97}
    record = {"requestId": rid, "status": status, "metrics": metrics, **extra}
    return ev("platform.report", "2026-03-01T10:15:30.512Z", record)


def test_span_waits_for_the_report_of_the_next_thaw() -> None:
    proc = processor()
    proc.on_invoke(RID, 1772360135000, HEADER, T0_NS)
    log_line = f"[INFO]\t2026-03-01T10:15:30.200Z\t{RID}\tcharged order 42\n"
    first = proc.process(events([start(), ev("function", T0, log_line), runtime_done()]))
    assert first.spans == ()
    assert metric_values(first, "faas.invocations") == [1]  # outcome known at runtimeDone
    (log,) = first.logs
    assert log.trace_id is not None and log.trace_id.hex() == "67a1b2c30123456789abcdef01234567"
    second = proc.process(events([report()]))
    span = span_named(second, f"invoke {FN}")
    assert (span.trace_id, span.span_id) == (log.trace_id, log.span_id)
    assert span.parent_span_id is not None and span.parent_span_id.hex() == "89abcdef01234567"
    assert span.start_ns == T0_NS and span.status is StatusCode.OK
    assert metric_values(second, "faas.invocations") == []  # not counted twice
    assert metric_values(second, "aws.lambda.billed_duration") == [412]


def test_shutdown_timeout_synthesises_error_span_at_deadline() -> None:
    proc = processor()
    deadline_ms = 1772360135000
    proc.on_invoke(RID, deadline_ms, HEADER, T0_NS)
    out = proc.on_shutdown("timeout", NOW)
    span = span_named(out, f"invoke {FN}")
    assert span.status is StatusCode.ERROR
    assert span.attributes["error.type"] == "Sandbox.Timedout"
    assert span.attributes["lambda_sidecar.synthetic"] is True
    assert (span.start_ns, span.end_ns) == (T0_NS, deadline_ms * MS)
    assert span.trace_id.hex() == "67a1b2c30123456789abcdef01234567"
    assert metric_values(out, "faas.timeouts") == [1]
    assert metric_values(out, "faas.errors") == [1]
    assert metric_values(out, "faas.invocations") == [1]
    (log,) = out.logs
    assert log.severity_text == "ERROR" and log.trace_id == span.trace_id


def test_shutdown_failure_synthesises_crash_span_ending_now() -> None:
    proc = processor()
    proc.on_invoke(RID, 1772360135000, None, T0_NS - 5 * MS)
    proc.process(events([start()]))
    out = proc.on_shutdown("failure", NOW)
    span = span_named(out, f"invoke {FN}")
    assert span.attributes["error.type"] == "Runtime.Crash"
    assert (span.start_ns, span.end_ns) == (T0_NS, NOW)  # platform.start beats the INVOKE arrival time
    assert metric_values(out, "faas.timeouts") == []
    assert metric_values(out, "faas.errors") == [1]


def test_shutdown_with_runtime_done_but_no_report_emits_the_real_span() -> None:
    proc = processor()
    proc.process(events([start(), runtime_done()]))
    out = proc.on_shutdown("spindown", NOW)
    span = span_named(out, f"invoke {FN}")
    assert span.status is StatusCode.OK and "lambda_sidecar.synthetic" not in span.attributes
    assert span.end_ns == 1772360130480 * MS
    assert metric_values(out, "faas.invocations") == []  # already counted at runtimeDone


def test_late_report_after_synthetic_span_is_ignored_and_counted() -> None:
    stats = Stats()
    proc = processor(stats)
    proc.on_invoke(RID, 0, None, T0_NS)
    assert len(proc.on_shutdown("timeout", NOW).spans) == 1
    late = proc.process(events([report(status="timeout")]))
    assert late.spans == () and metric_values(late, "faas.invocations") == []
    assert stats.get("telemetry_events_late") == 1


def test_runtime_done_error_status_gives_error_span_and_metrics() -> None:
    proc = processor()
    batch = [start(), runtime_done(status="error", errorType="Runtime.ExitError"), report(status="error")]
    out = proc.process(events(batch))
    span = span_named(out, f"invoke {FN}")
    assert span.status is StatusCode.ERROR and span.attributes["error.type"] == "Runtime.ExitError"
    errors = [m for m in out.metrics if m.name == "faas.errors"]
    assert [m.attributes["error.type"] for m in errors] == ["Runtime.ExitError"]
    assert metric_values(out, "faas.timeouts") == []


def test_without_xray_header_ids_are_derived_from_the_request_id() -> None:
    proc = processor()
    out = proc.process(events([start(), ev("function", T0, "hello\n"), runtime_done(), report()]))
    span = span_named(out, f"invoke {FN}")
    assert span.trace_id == derived_id(RID, 16, b"lsc-trace") and span.parent_span_id is None
    assert out.logs[0].trace_id == span.trace_id and out.logs[0].span_id == span.span_id
    assert out.logs[0].attributes["faas.invocation_id"] == RID  # current invocation, no id in the line


def test_unsampled_header_propagates_to_span_and_logs() -> None:
    proc = processor()
    proc.on_invoke(RID, 0, HEADER.replace("Sampled=1", "Sampled=0"), T0_NS)
    out = proc.process(events([start(), ev("function", T0, "x"), runtime_done(), report()]))
    assert span_named(out, f"invoke {FN}").sampled is False
    assert out.logs[0].sampled is False


def test_only_the_first_invocation_is_a_cold_start() -> None:
    proc = processor()
    first = proc.process(events([start("a"), runtime_done("a"), report("a")]))
    second = proc.process(events([start("b"), runtime_done("b"), report("b")]))
    assert span_named(first, f"invoke {FN}").attributes["faas.coldstart"] is True
    assert span_named(second, f"invoke {FN}").attributes["faas.coldstart"] is False


def test_open_invocations_are_bounded() -> None:
    stats = Stats()
    proc = processor(stats)
    proc._table._max_open = 2  # small bound for the test
    for rid in ("a", "b", "c"):
        proc.on_invoke(rid, 0, None, T0_NS)
    assert stats.get("dropped", "invocation_state_evicted") == 1
    assert len(proc.on_shutdown("failure", NOW).spans) == 2


def test_spindown_counts_unreported_invocations_instead_of_inventing_errors() -> None:
    stats = Stats()
    proc = processor(stats)
    proc.on_invoke("lost", 0, None, T0_NS)
    out = proc.on_shutdown("spindown", NOW)
    assert out.spans == ()
    assert stats.get("invocation_events_missing", "spindown") == 1


def test_span_events_style() -> None:
    proc = processor(SIDECAR_SPAN_STYLE="events")
    spans = [{"name": "responseLatency", "start": T0, "durationMs": 371.4}]
    overhead = [{"name": "extensionOverhead", "start": "2026-03-01T10:15:30.480Z", "durationMs": 31.9}]
    out = proc.process(events([start(), runtime_done(spans=spans), report(spans=overhead)]))
    (span,) = out.spans
    assert [(e.name, e.time_ns) for e in span.events] == [
        ("responseLatency", T0_NS),
        ("extensionOverhead", 1772360130480 * MS),
    ]
    assert metric_values(out, "aws.lambda.extension_overhead") == [31.9]


def test_extension_overhead_child_span_from_report() -> None:
    overhead = [{"name": "extensionOverhead", "start": "2026-03-01T10:15:30.480Z", "durationMs": 31.9}]
    out = processor().process(events([start(), runtime_done(), report(spans=overhead)]))
    child = span_named(out, "extensionOverhead")
    assert child.parent_span_id == span_named(out, f"invoke {FN}").span_id
    assert child.end_ns - child.start_ns == 31_900_000


def test_switches_disable_signals_but_keep_raw_events() -> None:
    batch = events([start(), ev("function", T0, "hello"), runtime_done(), report()])
    no_spans = processor(SIDECAR_SPANS_ENABLED="false").process(batch)
    assert no_spans.spans == () and no_spans.metrics and no_spans.logs
    no_metrics = processor(OTEL_METRICS_EXPORTER="none")
    out = no_metrics.process(batch)
    assert out.metrics == () and out.spans
    no_metrics._stats.add("received", 5)
    assert no_metrics.health_metrics(NOW) == ()
    no_logs = processor(SIDECAR_LOGS_ENABLED="false").process(batch)
    assert no_logs.logs == () and len(no_logs.raw_events) == 4


def test_health_metrics_are_deltas() -> None:
    stats = Stats()
    proc = processor(stats)
    stats.add("received", 10)
    stats.dropped("queue_full", 3)
    first = {(m.name, tuple(m.attributes.items())): m.value for m in proc.health_metrics(NOW)}
    assert first == {
        ("lambda_sidecar.received", ()): 10,
        ("lambda_sidecar.dropped", (("reason", "queue_full"),)): 3,
    }
    assert proc.health_metrics(NOW) == ()
    stats.add("received", 2)
    (again,) = proc.health_metrics(NOW)
    assert (again.name, again.value, again.kind) == ("lambda_sidecar.received", 2, MetricKind.COUNTER)


def test_unknown_event_type_passes_through_as_log() -> None:
    out = processor().process(events([ev("platform.somethingNew", T0, {"answer": 42})]))
    (log,) = out.logs
    assert log.body == {"answer": 42} and log.attributes["telemetry.event.type"] == "platform.somethingNew"
    assert len(out.raw_events) == 1


def test_platform_lines_render_cloudwatch_style() -> None:
    proc = processor(SIDECAR_PLATFORM_LOGS="true")
    out = proc.process(events([start(), runtime_done(), report(status="timeout")]))
    bodies = [log.body for log in out.logs]
    assert bodies == [
        f"START RequestId: {RID} Version: $LATEST",
        f"END RequestId: {RID}",
        f"REPORT RequestId: {RID}\tDuration: 411.72 ms\tBilled Duration: 412 ms\tMemory Size: 512 MB"
        "\tMax Memory Used: 97 MB\tStatus: timeout",
    ]
    assert [log.severity_text for log in out.logs] == ["INFO", "INFO", "ERROR"]
    assert all(log.attributes["log.source"] == "platform" for log in out.logs)
    assert processor().process(events([start()])).logs == ()  # off by default


def test_provisioned_concurrency_init_type_and_open_init_closed_at_shutdown() -> None:
    proc = processor(AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency")
    init_start = ev(
        "platform.initStart", T0, {"initializationType": "provisioned-concurrency", "phase": "init"}
    )
    done = ev("platform.initRuntimeDone", "2026-03-01T10:15:30.300Z", {"status": "success"})
    assert proc.process(events([init_start, done])).spans == ()  # waits for initReport
    out = proc.on_shutdown("spindown", NOW)
    span = span_named(out, f"init {FN}")
    assert span.attributes["aws.lambda.initialization_type"] == "provisioned-concurrency"
    assert span.status is StatusCode.OK  # the runtime said success; only the report is missing
    assert (span.start_ns, span.end_ns) == (T0_NS, 1772360130300 * MS)


def test_failed_init_report_gives_error_span_and_init_error_metric() -> None:
    proc = processor()
    batch = [
        ev("platform.initStart", T0, {"initializationType": "on-demand", "phase": "init"}),
        ev("platform.initRuntimeDone", T0, {"status": "error", "errorType": "Runtime.ExitError"}),
        ev(
            "platform.initReport",
            "2026-03-01T10:15:30.600Z",
            {"status": "error", "metrics": {"durationMs": 500}},
        ),
    ]
    out = proc.process(events(batch))
    span = span_named(out, f"init {FN}")
    assert span.status is StatusCode.ERROR and span.attributes["error.type"] == "Runtime.ExitError"
    errors = [m for m in out.metrics if m.name == "aws.lambda.init_errors"]
    assert [m.attributes["error.type"] for m in errors] == ["Runtime.ExitError"]  # from initRuntimeDone
    assert metric_values(out, "faas.init_duration") == [500]


def test_restore_span_is_linked_from_the_first_invocation() -> None:
    proc = processor()
    restore = proc.process(
        events(
            [
                ev("platform.restoreStart", T0, {"functionName": FN}),
                ev("platform.restoreReport", T0, {"status": "success", "metrics": {"durationMs": 15.2}}),
            ]
        )
    )
    restore_span = span_named(restore, f"restore {FN}")
    out = proc.process(events([start(), runtime_done(), report()]))
    (link,) = span_named(out, f"invoke {FN}").links
    assert (link.trace_id, link.span_id) == (restore_span.trace_id, restore_span.span_id)
    later = proc.process(events([start("b"), runtime_done("b"), report("b")]))
    assert span_named(later, f"invoke {FN}").links == ()
