"""The built layer where INVOKE events are refused (Lambda Managed Instances) and where the
Extensions or Telemetry API answers something unexpected: init never fails because of us.

The emulator's `extension_events=("SHUTDOWN",)` answers a register call naming INVOKE with 403
`Extension.InvalidEventType`, as Managed Instances does; `register_refusals` answers the first
register calls with the given statuses. Telemetry is exported by the timer (there is no INVOKE to
pace exports), so every check of what arrived is made *before* SHUTDOWN.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver, attrs
from tests.integration.helpers import (
    invocation_spans,
    log_bodies,
    make_task,
    metric_total,
    sidecar_env,
    span_attrs,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

EXTENSION = "lambda-sidecar"
MANAGED = {"AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"}
#: The default on Managed Instances: every record names its request, which is how lines of
#: concurrent invocations are told apart (a text line naming none is not guessed).
JSON_LOGS = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
NOISY = """
def handler(event, context):
    for i in range(event.get("lines", 1)):
        print(f"line {event['n']} {i}")
    return {"n": event["n"]}
"""


def own_lines(lam: LambdaEnvironment) -> list[str]:
    return [line for source, line in lam.output_lines if source == EXTENSION]


def quiet(source: str, line: str) -> None:
    """Output is inspected through `output_lines`; keep the test log readable."""


@pytest.mark.parametrize("detected", [True, False], ids=["detected", "refused-invoke"])
def test_shutdown_only_registration_exports_on_timer(
    built_layer: Path, tmp_path: Path, detected: bool
) -> None:
    """Detected from the environment, or learnt from the 403: registered for SHUTDOWN only, and
    every invocation's span, metrics and logs arrive while the environment is still up."""
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_INTERVAL_SECONDS="0.2", **JSON_LOGS)
        if detected:
            env.update(MANAGED)
        with LambdaEnvironment(
            built_layer,
            make_task(tmp_path),
            "app.handler",
            env=env,
            echo_output=quiet,
            extension_events=("SHUTDOWN",),
        ) as lam:
            results = [lam.invoke({"n": n}) for n in range(3)]
            ids = [r.request_id for r in results]
            arrived = rx.wait_until(lambda: set(ids) <= set(invocation_spans(rx.spans())), timeout=15)
            counted = rx.wait_until(lambda: metric_total(rx.metrics(), "faas.invocations") >= 3, timeout=15)
            lam.spindown()
            outcome = lam.extension_outcomes[EXTENSION]
            lines = own_lines(lam)
    assert [r.status for r in results] == ["success"] * 3
    assert arrived and counted, lines
    assert outcome.events == ["SHUTDOWN"]
    assert outcome.exit_code == 0 and outcome.exited_before_deadline
    refused = [line for line in lines if "refused events" in line]
    assert len(refused) == (0 if detected else 1), lines
    if detected:
        assert any("schema 2025-01-29" in line for line in lines), lines
    spans = invocation_spans(rx.spans())
    for n, rid in enumerate(ids):
        logs = [r for r in rx.logs() if r.body.string_value.startswith(f"hello {n} ")]
        assert len(logs) == 1, log_bodies(rx.logs())
        assert logs[0].trace_id == spans[rid].trace_id
    assert metric_total(rx.metrics(), "faas.invocations") == 3
    assert "Traceback" not in "\n".join(lines)


def test_full_queue_exports_without_waiting_for_the_timer(built_layer: Path, tmp_path: Path) -> None:
    """An hour-long interval and a small queue: only the queue's threshold can trigger the export
    that delivers the logs before SHUTDOWN."""
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(
            rx.endpoint,
            tmp_path,
            SIDECAR_FLUSH_INTERVAL_SECONDS="3600",
            SIDECAR_BUFFER_MAX_ITEMS="50",
            **MANAGED,
        )
        with LambdaEnvironment(
            built_layer,
            make_task(tmp_path, NOISY),
            "app.handler",
            env=env,
            echo_output=quiet,
            extension_events=("SHUTDOWN",),
        ) as lam:
            result = lam.invoke({"n": 7, "lines": 40})
            arrived = rx.wait_until(
                lambda: any(b.startswith("line 7 ") for b in log_bodies(rx.logs())), timeout=15
            )
            lam.spindown()
            lines = own_lines(lam)
    assert result.status == "success"
    assert arrived, lines


@pytest.mark.parametrize("answer", [202, 400, 403, 500])
def test_subscription_refused_or_absent_keeps_running(built_layer: Path, tmp_path: Path, answer: int) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_INTERVAL_SECONDS="0.2", **MANAGED)
        with LambdaEnvironment(
            built_layer,
            make_task(tmp_path),
            "app.handler",
            env=env,
            echo_output=quiet,
            extension_events=("SHUTDOWN",),
            telemetry_api_supported=answer != 202,
            telemetry_api_refusal=None if answer == 202 else answer,
        ) as lam:
            results = [lam.invoke({"n": n}) for n in range(2)]
            lam.spindown()
            outcome = lam.extension_outcomes[EXTENSION]
            lines = own_lines(lam)
    assert [r.status for r in results] == ["success"] * 2
    assert outcome.exit_code == 0 and outcome.exited_before_deadline
    assert len([line for line in lines if "continuing without telemetry" in line]) == 1, lines


