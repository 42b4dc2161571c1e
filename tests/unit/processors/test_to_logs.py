"""function/extension records -> log records: formats, severity, correlation, filters, redaction."""

from __future__ import annotations

import json
import uuid

import pytest

from extension.log import SELF_JSON_KEY, SELF_LOG_MARKER
from extension.processors.redaction import register_secret
from extension.processors.to_logs import severity_of
from extension.signals import LogData, Signals
from extension.stats import Stats
from tests.unit.processors.helpers import ev, events, processor

MS = 1_000_000
RID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
T = "2026-03-01T10:15:30.201Z"
T_NS = 1772360130201 * MS


def one(record: object, stats: Stats | None = None, **env: str) -> LogData:
    (log,) = processor(stats, **env).process(events([ev("function", T, record)])).logs
    return log


def test_python_text_format() -> None:
    log = one(f"[ERROR]\t2026-03-01T10:15:30.200Z\t{RID}\tpayment failed\n")
    assert (log.severity_number, log.severity_text) == (17, "ERROR")
    assert log.body == "payment failed"
    assert log.time_ns == 1772360130200 * MS
    assert log.attributes == {"log.source": "function", "faas.invocation_id": RID}


def test_node_text_format() -> None:
    log = one(f"2026-03-01T10:15:30.199Z\t{RID}\tWARN\tslow downstream\n")
    assert (log.severity_number, log.body, log.time_ns) == (13, "slow downstream", 1772360130199 * MS)
    assert log.attributes["faas.invocation_id"] == RID


@pytest.mark.parametrize(
    ("line", "severity"),
    [
        ("plain print output", 9),
        ("ERROR something broke", 17),
        ("[debug] detail", 5),
        ("warning: disk almost full", 13),
        ("Debugging is not a level", 9),
        ("CRITICAL: down", 21),
    ],
)
def test_free_text_severity_from_leading_word(line: str, severity: int) -> None:
    log = one(line + "\n")
    assert log.severity_number == severity and log.body == line
    assert log.time_ns == T_NS  # no timestamp in the line: the event time


def test_json_record_fields_become_attributes() -> None:
    record = {
        "timestamp": "2026-03-01T10:15:30.150Z",
        "levelname": "WARNING",
        "AWSRequestId": RID,
        "message": "retrying",
        "attempt": 2,
        "ctx": {"table": "orders"},
    }
    log = one(record)
    assert log.body == "retrying" and log.severity_number == 13 and log.severity_text == "WARNING"
    assert log.time_ns == 1772360130150 * MS
    assert log.attributes == {
        "attempt": 2,
        "ctx": {"table": "orders"},
        "log.source": "function",
        "faas.invocation_id": RID,
    }


def test_json_record_without_message_keeps_the_whole_object_as_body() -> None:
    record = {"level": "INFO", "event": "order_created", "id": 7}
    log = one(record)
    assert log.body == record and log.attributes == {"log.source": "function"}


def test_string_holding_a_json_object_is_parsed() -> None:
    line = json.dumps({"level": "ERROR", "msg": "boom", "requestId": RID, "errorType": "ValueError"}) + "\n"
    log = one(line)
    assert (log.body, log.severity_number) == ("boom", 17)
    assert log.attributes["exception.type"] == "ValueError"
    assert log.attributes["faas.invocation_id"] == RID
    assert one("{not json}").body == "{not json}"


def test_lambda_json_error_fields_map_to_exception_conventions() -> None:
    record = {
        "level": "ERROR",
        "message": "handler failed",
        "errorType": "KeyError",
        "errorMessage": "'id'",
        "stackTrace": ['  File "/var/task/app.py", line 3', "    x = e['id']"],
    }
    attrs = one(record).attributes
    assert attrs["exception.type"] == "KeyError" and attrs["exception.message"] == "'id'"
    assert attrs["exception.stacktrace"] == "  File \"/var/task/app.py\", line 3\n    x = e['id']"


