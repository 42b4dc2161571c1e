"""The CLI contract other tools rely on: ``python -m emulator run ...`` (stdout = invoke lines)."""

from __future__ import annotations

import json

import pytest
from conftest import ALL_TYPES, FAST, Layout, run_cli

pytestmark = pytest.mark.integration


def test_run_prints_one_json_line_per_invoke(layout: Layout) -> None:
    layout.add_probe(
        "agent", print_before_register=["probe says hi"], subscribe={**ALL_TYPES, "buffering": FAST}
    )
    log = layout.root / "telemetry.jsonl"
    proc = run_cli(
        "--opt", str(layout.opt), "--task", str(layout.task), "--handler", "app.handler",
        "--event", json.dumps({"print": ["function says hi"]}), "--event", json.dumps({"fail": True}),
        "--timeout", "2", "--memory", "256", "--env", f"PROBE_DIR={layout.probe_dir}", "--env", "EXTRA=1=2",
        "--telemetry-log", str(log),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["success", "error"]
    assert all(set(line) == {"requestId", "status", "response"} for line in lines)
    assert lines[0]["response"]["requestId"] == lines[0]["requestId"]
    assert lines[0]["response"]["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert lines[1]["response"]["errorType"] == "ValueError"
    assert "[agent] probe says hi" in proc.stderr and "[function] function says hi" in proc.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    types = {e["type"] for e in events}
    assert {
        "platform.initStart",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "function",
    } <= types
    assert layout.record("agent")["env"]["EXTRA"] == "1=2"
    shutdown = layout.record("agent")["events"][-1]["body"]
    assert shutdown["eventType"] == "SHUTDOWN" and shutdown["shutdownReason"] == "spindown"


def test_run_defaults_to_one_empty_event(layout: Layout) -> None:
    proc = run_cli(
        "--opt", str(layout.opt), "--task", str(layout.task), "--handler", "app.handler", "--quiet"
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["status"] == "success"


@pytest.mark.parametrize(
    "args",
    [
        ["--task", "TASK", "--opt", "OPT"],
        ["--task", "TASK", "--opt", "OPT", "--handler", "app.handler", "--event", "{not json"],
        ["--task", "/does/not/exist", "--opt", "OPT", "--handler", "app.handler"],
        ["--task", "TASK", "--opt", "OPT", "--handler", "app.handler", "--env", "NOEQUALS"],
        ["--task", "TASK", "--opt", "OPT", "--handler", "nodot"],
        ["--task", "TASK", "--opt", "OPT", "--handler", "app.handler", "--telemetry-log", "/no/such/dir/x"],
        ["--task", "TASK", "--opt", "OPT", "--handler", "app.handler", "--timeout", "0"],
    ],
)
def test_bad_arguments_fail_clearly(layout: Layout, args: list[str]) -> None:
    args = [a.replace("TASK", str(layout.task)).replace("OPT", str(layout.opt)) for a in args]
    proc = run_cli(*args, timeout=10)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "error:" in proc.stderr


def test_the_runtime_runs_behind_aws_lambda_exec_wrapper_like_lambda() -> None:
    import sys

    from emulator.init_phase import runtime_command

    assert runtime_command("app.handler", {}) == [sys.executable, "-m", "awslambdaric", "app.handler"]
    wrapped = runtime_command("app.handler", {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrap"})
    assert wrapped[:2] == ["/opt/wrap", sys.executable]
    assert "os.environ['_HANDLER']" in wrapped[-1]  # the handler is read after the wrapper ran