def test_transient_register_failure_is_retried(built_layer: Path, tmp_path: Path) -> None:
    env = sidecar_env(None, tmp_path)
    with LambdaEnvironment(
        built_layer, make_task(tmp_path), "app.handler", env=env, echo_output=quiet, register_refusals=(500,)
    ) as lam:
        result = lam.invoke({"n": 1})
        lam.spindown()
        outcome = lam.extension_outcomes[EXTENSION]
        lines = own_lines(lam)
    assert result.status == "success"
    assert outcome.events == ["INVOKE", "SHUTDOWN"] and outcome.exit_code == 0
    assert len([line for line in lines if "register attempt 1 failed" in line]) == 1, lines


def test_register_refused_for_good_fails_fast(built_layer: Path, tmp_path: Path) -> None:
    """Unregistered, no path keeps init alive (an exit is Extension.Crash, waiting is the init
    timeout): the extension says so once and exits at once, and Lambda's re-init recovers."""
    env = sidecar_env(None, tmp_path)
    with LambdaEnvironment(
        built_layer, make_task(tmp_path), "app.handler", env=env, echo_output=quiet, register_refusals=(403,)
    ) as lam:
        result = lam.invoke({"n": 1})
        history = lam.extension_history
        lines = own_lines(lam)
        lam.spindown()
    assert len([line for line in lines if "could not register" in line]) == 1, lines
    assert history and history[0].error_type == "Extension.Crash"
    assert result.status == "success"  # the init re-run inside the invoke registered normally


def test_no_event_allowed_registers_for_none_and_idles(built_layer: Path, tmp_path: Path) -> None:
    """A platform refusing SHUTDOWN too: registered for no events, idle, the function unaffected."""
    env = sidecar_env(None, tmp_path)
    with LambdaEnvironment(
        built_layer, make_task(tmp_path), "app.handler", env=env, echo_output=quiet, extension_events=()
    ) as lam:
        results = [lam.invoke({"n": n}) for n in range(2)]
        lines = own_lines(lam)
        lam.spindown()
        outcome = lam.extension_outcomes[EXTENSION]
    assert [r.status for r in results] == ["success"] * 2
    assert outcome.registered and outcome.events == []
    assert len([line for line in lines if "registered for no lifecycle events" in line]) == 1, lines
    assert len([line for line in lines if "refused events" in line]) == 2, lines


# ---------------------------------------------------------------------------------------------
# The emulator's real Managed Instances mode (`managed_instances=True`): N runtime workers,
# INVOKE registration refused, schema 2025-01-29 only, JSON logs, interleaved events.
# ---------------------------------------------------------------------------------------------

#: Every invocation drops a file in `meet` and waits (bounded) until `count` files are there: the
#: first `count` admitted can only all pass together, so at least that many run at once and their
#: events interleave, whatever the order the emulator admits them in. `logging` lines carry the
#: request id (JSON log format); `print` lines do not (the workers share one stdout).
MEETING = """
import json, logging, os, time
logging.getLogger().setLevel(logging.INFO)
log = logging.getLogger("app")

def meet(folder, count):
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, f"{os.getpid()}-{time.monotonic_ns()}"), "w").close()
    stop_at = time.monotonic() + 30
    while len(os.listdir(folder)) < count and time.monotonic() < stop_at:
        time.sleep(0.01)
    return len(os.listdir(folder))

def handler(event, context):
    n = event["n"]
    peers = meet(event["meet"], event["count"])
    print(f"hello {n} from {context.aws_request_id}")
    log.info("structured line %s", json.dumps({"n": n}))
    if event.get("fail"):
        raise ValueError(f"boom {n}")
    return {"n": n, "peers": peers}
"""


def meeting_events(tmp_path: Path, concurrency: int, count: int) -> list[dict[str, object]]:
    """`count` events, every third one failing, the first `concurrency` meeting each other."""
    folder = str(tmp_path / "meet")
    return [{"n": n, "fail": n % 3 == 1, "meet": folder, "count": concurrency} for n in range(count)]


def error_records(logs: list[Any]) -> dict[str, Any]:
    """errorMessage -> the function's JSON error record (awslambdaric's unhandled-error log)."""
    out = {}
    for record in logs:
        if record.body.HasField("kvlist_value"):
            fields = {kv.key: kv.value.string_value for kv in record.body.kvlist_value.values}
            if fields.get("errorType") == "ValueError":
                out[fields["errorMessage"]] = record
    return out