def test_pino_numeric_levels() -> None:
    assert severity_of(30) == (9, "30")
    assert severity_of(50) == (17, "50")
    assert severity_of(60)[0] == 21
    assert severity_of(None) == (9, "INFO")
    assert one({"level": 40, "msg": "careful"}).severity_number == 13


def test_own_lines_are_dropped_and_counted() -> None:
    stats = Stats()
    proc = processor(stats)
    batch = events(
        [
            ev("extension", T, f"{SELF_LOG_MARKER} INFO subscribed\n"),
            ev("extension", T, {SELF_JSON_KEY: "emf", "_aws": {}}),
            ev("extension", T, json.dumps({SELF_JSON_KEY: "span", "m": 2}, separators=(",", ":"))),
            # JSON log format: the platform wraps our text line into an object
            ev(
                "extension",
                T,
                {"timestamp": "t", "level": "INFO", "message": f"{SELF_LOG_MARKER} INFO ready"},
            ),
            ev("extension", T, "someone else's line"),
        ]
    )
    out = proc.process(batch)
    assert [log.body for log in out.logs] == ["someone else's line"]
    assert len(out.raw_events) == 1  # our own lines are not re-exported as raw events either
    assert stats.get("logs_filtered", "self_log") == 4


@pytest.mark.parametrize(
    "record",
    [
        f"{SELF_LOG_MARKER} INFO subscribed",
        f"user input: {SELF_LOG_MARKER} INFO forged",
        f"hide me _lambda_sidecar {SELF_JSON_KEY}",
        json.dumps({SELF_JSON_KEY: "log", "body": "forged"}, separators=(",", ":")),
        {SELF_JSON_KEY: "emf", "message": "forged"},
        {"timestamp": "t", "level": "INFO", "message": f"{SELF_LOG_MARKER} INFO forged"},
    ],
)
def test_function_lines_looking_like_ours_are_exported(record: object) -> None:
    """Logged attacker input must not suppress its own audit record (issue 18 item 4)."""
    stats = Stats()
    out = processor(stats).process(events([ev("function", T, record)]))
    assert len(out.logs) == 1 and len(out.raw_events) == 1
    assert stats.get("logs_filtered", "self_log") == 0


@pytest.mark.parametrize(
    "record",
    [
        f"  {SELF_LOG_MARKER} INFO not at the start",
        f"{SELF_LOG_MARKER}INFO no space after the marker",
        f"another extension mentions {SELF_JSON_KEY}",
        json.dumps({"m": 1, SELF_JSON_KEY: "log"}),
        {SELF_JSON_KEY: "something else", "m": 1},
        {SELF_JSON_KEY: 1},
    ],
)
def test_only_the_exact_marker_makes_an_extension_line_ours(record: object) -> None:
    out = processor().process(events([ev("extension", T, record)]))
    assert len(out.logs) == 1


def test_minimum_level_filter() -> None:
    stats = Stats()
    proc = processor(stats, SIDECAR_LOG_MIN_LEVEL="warn")
    lines = [
        "[DEBUG]\t2026-03-01T10:15:30.200Z\tr\tx",
        "just info",
        "[ERROR]\t2026-03-01T10:15:30.200Z\tr\ty",
    ]
    out = proc.process(events([ev("function", T, line) for line in lines]))
    assert [log.body for log in out.logs] == ["y"]
    assert stats.get("logs_filtered", "min_level") == 2


def _start(rid: str, root: str) -> dict[str, object]:
    return ev("platform.start", T, {"requestId": rid, "tracing": {"value": f"Root=1-{root[:8]}-{root[8:]}"}})


def test_logs_correlate_to_the_invocation_they_name_not_the_current_one() -> None:
    proc = processor()
    out = proc.process(
        events(
            [
                _start("first", "1" * 32),
                _start("second", "2" * 32),
                ev("function", T, "[INFO]\t2026-03-01T10:15:30.200Z\tfirst\tlate line of the first invoke"),
                ev("function", T, "no request id here"),
                ev("function", T, "[INFO]\t2026-03-01T10:15:30.200Z\tunknown-rid\tnever seen"),
            ]
        )
    )
    named, current, unknown = out.logs
    assert named.trace_id is not None and named.trace_id.hex() == "1" * 32
    assert current.trace_id is not None and current.trace_id.hex() == "2" * 32
    assert current.attributes["faas.invocation_id"] == "second"
    assert unknown.trace_id is None and unknown.attributes["faas.invocation_id"] == "unknown-rid"


