"""Managed Instances mode: concurrent invocations in one environment, as Lambda runs them there.

Concurrency is shown, never timed: the function meets its peers at a barrier (files in a
folder), which only invocations in flight together can all pass. The probe extension sees the
platform as a third-party extension would (register answer, subscription answer, telemetry,
SHUTDOWN).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, Layout, events_received, run_cli

from emulator import LambdaEnvironment

pytestmark = pytest.mark.integration

SUBSCRIBE = {"schemaVersion": "2025-01-29", "types": ["platform", "function"], "buffering": FAST}


def barrier(folder: Path, count: int, timeout: float = 20, leave: bool = False) -> dict[str, Any]:
    return {"barrier": {"dir": str(folder), "count": count, "timeout": timeout, "leave": leave}}


def test_concurrent_invocations_share_one_environment(layout: Layout) -> None:
    layout.add_probe("agent", events=["SHUTDOWN"], subscribe=SUBSCRIBE, on_shutdown="drain", drain_reports=4)
    meet = barrier(layout.root / "meet", 4)
    with LambdaEnvironment(**layout.kwargs(managed_instances=True, timeout_s=30)) as env:
        results = env.invoke_all([{**meet, "log": [f"request {n}"]} for n in range(4)])
        events = env.events
    assert [r.status for r in results] == ["success"] * 4
    responses = [r.response for r in results]
    assert [response["peers"] for response in responses] == [4, 4, 4, 4]
    assert len({response["pid"] for response in responses}) == 4  # one worker process per request
    function_env = responses[0]["env"]
    assert function_env["AWS_LAMBDA_MAX_CONCURRENCY"] == "4"
    assert function_env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "lambda-managed-instances"

    types = [e["type"] for e in events]
    assert "platform.runtimeDone" not in types
    # Every invocation started before the first one could answer: their events interleave.
    assert types.index("platform.report") > max(i for i, t in enumerate(types) if t == "platform.start")
    init = [e["record"] for e in events if e["type"] in ("platform.initStart", "platform.initReport")]
    assert {record["initializationType"] for record in init} == {"lambda-managed-instances"}
    reports = {e["record"]["requestId"]: e["record"] for e in events if e["type"] == "platform.report"}
    assert set(reports) == {r.request_id for r in results}
    for report in reports.values():
        assert report["status"] == "success"
        assert set(report["metrics"]) == {"durationMs"}
        assert [span["name"] for span in report["spans"]] == ["responseLatency", "responseDuration"]

    record = layout.record("agent")
    assert record["register"]["status"] == 200
    assert record["subscribe"]["status"] == 200
    extension_env = record["env"]
    assert extension_env["AWS_LAMBDA_MAX_CONCURRENCY"] == "4"
    assert extension_env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "lambda-managed-instances"
    received = events_received(record)
    assert {e["record"]["requestId"] for e in received if e["type"] == "platform.report"} == set(reports)
    # JSON log format by default: function records arrive as objects carrying their request id.
    logs = [e["record"] for e in received if e["type"] == "function"]
    assert {log["message"]: log["requestId"] for log in logs} == {
        f"request {n}": results[n].request_id for n in range(4)
    }
    shutdowns = [e["body"] for e in record["events"] if e["body"].get("eventType") == "SHUTDOWN"]
    assert [event["shutdownReason"] for event in shutdowns] == ["spindown"]
    assert len(record["events"]) == 1  # SHUTDOWN only: no INVOKE event ever


def test_each_worker_writes_whole_lines(layout: Layout) -> None:
    """Every worker starts a line, then all meet, then each ends its line: on one shared stdout
    the halves would interleave; each worker's own output stream keeps every line whole."""
    meet = barrier(layout.root / "split", 3)
    events = [{**meet, "split_line": [f"start-{n} ", f"end-{n}"]} for n in range(3)]
    with LambdaEnvironment(**layout.kwargs(managed_instances=True, concurrency=3, timeout_s=30)) as env:
        results = env.invoke_all(events)
        lines = [line for source, line in env.output_lines if source == "function"]
    assert [r.status for r in results] == ["success"] * 3
    assert [r.response["peers"] for r in results] == [3, 3, 3]
    assert sorted(line for line in lines if "start-" in line or "end-" in line) == [
        f"start-{n} end-{n}" for n in range(3)
    ]