@pytest.mark.parametrize(
    ("concurrency", "interval"),
    [(4, "0.2"), (3, "3600")],
    ids=["concurrency-4-timer", "concurrency-3-all-at-shutdown"],
)
def test_real_mode_every_invocation_arrives_attributed(
    built_layer: Path, tmp_path: Path, concurrency: int, interval: str
) -> None:
    """Concurrent invocations, some failing, logging with `logging` and `print`: every span,
    metric and log arrives exactly once, attributed to its invocation. With an hour-long interval
    nothing is exported before SHUTDOWN, so everything must go out at SHUTDOWN."""
    events = meeting_events(tmp_path, concurrency, 3 * concurrency + 1)
    failing = {e["n"] for e in events if e["fail"]}
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_INTERVAL_SECONDS=interval)
        with LambdaEnvironment(
            built_layer,
            make_task(tmp_path, MEETING),
            "app.handler",
            env=env,
            echo_output=quiet,
            managed_instances=True,
            concurrency=concurrency,
            timeout_s=60,
        ) as lam:
            results = lam.invoke_all(events)
            lam.spindown()
            history = lam.extension_history
            lines = own_lines(lam)
        spans, metrics, logs = rx.spans(), rx.metrics(), rx.logs()
    assert [r.status for r in results] == ["error" if n in failing else "success" for n in range(len(events))]
    assert all(r.response["peers"] >= concurrency for r in results if r.status == "success")
    # One environment, never re-initialised; registered for SHUTDOWN only, out before the deadline.
    assert len(history) == 1, history
    outcome = history[0]
    assert outcome.name == EXTENSION and outcome.events == ["SHUTDOWN"]
    assert outcome.shutdown_reason == "spindown" and outcome.exit_code == 0 and outcome.exited_before_deadline
    assert not [line for line in lines if "refused events" in line], lines  # detected, not learnt
    assert any("schema 2025-01-29" in line for line in lines), lines
    assert "Traceback" not in "\n".join(lines)

    ids = [r.request_id for r in results]
    server_spans = [s for s in spans if s.kind == 2 and "faas.invocation_id" in span_attrs(s)]
    assert len(server_spans) == len(ids)
    by_id = invocation_spans(server_spans)
    assert set(by_id) == set(ids)
    assert [span_attrs(s)["faas.coldstart"] for s in server_spans].count(True) == 1
    for n, rid in enumerate(ids):
        a = span_attrs(by_id[rid])
        assert a["aws.lambda.status"] == ("error" if n in failing else "success"), a
        assert by_id[rid].status.code == (2 if n in failing else 1)
        # The platform's responseLatency/responseDuration spans hang under their own invocation.
        children = [s for s in spans if s.parent_span_id == by_id[rid].span_id]
        assert sorted(s.name for s in children) == ["responseDuration", "responseLatency"]
        assert {s.trace_id for s in children} == {by_id[rid].trace_id}

    assert metric_total(metrics, "faas.invocations") == len(ids)
    assert metric_total(metrics, "faas.errors") == len(failing)
    assert metric_total(metrics, "faas.invoke_duration") == len(ids)
    assert metric_total(metrics, "faas.coldstarts") == 1

    bodies = log_bodies(logs)
    errors = error_records(logs)
    assert len(errors) == len(failing), bodies
    for n, rid in enumerate(ids):
        span = by_id[rid]
        structured = [r for r in logs if r.body.string_value == f'structured line {{"n": {n}}}']
        assert len(structured) == 1, bodies
        assert structured[0].trace_id == span.trace_id and structured[0].span_id == span.span_id
        assert attrs(structured[0].attributes)["faas.invocation_id"] == rid
        printed = [r for r in logs if r.body.string_value == f"hello {n} from {rid}"]
        assert len(printed) == 1, bodies  # no request id from the platform: kept, not guessed
        assert printed[0].trace_id in (b"", span.trace_id)
        if n in failing:
            assert errors[f"boom {n}"].trace_id == span.trace_id
    # Nothing else arrived, and nothing was sent twice.
    function_logs = [r for r in logs if attrs(r.attributes).get("log.source") == "function"]
    assert len(function_logs) == 2 * len(ids) + len(failing), bodies


