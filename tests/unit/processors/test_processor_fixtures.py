"""Every Telemetry API fixture through the processor, with concrete expectations per capture."""

from __future__ import annotations

import pytest

from extension.signals import MetricKind, SpanKind, StatusCode
from extension.stats import Stats
from tests.unit.processors.helpers import (
    FN,
    NOW,
    fixture_events,
    metric_values,
    processor,
    span_named,
)
from tests.unit.telemetry_api.fixture_data import FIXTURE_NAMES

MS = 1_000_000
MIB = 1024 * 1024


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_processes_and_shuts_down(name: str) -> None:
    stats = Stats()
    proc = processor(stats, SIDECAR_PLATFORM_LOGS="true")
    evs = fixture_events(name)
    out = proc.process(evs)
    assert out.raw_events == tuple(e.raw for e in evs)
    assert stats.get("processing_errors") == 0
    for span in out.spans:
        assert len(span.trace_id) == 16 and len(span.span_id) == 8 and span.end_ns >= span.start_ns
    for log in out.logs:
        assert log.time_ns > 0 and isinstance(log.body, str | dict)
    for m in out.metrics:
        assert "faas.invocation_id" not in m.attributes
    proc.on_shutdown("spindown", NOW)
    assert proc.on_shutdown("spindown", NOW).spans == ()  # idempotent


def test_cold_start_success() -> None:
    out = processor().process(fixture_events("cold-start-success.json"))
    span = span_named(out, f"invoke {FN}")
    assert span.kind is SpanKind.SERVER
    assert span.trace_id.hex() == "6352a70e1e2c502e358361800241fd45"
    assert span.parent_span_id is not None and span.parent_span_id.hex() == "35465b3a9e2f7c6a"
    assert span.span_id.hex() == "24cd7d670fa455f0"
    assert span.sampled is True
    assert span.status is StatusCode.OK
    assert span.end_ns - span.start_ns == 2601 * MS  # platform.start -> platform.report times
    attrs = span.attributes
    assert attrs["faas.invocation_id"] == "459921b5-681c-4a96-beb0-81e0aa586026"
    assert attrs["faas.coldstart"] is True
    assert attrs["faas.max_memory"] == 128 * MIB
    assert attrs["aws.lambda.billed_duration_ms"] == 2600
    children = {s.name: s for s in out.spans if s.parent_span_id == span.span_id}
    assert set(children) == {"responseLatency", "responseDuration"}
    latency = children["responseLatency"]
    assert latency.trace_id == span.trace_id and latency.end_ns - latency.start_ns == 2598 * MS
    assert metric_values(out, "faas.coldstarts") == [1]
    assert metric_values(out, "faas.init_duration") == [549.04]
    assert metric_values(out, "faas.invocations") == [1]
    assert metric_values(out, "faas.invoke_duration") == [2599.0]
    assert metric_values(out, "aws.lambda.billed_duration") == [2600]
    assert metric_values(out, "faas.mem_usage") == [94 * MIB]
    assert metric_values(out, "aws.lambda.memory_utilization") == [94 / 128]
    assert metric_values(out, "aws.lambda.response_size") == [8]
    assert metric_values(out, "faas.errors") == []
    kinds = {m.name: m.kind for m in out.metrics}
    assert (
        kinds["faas.invoke_duration"] is MetricKind.HISTOGRAM
        and kinds["faas.invocations"] is MetricKind.COUNTER
    )


def test_timeout_gives_error_span_with_fallback_start() -> None:
    out = processor().process(fixture_events("timeout.json"))
    span = span_named(out, f"invoke {FN}")
    assert span.status is StatusCode.ERROR
    assert span.attributes["error.type"] == "Sandbox.Timedout"
    assert span.attributes.get("lambda_sidecar.synthetic") is None  # a real span, not made up
    done, report = fixture_events("timeout.json")
    assert done.time_ns is not None and report.time_ns is not None
    # No platform.start in the capture: start = runtimeDone.time - runtimeDone.durationMs.
    assert span.start_ns == done.time_ns - 5001_182_000
    assert span.end_ns == report.time_ns
    assert metric_values(out, "faas.timeouts") == [1]
    assert metric_values(out, "faas.errors") == [1]
    assert [m.attributes["error.type"] for m in out.metrics if m.name == "faas.errors"] == [
        "Sandbox.Timedout"
    ]


def test_report_alone_falls_back_to_report_time_minus_duration() -> None:
    (_, report) = fixture_events("timeout.json")
    out = processor().process((report,))
    span = span_named(out, f"invoke {FN}")
    assert report.time_ns is not None
    assert (span.start_ns, span.end_ns) == (report.time_ns - 5000 * MS, report.time_ns)
    assert metric_values(out, "faas.invocations") == [1]  # outcome counted at report when no runtimeDone
    assert metric_values(out, "faas.timeouts") == [1]