def test_no_more_than_concurrency_invocations_in_flight(layout: Layout) -> None:
    # The barrier asks for 3 but at most 2 may be in flight: each waits out its short timeout.
    crowd = barrier(layout.root / "crowd", 3, timeout=0.5, leave=True)
    with LambdaEnvironment(**layout.kwargs(managed_instances=True, concurrency=2, timeout_s=10)) as env:
        results = env.invoke_all([crowd] * 4)
    assert [r.status for r in results] == ["success"] * 4
    assert max(r.response["peers"] for r in results) <= 2
    assert results[0].response["env"]["AWS_LAMBDA_MAX_CONCURRENCY"] == "2"


def test_extensions_may_register_for_shutdown_only(layout: Layout) -> None:
    layout.add_probe("classic", events=["INVOKE", "SHUTDOWN"])
    with LambdaEnvironment(**layout.kwargs(managed_instances=True, init_timeout_s=5)) as env:
        assert not env.initialized  # the refused extension exits, which fails init
    register = layout.record("classic")["register"]
    assert register["status"] == 403
    assert register["body"]["errorType"] == "Extension.InvalidEventType"


def test_telemetry_schema_2025_01_29_only_and_no_logs_api(layout: Layout) -> None:
    layout.add_probe(
        "old-schema", events=["SHUTDOWN"], subscribe={**SUBSCRIBE, "schemaVersion": "2022-12-13"}
    )
    layout.add_probe(
        "logs-api", events=["SHUTDOWN"], subscribe={**SUBSCRIBE, "schemaVersion": "2021-03-18"}, api="logs"
    )
    with LambdaEnvironment(**layout.kwargs(managed_instances=True)) as env:
        assert env.invoke({}).status == "success"
    old = layout.record("old-schema")["subscribe"]
    assert old["status"] == 400 and old["body"]["errorType"] == "ValidationError"
    assert "2025-01-29" in old["body"]["errorMessage"]
    assert layout.record("logs-api")["subscribe"]["status"] == 404


def test_a_timed_out_invocation_resets_the_environment_once_idle(layout: Layout) -> None:
    with LambdaEnvironment(**layout.kwargs(managed_instances=True, timeout_s=1)) as env:
        slow, quick = env.invoke_all([{"sleep": 30}, {}])
        after = env.invoke({})
        events = env.events
    assert slow.status == "timeout" and slow.error_type == "Sandbox.Timedout"
    assert quick.status == "success"
    assert after.status == "success"
    reports = {e["record"]["requestId"]: e["record"] for e in events if e["type"] == "platform.report"}
    assert reports[slow.request_id]["status"] == "timeout"
    starts = [e["record"]["phase"] for e in events if e["type"] == "platform.initStart"]
    assert starts == ["init", "invoke"]  # the stuck worker's environment was torn down and re-initialised


def test_freeze_is_refused_on_managed_instances(layout: Layout) -> None:
    with pytest.raises(ValueError, match="freeze"):
        LambdaEnvironment(**layout.kwargs(managed_instances=True, freeze=True))


def test_cli_dispatches_the_events_concurrently(layout: Layout) -> None:
    meet = barrier(layout.root / "cli-meet", 2)
    proc = run_cli(
        "--opt", str(layout.opt), "--task", str(layout.task), "--handler", "app.handler",
        "--managed-instances", "--concurrency", "2", "--timeout", "30", "--quiet",
        "--event", json.dumps(meet), "--event", json.dumps(meet), "--env", f"PROBE_DIR={layout.probe_dir}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["success", "success"]
    assert [line["response"]["peers"] for line in lines] == [2, 2]


def test_a_spindown_after_a_timeout_leaves_no_reset_pending(layout: Layout) -> None:
    with LambdaEnvironment(**layout.kwargs(managed_instances=True, timeout_s=1)) as env:
        assert env.invoke({"sleep": 30}).status == "timeout"
        env.spindown()  # tears the stuck worker down already
        results = [env.invoke({}), env.invoke({})]
        events = env.events
    assert [r.status for r in results] == ["success", "success"]
    starts = [e["record"]["phase"] for e in events if e["type"] == "platform.initStart"]
    assert starts == ["init", "init"]  # the cold start after spindown, and no reset after it