def test_real_mode_cli_prints_one_line_per_invoke(built_layer: Path, tmp_path: Path) -> None:
    """`python -m emulator run --managed-instances` with the built layer: one JSON line per
    invoke on stdout, in the order of the events, and each invocation's span at the receiver."""
    events = meeting_events(tmp_path, 2, 4)
    task = make_task(tmp_path, MEETING)
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_INTERVAL_SECONDS="3600")
        argv = [
            sys.executable, "-m", "emulator", "run", "--opt", str(built_layer), "--task", str(task),
            "--handler", "app.handler", "--managed-instances", "--concurrency", "2", "--timeout", "60",
            "--quiet",
            *(arg for event in events for arg in ("--event", json.dumps(event))),
            *(arg for key, value in env.items() for arg in ("--env", f"{key}={value}")),
        ]  # fmt: skip
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_", "SIDECAR_"))}
        proc = subprocess.run(argv, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=180)
        spans = invocation_spans(rx.spans())
        metrics = rx.metrics()
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["error" if e["fail"] else "success" for e in events]
    assert [line["response"]["n"] for line in lines if line["status"] == "success"] == [
        e["n"] for e in events if not e["fail"]
    ]
    assert set(spans) == {line["requestId"] for line in lines}
    assert metric_total(metrics, "faas.invocations") == len(events)


INIT_PATHS = {
    "detected": {},
    "detection-missed": {"env": {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}},
    "telemetry-api-absent": {"telemetry_api_supported": False},
    "subscribe-400": {"telemetry_api_refusal": 400},
    "subscribe-403": {"telemetry_api_refusal": 403},
    "subscribe-500": {"telemetry_api_refusal": 500},
}


@pytest.mark.parametrize("path", list(INIT_PATHS))
def test_real_mode_init_never_fails(built_layer: Path, tmp_path: Path, path: str) -> None:
    """Whatever the Extensions and Telemetry APIs answer in the real mode, the extension stays
    registered (for SHUTDOWN only) through init and every invocation, and exits only at SHUTDOWN."""
    switches: dict[str, Any] = dict(INIT_PATHS[path])
    env = sidecar_env(None, tmp_path, SIDECAR_FLUSH_INTERVAL_SECONDS="0.2", **switches.pop("env", {}))
    with LambdaEnvironment(
        built_layer,
        make_task(tmp_path),
        "app.handler",
        env=env,
        echo_output=quiet,
        managed_instances=True,
        concurrency=2,
        **switches,
    ) as lam:
        results = lam.invoke_all([{"n": n, "fail": n == 2} for n in range(4)])
        lam.spindown()
        history = lam.extension_history
        lines = own_lines(lam)
        events = lam.events
    assert [r.status for r in results] == ["success", "success", "error", "success"]
    starts = [e["record"]["phase"] for e in events if e["type"] == "platform.initStart"]
    assert starts == ["init"]  # never re-initialised: init did not fail
    init_report = next(e["record"] for e in events if e["type"] == "platform.initReport")
    assert init_report["status"] == "success"
    extension = next(e["record"] for e in events if e["type"] == "platform.extension")
    assert extension["name"] == EXTENSION and extension["events"] == ["SHUTDOWN"]
    assert len(history) == 1, history  # the only exit is the one at SHUTDOWN
    outcome = history[0]
    assert outcome.shutdown_reason == "spindown" and outcome.exit_code == 0 and outcome.exited_before_deadline
    refused = [line for line in lines if "refused events" in line]
    assert len(refused) == (1 if path == "detection-missed" else 0), lines
    without = [line for line in lines if "continuing without telemetry" in line]
    assert len(without) == (1 if path.startswith(("telemetry", "subscribe")) else 0), lines
    assert "Traceback" not in "\n".join(lines)


def test_real_mode_timeout_reset_loses_nothing(built_layer: Path, tmp_path: Path) -> None:
    """A timed-out invocation keeps its worker busy, so the environment is reset (SHUTDOWN
    `timeout`) once the others are done: the extension exports everything it has at that
    SHUTDOWN, and its successor takes over after the re-init."""
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_INTERVAL_SECONDS="3600")
        with LambdaEnvironment(
            built_layer,
            make_task(tmp_path),
            "app.handler",
            env=env,
            echo_output=quiet,
            managed_instances=True,
            concurrency=3,
            timeout_s=10,
        ) as lam:
            first = lam.invoke_all([{"n": 0, "sleep": 120}, {"n": 1}, {"n": 2, "fail": True}])
            second = lam.invoke_all([{"n": 3}, {"n": 4}])
            lam.spindown()
            history = lam.extension_history
        spans = invocation_spans(rx.spans())
        metrics = rx.metrics()
    results = first + second
    assert [r.status for r in results] == ["timeout", "success", "error", "success", "success"]
    assert [(o.shutdown_reason, o.exit_code, o.exited_before_deadline) for o in history] == [
        ("timeout", 0, True),
        ("spindown", 0, True),
    ]
    assert set(spans) == {r.request_id for r in results}
    statuses = [span_attrs(spans[r.request_id])["aws.lambda.status"] for r in results]
    assert statuses == ["timeout", "success", "error", "success", "success"]
    assert metric_total(metrics, "faas.invocations") == 5
    assert metric_total(metrics, "faas.timeouts") == 1