def test_init_success_gives_init_span_and_duration() -> None:
    out = processor().process(fixture_events("init-success.json"))
    span = span_named(out, f"init {FN}")
    assert span.status is StatusCode.OK
    assert span.attributes["faas.coldstart"] is True
    assert span.attributes["aws.lambda.initialization_type"] == "on-demand"
    assert span.end_ns - span.start_ns == 500 * MS
    assert metric_values(out, "faas.coldstarts") == [1]
    assert metric_values(out, "faas.init_duration") == [500.0]


def test_init_error_suppressed_gives_failed_init_span() -> None:
    proc = processor()
    out = proc.process(fixture_events("init-error-suppressed.json"))
    span = span_named(out, f"init {FN}")
    assert span.status is StatusCode.ERROR
    assert span.attributes["aws.lambda.init.phase"] == "init"
    assert "error.type" in span.attributes
    assert metric_values(out, "faas.coldstarts") == [1]  # the re-run is the same cold start
    (log,) = out.logs
    assert log.severity_text == "ERROR" and str(log.body).startswith("Uncaught Exception")
    assert "faas.invocation_id" not in log.attributes  # requestId column read "undefined"
    # The log line belongs to the re-run init (phase invoke), which never reports: closed at shutdown.
    shut = proc.on_shutdown("failure", NOW)
    rerun = span_named(shut, f"init {FN}")
    assert rerun.status is StatusCode.ERROR and rerun.attributes["aws.lambda.init.phase"] == "invoke"
    assert log.trace_id == rerun.trace_id and log.span_id == rerun.span_id


def test_init_extension_logs_become_extension_log_records() -> None:
    out = processor().process(fixture_events("init-extension-logs.json"))
    assert len(out.logs) == 9
    assert {log.attributes["log.source"] for log in out.logs} == {"extension"}
    assert all(isinstance(log.body, str) and not log.body.endswith("\n") for log in out.logs)
    assert out.logs[0].body == "python_example_telemetry_api_extension  launching extension"
    assert all(log.severity_text == "INFO" for log in out.logs)


def test_invoke_json_logs_are_correlated() -> None:
    out = processor().process(fixture_events("invoke-json-logs.json"))
    span = span_named(out, f"invoke {FN}")
    (log,) = out.logs
    assert log.body == "Just some logs here =)"
    assert log.attributes["faas.invocation_id"] == "d661f7cf-9208-46b9-85b0-213b04a91065"
    assert (log.trace_id, log.span_id) == (span.trace_id, span.span_id)
    assert span.attributes["faas.version"] == "8"
    names = sorted(s.name for s in out.spans if s.parent_span_id == span.span_id)
    assert names == ["responseDuration", "responseLatency", "runtimeOverhead"]
    assert metric_values(out, "faas.init_duration") == [10]


def test_snapstart_restore_span() -> None:
    out = processor().process(fixture_events("snapstart-restore.json"))
    span = span_named(out, f"restore {FN}")
    assert span.attributes["aws.lambda.initialization_type"] == "snap-start"
    assert span.attributes["aws.lambda.restore_duration_ms"] == 15.19
    assert span.status is StatusCode.OK
    children = [s for s in out.spans if s.parent_span_id == span.span_id]
    assert len(children) == 2 and len({c.span_id for c in children}) == 2
    assert metric_values(out, "aws.lambda.restore_duration") == [15.19]
    assert metric_values(out, "faas.coldstarts") == [1]


def test_logs_dropped_metric_and_warning() -> None:
    out = processor().process(fixture_events("logs-dropped.json"))
    assert metric_values(out, "aws.lambda.logs_dropped") == [123]
    assert metric_values(out, "aws.lambda.logs_dropped_bytes") == [12345]
    (log,) = out.logs
    assert log.severity_text == "WARN" and "123" in str(log.body)


def test_record_shapes_json_format() -> None:
    out = processor().process(fixture_events("record-shapes-json-format.json"))
    fn, ext = out.logs
    assert (fn.body, fn.attributes["log.source"]) == ("Hello world, I am a function!", "function")
    assert (ext.body, ext.attributes["log.source"]) == ("Hello world, I am an extension!", "extension")
    assert fn.attributes["faas.invocation_id"] == "79b4f56e-95b1-4643-9700-2807f4e68189"
    assert fn.severity_number == 9
    assert "timestamp" not in fn.attributes and "level" not in fn.attributes


def test_init_span_links_to_first_invocation() -> None:
    proc = processor()
    init = proc.process(fixture_events("init-success.json"))
    invoke = proc.process(fixture_events("invoke-json-logs.json"))
    init_span = span_named(init, f"init {FN}")
    span = span_named(invoke, f"invoke {FN}")
    assert [(link.trace_id, link.span_id) for link in span.links] == [(init_span.trace_id, init_span.span_id)]
    assert span.attributes["faas.coldstart"] is True
    # initReport already gave the init duration: the report's initDurationMs is not counted twice.
    assert metric_values(invoke, "faas.init_duration") == []
    assert metric_values(invoke, "faas.coldstarts") == []