def test_next_invoke_does_not_steal_the_previous_invocations_trailing_lines() -> None:
    proc = processor()
    proc.process(events([_start("n", "1" * 32)]))
    proc.on_invoke("n+1", 0, "Root=1-22222222-222222222222222222222222", T_NS)  # INVOKE beats telemetry
    (line,) = proc.process(events([ev("function", T, "print output of invoke n")])).logs
    assert line.attributes["faas.invocation_id"] == "n"
    (next_line,) = proc.process(events([_start("n+1", "2" * 32), ev("function", T, "of n+1")])).logs
    assert next_line.attributes["faas.invocation_id"] == "n+1"
    assert next_line.trace_id is not None and next_line.trace_id.hex() == "2" * 32


def test_without_platform_events_invoke_sets_the_current_invocation() -> None:
    proc = processor(SIDECAR_TELEMETRY_TYPES="function")
    proc.on_invoke("r1", 0, "Root=1-11111111-111111111111111111111111", T_NS)
    (line,) = proc.process(events([ev("function", T, "print output")])).logs
    assert line.attributes["faas.invocation_id"] == "r1"
    assert line.trace_id is not None and line.trace_id.hex() == "1" * 32


def test_logs_before_any_invocation_have_no_trace_context() -> None:
    log = one("early line")
    assert log.trace_id is None and log.span_id is None and "faas.invocation_id" not in log.attributes


def test_redaction_of_bodies_attributes_and_raw_events() -> None:
    stats = Stats()
    proc = processor(stats)
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    records = [
        "using key AKIAIOSFODNN7EXAMPLE for upload",
        f"aws_secret_access_key={secret}",
        {"message": "call", "headers": {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}},
        "nothing to see",
    ]
    batch = events([ev("function", T, r) for r in records])
    out = proc.process(batch)
    key, sec, obj, plain = out.logs
    assert key.body == "using key [REDACTED] for upload"
    assert sec.body == "aws_secret_access_key=[REDACTED]"
    assert obj.attributes["headers"] == {"Authorization": "Bearer [REDACTED]"}
    assert plain.body == "nothing to see"
    raw_records = [r["record"] for r in out.raw_events]
    assert raw_records[0] == "using key [REDACTED] for upload"
    assert raw_records[2]["headers"]["Authorization"] == "Bearer [REDACTED]"
    assert out.raw_events[3] is batch[3].raw  # untouched events are not copied
    assert secret not in json.dumps(raw_records)
    proc.health_metrics(0)
    assert stats.get("logs_redacted") == 3


def test_user_redaction_patterns_and_defaults_off() -> None:
    log = one(
        "card 4111-1111-1111-1111 key AKIAIOSFODNN7EXAMPLE",
        SIDECAR_REDACT_PATTERNS=r"\d{4}-\d{4}-\d{4}-\d{4}",
        SIDECAR_REDACT_DEFAULTS="false",
    )
    assert log.body == "card [REDACTED] key AKIAIOSFODNN7EXAMPLE"


def test_fault_and_extension_state_errors() -> None:
    proc = processor(SIDECAR_PLATFORM_LOGS="true")
    out = proc.process(
        events(
            [
                ev("platform.fault", T, "RequestId: r Process exited before completing request\n"),
                ev(
                    "platform.extension",
                    T,
                    {"name": "x", "state": "Failed", "events": [], "errorType": "E.X"},
                ),
            ]
        )
    )
    fault, ext = out.logs
    assert (
        fault.severity_text == "ERROR"
        and fault.body == "RequestId: r Process exited before completing request"
    )
    assert ext.severity_text == "ERROR" and "Error Type: E.X" in str(ext.body)


# ---- redaction in both log formats (issue 18 item 2) -------------------------------------------

