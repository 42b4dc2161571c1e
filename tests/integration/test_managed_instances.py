"""The built layer where INVOKE events are refused (Lambda Managed Instances) and where the
Extensions or Telemetry API answers something unexpected: init never fails because of us.

The emulator's `extension_events=("SHUTDOWN",)` answers a register call naming INVOKE with 403
`Extension.InvalidEventType`, as Managed Instances does; `register_refusals` answers the first
register calls with the given statuses. Telemetry is exported by the timer (there is no INVOKE to
pace exports), so every check of what arrived is made *before* SHUTDOWN.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver
from tests.integration.helpers import invocation_spans, log_bodies, make_task, metric_total, sidecar_env

pytestmark = pytest.mark.integration

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
