"""The built layer in the emulator, exporting to a real OTLP/HTTP receiver that decodes protobuf.

Covers issue 3's end-to-end cases: cold start, warm invokes (with freeze), errors, timeouts,
crashes, shutdown flush, configuration errors and a backend that is down.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver, attrs, unused_port
from tests.integration.helpers import (
    invocation_spans,
    log_bodies,
    make_task,
    metric_total,
    sidecar_env,
    span_attrs,
    xray_trace_id,
)

pytestmark = pytest.mark.integration


def test_cold_start_warm_invokes_traces_metrics_logs(built_layer: Path, tmp_path: Path) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path)
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
            results = [lam.invoke({"n": n}) for n in range(3)]
            assert [r.status for r in results] == ["success"] * 3
            starts = {e["record"]["requestId"]: e["record"] for e in lam.events_of("platform.start")}
            (init_start,) = lam.events_of("platform.initStart")
            lam.spindown()
        ids = [r.request_id for r in results]
        assert rx.wait_until(lambda: set(ids) <= set(invocation_spans(rx.spans())), timeout=10)
        spans = invocation_spans(rx.spans())
        # trace id and parent come from the X-Ray header the platform passed
        for rid in ids:
            header = starts[rid]["tracing"]["value"]
            assert spans[rid].trace_id.hex() == xray_trace_id(header)
            assert spans[rid].span_id.hex() == starts[rid]["tracing"]["spanId"]
            assert spans[rid].status.code != 2
        assert span_attrs(spans[ids[0]]).get("faas.coldstart") is True
        assert span_attrs(spans[ids[1]]).get("faas.coldstart") in (False, None)
        names = {s.name for s in rx.spans()}
        assert any(n.startswith("init ") for n in names)
        assert {"responseLatency", "extensionOverhead"} <= names
        # logs are correlated to their invocation's trace
        logs = rx.logs()
        for n, rid in enumerate(ids):
            recs = [r for r in logs if r.body.string_value.startswith(f"hello {n} ")]
            assert len(recs) == 1, log_bodies(logs)
            assert recs[0].trace_id == spans[rid].trace_id
        assert any("structured line" in b for b in log_bodies(logs))
        assert not any("[lambda-sidecar]" in b for b in log_bodies(logs)), "own output re-ingested"
        metrics = rx.metrics()
        assert metric_total(metrics, "faas.invocations") == 3
        assert metric_total(metrics, "faas.coldstarts") == 1
        assert metric_total(metrics, "faas.invoke_duration") == 3
        assert metric_total(metrics, "faas.init_duration") == 1
        assert rx.resource_attributes()["faas.name"] == "sample-function"
        # faas.instance: the environment's id, known from platform.initStart (OTel semantic
        # conventions: the log stream name, which an extension's environment does not carry)
        last = rx.accepted("traces")[-1].message.resource_spans[0].resource
        assert attrs(last.attributes)["faas.instance"] == init_start["record"]["instanceId"]


def test_error_timeout_and_crash_are_error_spans(built_layer: Path, tmp_path: Path) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path)
        task = make_task(tmp_path)
        # The timeout is far above what a loaded machine needs for the other invokes (under a CPU
        # hog the extension's start-up alone took 1.3 s, so a 1 s timeout failed the `ok` invoke).
        with LambdaEnvironment(built_layer, task, "app.handler", env=env, timeout_s=8.0) as lam:
            ok = lam.invoke({"n": 1})
            err = lam.invoke({"n": 2, "fail": True})
            slow = lam.invoke({"n": 3, "sleep": 16})
            crash = lam.invoke({"n": 4, "crash": True})
            after = lam.invoke({"n": 5})
            lam.spindown()
        assert (ok.status, err.status, slow.status, crash.status, after.status) == (
            "success",
            "error",
            "timeout",
            "error",
            "success",
        )
        wanted = {r.request_id for r in (ok, err, slow, crash, after)}
        assert rx.wait_until(lambda: wanted <= set(invocation_spans(rx.spans())), timeout=10), sorted(
            invocation_spans(rx.spans())
        )
        spans = invocation_spans(rx.spans())
        assert spans[ok.request_id].status.code != 2
        for bad in (err, slow, crash):
            assert spans[bad.request_id].status.code == 2, bad
        assert "timed" in str(span_attrs(spans[slow.request_id]).get("error.type", "")).lower() or (
            "timeout" in str(span_attrs(spans[slow.request_id])).lower()
        )
        metrics = rx.metrics()
        assert metric_total(metrics, "faas.timeouts") >= 1
        assert metric_total(metrics, "faas.errors") >= 2


@pytest.mark.parametrize("policy", ["shutdown", "periodic", "adaptive"])
def test_everything_arrives_by_shutdown_under_each_policy(
    built_layer: Path, tmp_path: Path, policy: str
) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_POLICY=policy)
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
            ids = [lam.invoke({"n": n}).request_id for n in range(4)]
            if policy == "shutdown":
                assert not rx.spans(), "shutdown policy exported before SHUTDOWN"
            lam.spindown()
        # the last invocation's report only exists after its /next: it must come with SHUTDOWN
        assert set(ids) <= set(invocation_spans(rx.spans()))
        assert metric_total(rx.metrics(), "faas.invocations") == 4
        assert metric_total(rx.metrics(), "aws.lambda.billed_duration") == 4


def test_backend_down_does_not_fail_or_slow_the_function(built_layer: Path, tmp_path: Path) -> None:
    env = sidecar_env(f"http://127.0.0.1:{unused_port()}", tmp_path, SIDECAR_EXPORT_BUDGET_MS="200")
    with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
        results = [lam.invoke({"n": n}) for n in range(3)]
        lam.spindown()
        outcome = lam.extension_outcomes["lambda-sidecar"]
    assert [r.status for r in results] == ["success"] * 3
    assert outcome.exit_code == 0 and outcome.exited_before_deadline


def test_configuration_error_names_the_variable(built_layer: Path, tmp_path: Path) -> None:
    env = sidecar_env(None, tmp_path, SIDECAR_FLUSH_POLICY="whenever")
    with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env) as lam:
        result = lam.invoke({"n": 1})
    assert result.status == "error"
    assert "SIDECAR_FLUSH_POLICY" in str(result.response)
    assert "Extension.ConfigInvalid" in str(result.response)


def test_fan_out_to_every_destination_at_once(built_layer: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "sidecar.jsonl"
    with OtlpHttpReceiver() as rx, OtlpHttpReceiver() as json_rx:
        env = sidecar_env(
            rx.endpoint,
            tmp_path,
            SIDECAR_EXPORTERS="otlp,http_json,stdout,file",
            SIDECAR_HTTP_JSON_URL=f"{json_rx.endpoint}/ingest",
            SIDECAR_HTTP_JSON_FORMAT="raw",
            SIDECAR_STDOUT_SIGNALS="metrics,spans,logs",
            SIDECAR_FILE_PATH=str(out_file),
        )
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
            ids = [lam.invoke({"n": n}).request_id for n in range(2)]
            lam.spindown()
            produced = len(lam.events)
            ext_lines = [line for src, line in lam.output_lines if src == "lambda-sidecar"]
        # OTLP: all three signals
        assert set(ids) <= set(invocation_spans(rx.spans()))
        assert rx.logs() and metric_total(rx.metrics(), "faas.invocations") == 2
        # HTTP JSON (raw): the Telemetry API events themselves, every platform.report included
        raw = [e for payload in json_rx.json_payloads() for e in payload]
        reports = {e["record"]["requestId"] for e in raw if e.get("type") == "platform.report"}
        assert set(ids) <= reports
        assert 0 < len(raw) <= produced
        # file: spans, logs and metrics as JSON lines
        records = [json.loads(line) for line in out_file.read_text().splitlines()]
        assert {"span", "log", "metric"} <= {r["signal"] for r in records}
        # stdout: CloudWatch EMF metric lines (and spans/logs as JSON lines), all marked as ours
        emf = [json.loads(line) for line in ext_lines if line.startswith("{") and '"_aws"' in line]
        assert any("faas.invocations" in e for e in emf)
        assert all(e["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LambdaSidecar" for e in emf)


def test_otlp_grpc_delivers_all_three_signals(built_layer: Path, tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc works with the default layer (no special build)."""
    with OtlpGrpcReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
            ids = [lam.invoke({"n": n}).request_id for n in range(3)]
            lam.spindown()
    assert set(ids) <= set(invocation_spans(rx.spans()))
    assert any(b.startswith("hello 2 ") for b in log_bodies(rx.logs()))
    assert metric_total(rx.metrics(), "faas.invocations") == 3


