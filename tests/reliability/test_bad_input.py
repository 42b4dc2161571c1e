"""Bad input: malformed telemetry POSTs to the real extension, invalid configuration, and a
Telemetry API that answers 202 "not supported" or refuses the subscription.

Structurally malformed bodies get a 4xx and a `telemetry_rejected{reason}` count; a well-formed
array carrying bad or unknown events is accepted (a 4xx would make Lambda resend the whole batch)
and the bad events are counted (`dropped{invalid_event}`, `telemetry_events_unknown_type`). Never a 500,
never a crash: the same process answers the next invoke and exits cleanly at SHUTDOWN.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver
from tests.integration.helpers import invocation_spans, sidecar_env
from tests.reliability.recorder import CaseRecord
from tests.reliability.support import (
    EXTENSION,
    extension_lines,
    http_request,
    listener_path,
    listener_port,
    make_function,
    quiet,
    shutdown_summaries,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JSON = "application/json"
T = "2026-01-01T00:00:00.000Z"
#: (what, method, content type, body, expected status, counter the extension must show)
MALFORMED: list[tuple[str, str, str | None, bytes, int, str]] = [
    ("not JSON", "POST", JSON, b"{this is not json", 400, "telemetry_rejected{not_json}"),
    ("empty body", "POST", JSON, b"", 400, "telemetry_rejected{not_json}"),
    ("invalid UTF-8", "POST", JSON, b'["\xff\xfe"]', 400, "telemetry_rejected{not_json}"),
    (
        "deeply nested JSON",
        "POST",
        JSON,
        b"[" * 200_000 + b"]" * 200_000,
        400,
        "telemetry_rejected{not_json}",
    ),
    (
        "object, not an array",
        "POST",
        JSON,
        b'{"type": "function", "record": "x"}',
        400,
        "telemetry_rejected{not_array}",
    ),
    ("number, not an array", "POST", JSON, b"42", 400, "telemetry_rejected{not_array}"),
    ("null", "POST", JSON, b"null", 400, "telemetry_rejected{not_array}"),
    ("string", "POST", JSON, b'"[]"', 400, "telemetry_rejected{not_array}"),
    ("wrong content type", "POST", "text/plain", b"[]", 415, "telemetry_rejected{content_type}"),
    ("no content type", "POST", None, b"[]", 415, "telemetry_rejected{content_type}"),
    (
        "huge body (3 MB)",
        "POST",
        JSON,
        b"[" + b'"x",' * 750_000 + b'"x"]',
        413,
        "telemetry_rejected{too_large}",
    ),
    ("GET", "GET", None, b"", 405, "telemetry_rejected{method}"),
    ("PUT", "PUT", JSON, b"[]", 405, "telemetry_rejected{method}"),
]
#: Well-formed arrays with bad events: accepted, every bad event counted.
BAD_EVENTS: list[tuple[str, list[object], str]] = [
    ("array of numbers", [1, 2, 3], "dropped{invalid_event}"),
    ("wrong field types", [{"type": 5, "time": [], "record": {}}], "dropped{invalid_event}"),
    ("missing type", [{"time": T, "record": "x"}], "dropped{invalid_event}"),
    ("record of the wrong shape", [{"time": T, "type": "platform.report", "record": "not an object"}], ""),
    ("bad time", [{"time": "yesterday", "type": "platform.start", "record": {"requestId": 7}}], ""),
    (
        "unknown event type",
        [{"time": T, "type": "platform.fromTheFuture", "record": {"a": 1}}],
        "telemetry_events_unknown_type",
    ),
]


def test_malformed_telemetry_posts_get_4xx_and_counted(
    built_layer: Path, tmp_path: Path, case: CaseRecord
) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path)
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, echo_output=quiet
        ) as lam:
            first = lam.invoke({"tag": "bad", "n": 0})
            pid = lam.pids[EXTENSION]
            port, path = listener_port(lam), listener_path(lam)
            answers = {}
            for what, method, ctype, body, _, _ in MALFORMED:
                headers = {"Content-Type": ctype} if ctype else {}
                answers[what] = http_request(port, method, path, headers, body, timeout=30)
            for what, events, _ in BAD_EVENTS:
                answers[what] = http_request(
                    port, "POST", path, {"Content-Type": JSON}, json.dumps(events).encode()
                )
            second = lam.invoke({"tag": "bad", "n": 1})
            same_process = lam.pids.get(EXTENSION) == pid
            lam.spindown()
            outcome = lam.extension_outcomes[EXTENSION]
            summary = shutdown_summaries(lam)[-1]
        spans = invocation_spans(rx.spans())
    statuses = {what: status for what, (status, _) in answers.items()}
    case.set(
        "Bad input",
        "malformed Telemetry API POSTs to the running extension",
        load="2 invokes around the bad requests",
        bad_inputs="; ".join(w for w, *_ in MALFORMED)
        + "; well-formed arrays with: "
        + "; ".join(w for w, *_ in BAD_EVENTS),
        lost="nothing (valid events of the same run all exported)",
    )
    case.figure(
        requests=len(answers),
        statuses=statuses,
        rejected={k: v for k, v in summary.items() if k.startswith("telemetry_rejected")},
        invalid_events=summary.get("dropped{invalid_event}", 0),
        unknown_event_types=summary.get("telemetry_events_unknown_type", 0),
        internal_errors=sum(v for k, v in summary.items() if k.startswith("internal_errors")),
    )
    for what, _, _, _, status, _ in MALFORMED:
        assert statuses[what] == status, (what, answers[what][1][:300])
    for what, _, _ in BAD_EVENTS:
        assert statuses[what] == 200, (what, answers[what][1][:300])
    expected_counts: dict[str, int] = {}
    for _, _, _, _, _, counter in MALFORMED:
        expected_counts[counter] = expected_counts.get(counter, 0) + 1
    for counter, n in expected_counts.items():
        assert summary.get(counter, 0) == n, (counter, summary)
    assert summary.get("dropped{invalid_event}", 0) >= 5
    assert summary.get("telemetry_events_unknown_type", 0) >= 1
    assert not any(k.startswith("internal_errors") for k in summary), summary
    assert first.status == second.status == "success"
    assert same_process and outcome.exit_code == 0 and outcome.exited_before_deadline
    assert {first.request_id, second.request_id} <= set(spans)


#: One bad value per variable; a single start must name every one of them.
BAD_CONFIG = {
    "SIDECAR_FLUSH_POLICY": "whenever",
    "SIDECAR_EXPORT_BUDGET_MS": "-5",
    "SIDECAR_BUFFER_MAX_ITEMS": "lots",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon",
    "SIDECAR_REDACT_PATTERNS": "([unclosed",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "70000",
    "SIDECAR_TELEMETRY_MAX_ITEMS": "5",
    "SIDECAR_TELEMETRY_TYPES": "platform,gossip",
    "SIDECAR_SPANS_ENABLED": "maybe",
    "SECRETS_MANAGER_TTL": "forever",
}


def test_invalid_configuration_names_every_variable(
    built_layer: Path, tmp_path: Path, case: CaseRecord
) -> None:
    env = sidecar_env("http://127.0.0.1:4318", tmp_path, **BAD_CONFIG)
    with LambdaEnvironment(
        built_layer, make_function(tmp_path), "app.handler", env=env, echo_output=quiet
    ) as lam:
        result = lam.invoke({"tag": "cfg"})
        lines = extension_lines(lam)
    message = json.dumps(result.response)
    named = [v for v in BAD_CONFIG if v in message]
    case.set(
        "Bad input",
        "invalid configuration values",
        load="1 cold start",
        bad_inputs=", ".join(f"{k}={v}" for k, v in BAD_CONFIG.items()),
        lost="n/a: init fails with Extension.ConfigInvalid naming each variable",
    )
    case.figure(variables=len(BAD_CONFIG), named_in_error=len(named), error_type=result.error_type)
    assert result.status == "error"
    assert "Extension.ConfigInvalid" in message
    assert set(named) == set(BAD_CONFIG), set(BAD_CONFIG) - set(named)
    assert any("SIDECAR_FLUSH_POLICY" in line for line in lines)  # also in the extension's own log
    assert "Traceback" not in "\n".join(lines)


@pytest.mark.parametrize("answer", [202, 400, 403, 500])
def test_telemetry_api_not_supported_or_refused_keeps_running(
    built_layer: Path, tmp_path: Path, case: CaseRecord, answer: int
) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path)
        with LambdaEnvironment(
            built_layer,
            make_function(tmp_path),
            "app.handler",
            env=env,
            freeze=True,
            echo_output=quiet,
            telemetry_api_supported=answer != 202,
            telemetry_api_refusal=None if answer == 202 else answer,
        ) as lam:
            results = [lam.invoke({"tag": "nosub", "n": n}) for n in range(3)]
            lam.spindown()
            outcome = lam.extension_outcomes[EXTENSION]
            lines = extension_lines(lam)
    warned = [line for line in lines if "continuing without telemetry" in line]
    case.set(
        "Bad input",
        f"Telemetry API answers {answer}"
        + (' "Telemetry.NotSupported"' if answer == 202 else " to the subscription"),
        load="3 invokes, freeze",
        bad_inputs=f"subscription answered HTTP {answer}",
        lost="all telemetry (none is delivered); the function is unaffected",
    )
    case.figure(invokes=len(results), warnings=len(warned), exit_code=outcome.exit_code)
    assert [r.status for r in results] == ["success"] * 3
    assert outcome.exit_code == 0 and outcome.exited_before_deadline
    assert len(warned) == 1, lines
