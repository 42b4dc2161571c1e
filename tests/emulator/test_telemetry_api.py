"""Telemetry/Logs API conformance: validation, batching, replay, drops, record shapes."""

from __future__ import annotations

import json

import pytest
from conftest import ALL_TYPES, FAST, Layout, events_received, types_received, wait_for

from emulator import LambdaEnvironment

pytestmark = pytest.mark.integration

TELEMETRY = "/2022-07-01/telemetry"
DEST = {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/telemetry"}


def put(body: object, **extra: object) -> dict:
    return {"method": "PUT", "path": TELEMETRY, "body": body, **extra}


def test_subscription_validation(layout: Layout) -> None:
    good = {"schemaVersion": "2022-12-13", "types": ["function"], "destination": DEST}
    probes = [
        put({**good, "schemaVersion": "2021-01-01"}),
        put({**good, "types": []}),
        put({**good, "types": ["platform", "metrics"]}),
        put({**good, "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain/x"}}),
        put({**good, "destination": {"protocol": "HTTP", "URI": "https://sandbox.localdomain:4243/"}}),
        put({**good, "destination": {"protocol": "HTTP", "URI": "http://example.com:4243/"}}),
        put({**good, "buffering": {"maxItems": 5}}),
        put({**good, "buffering": {"maxBytes": 10_000_000, "timeoutMs": 10}}),
        put({k: v for k, v in good.items() if k != "destination"}),
        put("not an object"),
        put(good, with_id=False),
        put({**good, "destination": {**DEST, "method": "POST", "encoding": "JSON"}}),
        put({**good, "schemaVersion": "2025-01-29"}),
        {"method": "PUT", "path": "/2020-08-15/logs", "body": good},
    ]
    layout.add_probe("agent", init_probes=probes)
    with LambdaEnvironment(**layout.kwargs()) as env:
        pass
    answers = [(p["status"], p["body"]) for p in layout.record("agent")["probes"]]
    for status, body in answers[:10]:
        assert (status, body["errorType"]) == (400, "ValidationError"), body
    assert "URI port is not provided" in answers[3][1]["errorMessage"]
    assert "maxBytes" in answers[7][1]["errorMessage"] and "timeoutMs" in answers[7][1]["errorMessage"]
    assert (
        answers[10] == (403, answers[10][1])
        and answers[10][1]["errorType"] == "Extension.MissingExtensionIdentifier"
    )
    assert answers[11] == (200, "OK")
    assert answers[12] == (200, "OK")  # repeating is harmless (reconfigures)
    assert answers[13][0] == 403  # Logs API after the Telemetry API: exclusive
    subs = [e["record"] for e in env.events if e["type"] == "platform.telemetrySubscription"]
    assert subs[0] == {"name": "agent", "state": "Subscribed", "types": ["function"]}


def test_max_items_bounds_every_batch(layout: Layout) -> None:
    buffering = {"maxItems": 1000, "maxBytes": 1048576, "timeoutMs": 30000}
    layout.add_probe("agent", subscribe={**ALL_TYPES, "buffering": buffering}, on_shutdown="drain")
    with LambdaEnvironment(**layout.kwargs()) as env:
        env.invoke({"lines": 2500, "line_size": 10})
        record = wait_for(lambda: len(layout.record("agent")["telemetry"]) >= 2 and layout.record("agent"))
        env.spindown()
    sizes = [len(batch["body"]) for batch in record["telemetry"]]
    assert sizes[:2] == [1000, 1000]  # full batches go out without waiting for timeoutMs
    final = layout.record("agent")
    assert all(len(batch["body"]) <= 1000 for batch in final["telemetry"])
    lines = [e for e in events_received(final) if e["type"] == "function"]
    assert len(lines) == 2500


def test_timeout_ms_sends_partial_batches(layout: Layout) -> None:
    layout.add_probe("agent", subscribe={**ALL_TYPES, "buffering": FAST}, listener_path="/custom/path?x=1")
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({"print": ["one line"]})
        record = wait_for(
            lambda: (
                any(e["type"] == "platform.runtimeDone" for e in events_received(layout.record("agent")))
                and layout.record("agent")
            ),
            timeout=3,
        )
    assert record["telemetry"][0]["path"] == "/custom/path?x=1"
    lines = [e["record"] for e in events_received(record) if e["type"] == "function"]
    assert "one line" in lines
    assert result.status == "success"


def test_init_events_are_replayed_to_each_subscriber(layout: Layout) -> None:
    layout.add_probe("early", print_before_register=["early line 1", "early line 2"], subscribe={**ALL_TYPES})
    layout.add_probe("late", subscribe={**ALL_TYPES})
    with LambdaEnvironment(**layout.kwargs()) as env:
        env.spindown()
    for name in ("early", "late"):
        received = events_received(layout.record(name))
        assert received[0]["type"] == "platform.initStart"
        ext_lines = [e["record"] for e in received if e["type"] == "extension"]
        assert ext_lines[:2] == ["early line 1", "early line 2"]
        subscribed = {e["record"]["name"] for e in received if e["type"] == "platform.telemetrySubscription"}
        assert subscribed == {"early", "late"}
        assert types_received(layout.record(name)).count("platform.initStart") == 1