def test_json_log_format_records_become_structured_logs(built_layer: Path, tmp_path: Path) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, AWS_LAMBDA_LOG_FORMAT="JSON")
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env) as lam:
            rid = lam.invoke({"n": 7}).request_id
            lam.spindown()
    logs = rx.logs()
    structured = [r for r in logs if "structured line" in r.body.string_value]
    assert structured, [r.body for r in logs]
    record = structured[0]
    assert record.severity_text == "INFO"
    assert attrs(record.attributes).get("faas.invocation_id") == rid
    everything = " ".join(str(r.body) + str(r.attributes) for r in logs)
    assert "[lambda-sidecar]" not in everything, "own output re-ingested in JSON log format"


def test_telemetry_api_not_supported_carries_on_with_one_clear_line(
    built_layer: Path, tmp_path: Path
) -> None:
    """AWS's own emulator answers the Telemetry API with 202 "not supported": no crash, no wait."""
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path)
        task = make_task(tmp_path)
        with LambdaEnvironment(
            built_layer, task, "app.handler", env=env, timeout_s=30, telemetry_api_supported=False
        ) as lam:
            results = [lam.invoke({"n": n}) for n in range(2)]
            reports = lam.events_of("platform.report")
            lam.spindown()
            outcome = lam.extension_outcomes["lambda-sidecar"]
            lines = [line for src, line in lam.output_lines if src == "lambda-sidecar"]
    assert [r.status for r in results] == ["success", "success"]
    assert outcome.exit_code == 0 and outcome.exited_before_deadline
    assert sum("not supported" in line for line in lines) == 1, lines
    # with nothing to wait for, the extension does not hold the invoke open for runtimeDone
    overhead = [
        s["durationMs"]
        for r in reports
        for s in r["record"].get("spans", [])
        if s["name"] == "extensionOverhead"
    ]
    assert overhead and max(overhead) < 30_000 / 3  # a wait for runtimeDone would last ~30 s
    assert not rx.spans()  # no telemetry, so no invocation spans: but the function was never failed