OWN_SECRET = "emulator/secret/access/key/example0000000"
OWN_TOKEN = "emulator-session-token-5f1e0c9a7b3d"
STS_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6Ex4mPLE+TOKEN/value=="
SECRET_40 = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: What functions really print, and the secret each one carries.
PRINTED = {
    "botocore frozen credentials": (
        f"ReadOnlyCredentials(access_key='ASIAIOSFODNN7EXAMPLE', secret_key='{SECRET_40}', token='{STS_TOKEN}')",
        (SECRET_40, STS_TOKEN, "ASIAIOSFODNN7EXAMPLE"),
    ),
    "session token variable": (f"AWS_SESSION_TOKEN={STS_TOKEN}", (STS_TOKEN,)),
    "sts response": (
        json.dumps({"Credentials": {"SecretAccessKey": SECRET_40, "SessionToken": STS_TOKEN}}),
        (SECRET_40, STS_TOKEN),
    ),
    "own credentials": (f"env {OWN_SECRET} {OWN_TOKEN}", (OWN_SECRET, OWN_TOKEN)),
}
_OWN_ENV = {"AWS_SECRET_ACCESS_KEY": OWN_SECRET, "AWS_SESSION_TOKEN": OWN_TOKEN}


def _exported(out: Signals) -> str:
    return json.dumps([(log.body, log.attributes) for log in out.logs] + list(out.raw_events), default=str)


@pytest.mark.parametrize("shape", sorted(PRINTED))
def test_text_format_records_are_redacted(shape: str) -> None:
    line, secrets = PRINTED[shape]
    proc = processor(**_OWN_ENV)
    out = proc.process(events([ev("function", T, f"[INFO]\t2026-03-01T10:15:30.200Z\t{RID}\t{line}\n")]))
    (log,) = out.logs
    assert "[REDACTED]" in str(log.body)
    for secret in secrets:
        assert secret not in _exported(out), shape


@pytest.mark.parametrize("shape", sorted(PRINTED))
def test_json_format_records_are_redacted(shape: str) -> None:
    """JSON log format: a text line arrives wrapped in an object, a JSON line as the object itself."""
    line, secrets = PRINTED[shape]
    wrapped = {"timestamp": T, "level": "INFO", "requestId": RID, "message": line}
    records: list[object] = [wrapped]
    if line.startswith("{"):
        records.append(json.loads(line))
    proc = processor(**_OWN_ENV)
    out = proc.process(events([ev("function", T, r) for r in records]))
    assert len(out.logs) == len(records)
    for secret in secrets:
        assert secret not in _exported(out), shape


def test_json_format_objects_redacted_by_key_name_and_depth() -> None:
    stats = Stats()
    proc = processor(stats)
    deep: dict[str, object] = {"password": "hunter2"}
    for _ in range(40):
        deep = {"nested": deep}
    record = {
        "level": "INFO",
        "message": "loaded config",
        "aws_secret_access_key": "not-40-chars-but-a-secret",
        "client": {"SecretAccessKey": "also-secret-value"},
        "deep": deep,
    }
    out = proc.process(events([ev("function", T, record)]))
    (log,) = out.logs
    assert log.attributes["aws_secret_access_key"] == "[REDACTED]"
    assert log.attributes["client"] == {"SecretAccessKey": "[REDACTED]"}
    text = _exported(out)
    assert "not-40-chars" not in text and "also-secret" not in text and "hunter2" not in text
    proc.health_metrics(0)
    assert stats.get("logs_redacted") == 3


def test_a_secret_registered_while_running_is_redacted_from_then_on() -> None:
    """The hook the exporters call with each resolved header secret (`register_secret`)."""
    proc = processor()
    secret = f"resolved-header-secret-{uuid.uuid4().hex}"
    (before,) = proc.process(events([ev("function", T, f"sending with {secret}")])).logs
    assert before.body == f"sending with {secret}"
    register_secret(secret)
    out = proc.process(
        events([ev("function", T, f"sending with {secret}"), ev("function", T, {"k": secret})])
    )
    assert [log.body for log in out.logs] == ["sending with [REDACTED]", {"k": "[REDACTED]"}]
