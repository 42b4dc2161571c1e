"""Lifecycle conformance: init/invoke/shutdown ordering, deadlines, tracing, resets, freeze."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from conftest import ALL_TYPES, FAST, Layout, events_received, types_received, wait_for

from emulator import LambdaEnvironment

pytestmark = pytest.mark.integration

TRACE_RE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def shutdown_events(record: dict) -> list[dict]:
    return [e["body"] for e in record["events"] if e["body"].get("eventType") == "SHUTDOWN"]


def invoke_events(record: dict) -> list[dict]:
    return [e for e in record["events"] if e["body"].get("eventType") == "INVOKE"]


def test_cold_start_event_order_and_metrics(layout: Layout) -> None:
    layout.add_probe("agent", subscribe={**ALL_TYPES, "buffering": FAST}, on_shutdown="drain")
    with LambdaEnvironment(**layout.kwargs()) as env:
        first = env.invoke({"print": ["hello from the function"]})
        second = env.invoke({})
        env.spindown()
        events = env.events
    assert first.status == second.status == "success"
    types = [e["type"] for e in events if e["type"].startswith("platform.")]
    assert types == [
        "platform.initStart",
        "platform.telemetrySubscription",
        "platform.initRuntimeDone",
        "platform.extension",
        "platform.initReport",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
    ]
    assert all(ISO_RE.match(e["time"]) for e in events)
    reports = [e["record"] for e in events if e["type"] == "platform.report"]
    assert [r["requestId"] for r in reports] == [first.request_id, second.request_id]
    cold, warm = reports
    assert cold["metrics"]["initDurationMs"] > 0 and "initDurationMs" not in warm["metrics"]
    for report in reports:
        m = report["metrics"]
        assert m["memorySizeMB"] == 128 and m["maxMemoryUsedMB"] >= 10
        assert m["billedDurationMs"] >= math.ceil(m["durationMs"])
        assert report["spans"][0]["name"] == "extensionOverhead"
    assert warm["metrics"]["billedDurationMs"] == math.ceil(warm["metrics"]["durationMs"])
    done = [e["record"] for e in events if e["type"] == "platform.runtimeDone"]
    assert [s["name"] for s in done[0]["spans"]] == ["responseLatency", "responseDuration", "runtimeOverhead"]
    assert done[0]["metrics"]["producedBytes"] > 0
    starts = [e["record"] for e in events if e["type"] == "platform.start"]
    for start, rd, rep in zip(starts, done, reports, strict=True):
        assert start["tracing"]["spanId"] == rd["tracing"]["spanId"] == rep["tracing"]["spanId"]
        assert TRACE_RE.match(start["tracing"]["value"])
    # the extension received the same stream, starting with the replayed initStart
    record = layout.record("agent")
    received = types_received(record)
    assert received[0] == "platform.initStart"
    assert [t for t in received if t.startswith("platform.")] == types
    assert "function" in received
    assert all(
        b["content_type"] == "application/json" and b["path"] == "/telemetry" for b in record["telemetry"]
    )
    assert shutdown_events(record)[0]["shutdownReason"] == "spindown"
    outcome = env.extension_outcomes["agent"]
    assert outcome.state == "Exited" and outcome.exit_code == 0 and outcome.exited_before_deadline
    assert outcome.shutdown_reason == "spindown"


def test_same_deadline_and_trace_for_runtime_and_extension(layout: Layout) -> None:
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs(timeout_s=1.5)) as env:
        before = time.time() * 1000
        result = env.invoke({})
    invoke = invoke_events(layout.record("agent"))[0]
    body = invoke["body"]
    assert body["requestId"] == result.request_id == result.response["requestId"]
    assert body["deadlineMs"] == result.response["deadlineMs"]
    assert before < body["deadlineMs"] <= before + 1500 + 1000
    assert body["tracing"]["type"] == "X-Amzn-Trace-Id"
    assert body["tracing"]["value"] == result.response["trace"]
    assert TRACE_RE.match(body["tracing"]["value"])
    assert body["invokedFunctionArn"].endswith(":function:sample-function")
    assert invoke["headers"]["Content-Type"].startswith("application/json")
    assert "Lambda-Extension-Event-Identifier" in invoke["headers"]


def test_function_error_is_not_a_reset(layout: Layout) -> None:
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs()) as env:
        pid_before = env.pids["runtime"]
        result = env.invoke({"fail": True})
        after = env.invoke({})
        assert env.pids["runtime"] == pid_before
    assert result.status == "error"
    assert result.response["errorType"] == "ValueError"
    assert result.response["errorMessage"] == "probe failure"
    assert after.status == "success"
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    assert report["status"] == "error" and report["errorType"].startswith("Runtime.")
    assert [e["type"] for e in env.events].count("platform.initStart") == 1
    assert [s["shutdownReason"] for s in shutdown_events(layout.record("agent"))] == ["spindown"]


def test_timeout_resets_with_reason_timeout_and_suppressed_init(layout: Layout) -> None:
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs(timeout_s=1.0)) as env:
        timed_out = env.invoke({"sleep": 5})
        assert not env.initialized
        outcome = env.extension_outcomes["agent"]
        recovered = env.invoke({})
    assert timed_out.status == "timeout"
    assert timed_out.response == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {timed_out.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert outcome.shutdown_reason == "timeout" and outcome.exited_before_deadline
    assert recovered.status == "success"
    done = [e["record"] for e in env.events if e["type"] == "platform.runtimeDone"]
    assert done[0]["status"] == "timeout" and done[0]["requestId"] == timed_out.request_id
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    assert report["status"] == "timeout" and report["metrics"]["durationMs"] >= 1000
    phases = [e["record"]["phase"] for e in env.events if e["type"] == "platform.initStart"]
    assert phases == ["init", "invoke"]


def test_extension_not_returning_to_next_times_out_the_phase(layout: Layout) -> None:
    layout.add_probe("stuck", on_invoke="hang")
    with LambdaEnvironment(**layout.kwargs(timeout_s=1.0)) as env:
        result = env.invoke({})
        outcome = env.extension_outcomes["stuck"]
    # the invoker got the function's answer at once; the phase itself timed out
    assert result.status == "success"
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    assert report["status"] == "timeout"
    assert result.duration_ms < report["metrics"]["durationMs"]
    assert outcome.state == "ShutdownFailed" and outcome.exited_before_deadline is False


def test_runtime_crash_is_runtime_exit_error_and_failure_reset(layout: Layout) -> None:
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs()) as env:
        crashed = env.invoke({"crash": 7})
        outcome = env.extension_outcomes["agent"]
        recovered = env.invoke({})
    assert crashed.status == "error" and crashed.error_type == "Runtime.ExitError"
    assert crashed.response["errorType"] == "Runtime.ExitError"
    assert "exit status 7" in crashed.response["errorMessage"]
    assert outcome.shutdown_reason == "failure"
    assert recovered.status == "success"
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    assert report["status"] == "error" and report["errorType"] == "Runtime.ExitError"


@pytest.mark.parametrize("behaviour", ["crash", "exit0"])
def test_extension_exit_during_invoke_is_extension_crash(layout: Layout, behaviour: str) -> None:
    layout.add_probe("fragile", on_invoke=behaviour)
    layout.add_probe("witness")
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({"sleep": 0.5})
        outcomes = env.extension_outcomes
    assert result.status == "error" and result.response["errorType"] == "Extension.Crash"
    assert outcomes["fragile"].error_type == "Extension.Crash"
    assert outcomes["fragile"].exit_code == (3 if behaviour == "crash" else 0)
    assert outcomes["witness"].shutdown_reason == "failure"
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    assert report["status"] == "error" and report["errorType"] == "Extension.Crash"


def test_extension_exit_error_fails_the_invoke(layout: Layout) -> None:
    layout.add_probe("quitter", on_invoke="exit_error")
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({"sleep": 0.5})
    assert result.status == "error" and result.response["errorType"] == "Extension.ExitError"
    # As with init/error: the probe may be killed before writing the 202 down; the accepted
    # report shows in the extension's outcome.
    assert env.extension_outcomes["quitter"].error_type == "Extension.ExitError"


def test_shutdown_deadline_budget_and_sigkill_of_survivors(layout: Layout) -> None:
    layout.add_probe("polite")
    layout.add_probe("stubborn", on_shutdown="hang")
    layout.add_probe("invoke-only", events=["INVOKE"])
    with LambdaEnvironment(**layout.kwargs()) as env:
        env.invoke({})
        started = time.time() * 1000
        env.spindown()
        finished = time.time() * 1000
        outcomes = env.extension_outcomes
    polite = layout.record("polite")
    shutdown = polite["events"][-1]
    deadline = shutdown["body"]["deadlineMs"]
    assert shutdown["body"]["eventType"] == "SHUTDOWN"
    # deadline = start of shutdown + 2,000 ms (the runtime's SIGTERM share comes out of it), so
    # the shutdown began inside spindown() and the event arrived after that start
    assert started - 1 <= deadline - 2000 <= finished  # deadlineMs is whole milliseconds
    assert deadline - shutdown["time_ms"] <= 2000
    assert "Lambda-Extension-Event-Identifier" not in shutdown["headers"]
    assert outcomes["polite"].exited_before_deadline and outcomes["polite"].state == "Exited"
    assert outcomes["stubborn"].state == "ShutdownFailed" and outcomes["stubborn"].exit_code == -9
    assert outcomes["invoke-only"].shutdown_reason is None and outcomes["invoke-only"].exit_code == -9


def test_extension_overhead_is_measured(layout: Layout) -> None:
    layout.add_probe("slowpoke", on_invoke="sleep:0.3")
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({})
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    span = report["spans"][0]
    assert span["name"] == "extensionOverhead" and span["durationMs"] >= 250
    assert report["metrics"]["durationMs"] >= 300
    assert result.duration_ms < report["metrics"]["durationMs"]


def test_max_memory_used_comes_from_the_processes(layout: Layout) -> None:
    with LambdaEnvironment(**layout.kwargs(memory_mb=512)) as env:
        env.invoke({"alloc_mb": 80})
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    assert report["metrics"]["memorySizeMB"] == 512
    assert report["metrics"]["maxMemoryUsedMB"] >= 80


def test_init_failure_then_suppressed_init_in_the_invoke(layout: Layout) -> None:
    (layout.task / "broken.py").write_text(
        "import no_such_module_anywhere\n\ndef handler(e, c):\n    return 1\n"
    )
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs(handler="broken.handler")) as env:
        assert not env.initialized
        first_outcome = env.extension_outcomes["agent"]
        result = env.invoke({})
    assert first_outcome.shutdown_reason == "failure"
    assert result.status == "error"
    assert result.response["errorType"] == "Runtime.ImportModuleError"
    reports = [e["record"] for e in env.events if e["type"] == "platform.initReport"]
    assert [(r["phase"], r["status"], r["errorType"]) for r in reports] == [
        ("init", "error", "Runtime.ImportModuleError"),
        ("invoke", "error", "Runtime.ImportModuleError"),
    ]


def test_init_timeout_when_an_extension_never_registers(layout: Layout) -> None:
    layout.add_probe("sleeper", before_register="never")
    with LambdaEnvironment(**layout.kwargs(init_timeout_s=0.5)) as env:
        assert not env.initialized
        assert "runtime" not in env.pids
    report = next(e["record"] for e in env.events if e["type"] == "platform.initReport")
    assert report["status"] == "timeout"
    assert env.extension_outcomes["sleeper"].registered is False


def test_extension_init_error_fails_init(layout: Layout) -> None:
    layout.add_probe("misconfigured", init_error=True)
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({})
    # The environment kills the extension right after accepting its init/error, possibly before
    # the probe wrote the 202 down; the accepted report shows in the extension's outcome.
    assert env.extension_outcomes["misconfigured"].error_type == "Extension.InitError"
    assert result.status == "error" and result.response["errorType"] == "Extension.InitError"
    ext = next(e["record"] for e in env.events if e["type"] == "platform.extension")
    assert ext["state"] == "InitError" and ext["errorType"] == "Extension.InitError"


def test_extension_exiting_before_register_is_a_crash(layout: Layout) -> None:
    layout.add_probe("quick-exit", before_register="exit")
    with LambdaEnvironment(**layout.kwargs()) as env:
        assert not env.initialized
    report = next(e["record"] for e in env.events if e["type"] == "platform.initReport")
    assert report["status"] == "error" and report["errorType"] == "Extension.Crash"


def test_freeze_stops_every_process_between_invokes(layout: Layout) -> None:
    layout.add_probe("agent", subscribe={**ALL_TYPES, "buffering": FAST}, on_shutdown="drain")
    with LambdaEnvironment(**layout.kwargs(freeze=True)) as env:
        first = env.invoke({})
        pids = env.pids
        assert set(pids) == {"agent", "runtime"}
        for pid in pids.values():
            stat = Path(f"/proc/{pid}/stat").read_text()
            assert stat.rsplit(")", 1)[1].split()[0] == "T"
        thawed_at = time.time() * 1000
        second = env.invoke({})
        env.spindown()
    assert first.status == second.status == "success"
    record = layout.record("agent")
    # platform.report of invoke 1 is produced after the extension's next: it arrives after the thaw
    batch = next(
        b
        for b in record["telemetry"]
        if any(
            e["type"] == "platform.report" and e["record"]["requestId"] == first.request_id for e in b["body"]
        )
    )
    assert batch["time_ms"] >= thawed_at
    reported = {e["record"]["requestId"] for e in events_received(record) if e["type"] == "platform.report"}
    assert reported == {first.request_id, second.request_id}


def test_context_manager_leaves_no_process_behind(layout: Layout) -> None:
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs(freeze=True)) as env:
        env.invoke({})
        pids = list(env.pids.values())
    for pid in pids:
        wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=3)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_extension_crash_while_idle_resets_the_environment(layout: Layout) -> None:
    layout.add_probe("fragile", idle_exit_after_s=0.2)
    layout.add_probe("witness")
    with LambdaEnvironment(**layout.kwargs()) as env:
        assert env.invoke({}).status == "success"
        wait_for(lambda: not env.initialized, timeout=5)
        assert env.extension_outcomes["witness"].shutdown_reason == "failure"
        assert env.extension_outcomes["fragile"].error_type == "Extension.Crash"
        layout.add_probe("fragile")  # behave from now on
        assert env.invoke({}).status == "success"
    phases = [e["record"]["phase"] for e in env.events if e["type"] == "platform.initStart"]
    assert phases == ["init", "invoke"]


def test_runtime_exit_while_idle_resets_the_environment(layout: Layout) -> None:
    layout.add_probe("witness")
    with LambdaEnvironment(**layout.kwargs()) as env:
        assert env.invoke({"exit_later": 0.2}).status == "success"
        wait_for(lambda: not env.initialized, timeout=5)
        assert env.extension_outcomes["witness"].shutdown_reason == "failure"
        assert env.invoke({}).status == "success"


def test_spindown_then_invoke_is_a_new_cold_start(layout: Layout) -> None:
    layout.add_probe("agent")
    with LambdaEnvironment(**layout.kwargs()) as env:
        first_pids = env.pids
        env.spindown()
        assert env.pids == {}
        result = env.invoke({})
        second_pids = env.pids
    assert result.status == "success"
    assert set(first_pids) == set(second_pids) == {"agent", "runtime"}
    assert not set(first_pids.values()) & set(second_pids.values())
    starts = [e["record"]["phase"] for e in env.events if e["type"] == "platform.initStart"]
    assert starts == ["init", "init"]
    report = next(e["record"] for e in env.events if e["type"] == "platform.report")
    assert report["metrics"]["initDurationMs"] > 0
    assert [o.shutdown_reason for o in env.extension_history] == ["spindown", "spindown"]


def test_response_over_6_mib_is_rejected(layout: Layout) -> None:
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({"return_bytes": 7 * 1024 * 1024})
        small = env.invoke({"return_bytes": 1024})
    assert result.status == "error"
    assert result.response["errorType"] == "Function.ResponseSizeTooLarge"
    assert small.status == "success" and small.response == "z" * 1024


def test_caller_supplied_trace_header_reaches_runtime_and_extensions(layout: Layout) -> None:
    layout.add_probe("agent")
    header = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=89abcdef01234567;Sampled=1"
    with LambdaEnvironment(**layout.kwargs()) as env:
        result = env.invoke({}, trace_header=header)
    assert result.response["trace"] == header
    assert invoke_events(layout.record("agent"))[0]["body"]["tracing"]["value"] == header
    start = next(e["record"] for e in env.events if e["type"] == "platform.start")
    assert start["tracing"]["value"] == header and len(start["tracing"]["spanId"]) == 16