def test_logs_dropped_when_listener_is_absent(layout: Layout) -> None:
    layout.add_probe("agent", subscribe={**ALL_TYPES, "buffering": FAST}, listener="none")
    with LambdaEnvironment(**layout.kwargs()) as env:
        env.invoke({"lines": 20})
        dropped = wait_for(lambda: [e for e in env.events if e["type"] == "platform.logsDropped"], timeout=5)
    record = dropped[0]["record"]
    assert record["droppedRecords"] > 0 and record["droppedBytes"] > 0
    assert record["reason"].startswith("could not send events")


def test_logs_dropped_when_listener_is_slow(layout: Layout) -> None:
    layout.add_probe("agent", subscribe={**ALL_TYPES, "buffering": FAST}, listener_delay_s=0.2)
    with LambdaEnvironment(**layout.kwargs(timeout_s=5.0)) as env:
        env.invoke({"lines": 30000, "line_size": 100})
        received = wait_for(
            lambda: [
                e for e in events_received(layout.record("agent")) if e["type"] == "platform.logsDropped"
            ],
            timeout=8,
        )
    assert received[0]["record"]["droppedRecords"] > 0
    assert "slower" in received[0]["record"]["reason"]
    assert any(e["type"] == "platform.logsDropped" for e in env.events)


@pytest.mark.parametrize("log_format", ["JSON", "Text"])
def test_function_record_shapes(layout: Layout, log_format: str) -> None:
    sub = {"types": ["platform", "function"], "buffering": FAST}
    layout.add_probe("modern", subscribe={**sub, "schemaVersion": "2025-01-29"}, on_shutdown="drain")
    layout.add_probe("legacy", subscribe={**sub, "schemaVersion": "2022-07-01"}, on_shutdown="drain")
    structured = json.dumps({"level": "WARN", "message": "structured"})
    env_vars = layout.env(AWS_LAMBDA_LOG_FORMAT=log_format)
    with LambdaEnvironment(**layout.kwargs(env=env_vars)) as env:
        rid = env.invoke({"print": ["plain text", structured], "log": ["via logging"]}).request_id
        env.spindown()
    modern = [e["record"] for e in events_received(layout.record("modern")) if e["type"] == "function"]
    legacy = [e["record"] for e in events_received(layout.record("legacy")) if e["type"] == "function"]
    assert all(isinstance(r, str) for r in legacy)
    assert "plain text" in legacy and structured in legacy
    if log_format == "Text":
        assert modern == legacy
        assert any(r.startswith("[INFO]\t") and r.endswith(f"\t{rid}\tvia logging") for r in modern)
        return
    assert all(isinstance(r, dict) for r in modern)
    plain = next(r for r in modern if r.get("message") == "plain text")
    assert plain["level"] == "INFO" and plain["requestId"] == rid and plain["timestamp"].endswith("Z")
    assert {"level": "WARN", "message": "structured"} in modern
    logged = next(r for r in modern if r.get("message") == "via logging")
    assert logged["level"] == "INFO" and logged["requestId"] == rid
    # the recorded event log keeps the newest schema's shape
    assert all(isinstance(e["record"], dict) for e in env.events if e["type"] == "function")


def test_logs_api_delivery_shapes(layout: Layout) -> None:
    sub = {"schemaVersion": "2021-03-18", "types": ["platform", "function"], "buffering": FAST}
    layout.add_probe("legacy-agent", api="logs", subscribe=sub, on_shutdown="drain")
    with LambdaEnvironment(**layout.kwargs()) as env:
        rid = env.invoke({"print": ["hello logs api"]}).request_id
        env.spindown()
    record = layout.record("legacy-agent")
    assert record["subscribe"]["status"] == 200 and record["subscribe"]["body"] == "OK"
    received = events_received(record)
    types = [e["type"] for e in received]
    assert "platform.initStart" not in types and "platform.logsSubscription" in types
    by_type = {e["type"]: e["record"] for e in received}
    assert by_type["platform.start"] == {"requestId": rid}
    assert by_type["platform.end"] == {"requestId": rid}
    assert by_type["platform.runtimeDone"] == {"requestId": rid, "status": "success"}
    assert set(by_type["platform.report"]) == {"requestId", "metrics"}
    assert "hello logs api" in [e["record"] for e in received if e["type"] == "function"]
    assert types.index("platform.start") < types.index("platform.end") < types.index("platform.report")


def test_tcp_destination_gets_ndjson(layout: Layout) -> None:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(10)
    port = server.getsockname()[1]
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        conn.settimeout(10)
        with conn:
            while chunk := conn.recv(65536):
                received.append(chunk)

    reader = threading.Thread(target=accept, daemon=True)
    reader.start()
    body = {**ALL_TYPES, "buffering": FAST, "destination": {"protocol": "TCP", "port": port}}
    layout.add_probe("agent", init_probes=[put(body)])
    try:
        with LambdaEnvironment(**layout.kwargs()) as env:
            env.invoke({"print": ["over tcp"]})
        reader.join(timeout=10)
    finally:
        server.close()
    assert layout.record("agent")["probes"][0]["status"] == 200
    events = [json.loads(line) for line in b"".join(received).splitlines()]
    assert events[0]["type"] == "platform.initStart"
    assert "over tcp" in [e["record"] for e in events if e["type"] == "function"]


def test_rie_compatible_mode_answers_not_supported(layout: Layout) -> None:
    layout.add_probe("agent", subscribe={**ALL_TYPES})
    with LambdaEnvironment(**layout.kwargs(telemetry_api_supported=False)) as env:
        assert env.invoke({}).status == "success"
    answer = layout.record("agent")["subscribe"]
    assert answer["status"] == 202 and answer["body"]["errorType"] == "Telemetry.NotSupported"
