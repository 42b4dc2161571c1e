"""Configuration of the built layer in the emulator, end to end.

Per-signal OTLP endpoints (issue 12 item 4): each signal goes where its own variable or the base
endpoint says, and a signal with neither is not sent (said once). Configuration errors (issue 18
item 1): with a header list holding an API key and one entry without `=`, the extension
used to write the whole value to stderr (CloudWatch) and into the `Extension.ConfigInvalid` init
error. Everything that leaves the sandbox through us is checked here: the invoke's error, every
output line of every process, and every Telemetry API event the emulator produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver
from tests.integration.helpers import make_task, sidecar_env

pytestmark = pytest.mark.integration

SECRET = "sk_live_51HxQpLkT0pS3cr3tV4lue"


@pytest.mark.parametrize(
    ("variables", "named", "detail"),
    [
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={SECRET},dd-site",
            },
            "OTEL_EXPORTER_OTLP_HEADERS",
            "entry 2 of 2 has no '='",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"collector://user:{SECRET}@otel.example.com:4318/v1/traces"
            },
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "is not an http(s) URL",
        ),
        ({"SIDECAR_REDACT_PATTERNS": f'["{SECRET}", "(unclosed"]'}, "SIDECAR_REDACT_PATTERNS", "pattern 2"),
    ],
    ids=["headers", "endpoint", "redaction-patterns"],
)
def test_a_bad_secret_bearing_value_is_named_but_never_shown(
    built_layer: Path, tmp_path: Path, variables: dict[str, str], named: str, detail: str
) -> None:
    env = sidecar_env(None, tmp_path, **variables)
    with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env) as lam:
        result = lam.invoke({"n": 1})
        output = "\n".join(line for _, line in lam.output_lines)
        events = json.dumps(lam.events)
    error = str(result.response)
    assert result.status == "error"
    assert "Extension.ConfigInvalid" in error and named in error and detail in error
    ours = [line for source, line in lam.output_lines if source == "lambda-sidecar"]
    assert any(named in line and detail in line for line in ours), ours  # the log line is still useful
    for where, text in [("init error", error), ("output", output), ("telemetry", events)]:
        assert SECRET not in text, f"the secret leaked into the {where}"


def test_only_a_traces_endpoint_sends_spans_there_and_nothing_else(built_layer: Path, tmp_path: Path) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(None, tmp_path, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{rx.endpoint}/v1/traces")
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
            assert [lam.invoke({"n": n}).status for n in range(2)] == ["success", "success"]
            lam.spindown()
            ours = [line for source, line in lam.output_lines if source == "lambda-sidecar"]
        assert rx.spans(), "no spans arrived"
        requests = rx.requests
        assert {r.signal for r in requests} == {"traces"} and all(r.accepted for r in requests), [
            (r.path, r.accepted) for r in requests
        ]
    notes = [line for line in ours if "not sent over OTLP" in line]
    assert len(notes) == 1 and "metrics, logs" in notes[0], ours


def test_a_per_signal_endpoint_overrides_the_base_for_its_signal_only(
    built_layer: Path, tmp_path: Path
) -> None:
    with OtlpHttpReceiver() as base, OtlpHttpReceiver() as metrics:
        env = sidecar_env(
            base.endpoint, tmp_path, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"{metrics.endpoint}/v1/metrics"
        )
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
            assert lam.invoke({"n": 1}).status == "success"
            lam.spindown()
            ours = [line for source, line in lam.output_lines if source == "lambda-sidecar"]
        assert base.spans() and base.logs() and metrics.metrics()
        assert {r.signal for r in base.requests} == {"traces", "logs"}
        assert {r.signal for r in metrics.requests} == {"metrics"}
    assert not [line for line in ours if "not sent over OTLP" in line]
