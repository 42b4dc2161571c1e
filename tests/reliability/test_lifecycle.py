"""Lifecycle faults: SHUTDOWN arriving while an export hangs, timeouts and crashes with a backend
that never answers, and an init that fails once and is retried.

The SHUTDOWN deadline is the hard limit: an extension still running at the deadline is SIGKILLed
by Lambda, and everything it held is lost without a count. Every run must exit 0 before it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver
from tests.integration.helpers import invocation_spans, sidecar_env
from tests.reliability.recorder import CaseRecord
from tests.reliability.support import (
    EXTENSION,
    FUNCTION,
    dropped_by_reason,
    make_function,
    quiet,
    scaled,
    shutdown_summaries,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_shutdown_mid_export_with_a_hanging_backend(
    built_layer: Path, tmp_path: Path, case: CaseRecord
) -> None:
    """Export budget larger than the function timeout and a backend that never answers: the
    invoke's flush is still running when the platform times the invoke out and sends SHUTDOWN."""
    runs = scaled(2, cap=6)
    with OtlpHttpReceiver() as rx:
        rx.hang()
        env = sidecar_env(
            rx.endpoint, tmp_path, SIDECAR_EXPORT_BUDGET_MS="5000", OTEL_EXPORTER_OTLP_TIMEOUT="10000"
        )
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, timeout_s=1.5, echo_output=quiet
        ) as lam:
            results = []
            for n in range(runs):
                results.append(lam.invoke({"tag": "mid", "n": n, "sleep": 0.3}))
                lam.spindown()
            history = lam.extension_history
            summaries = shutdown_summaries(lam)
            reasons = [o.shutdown_reason for o in history]
    drops = dropped_by_reason(summaries)
    case.set(
        "Lifecycle faults",
        "SHUTDOWN while every export hangs (export budget 5 s > function timeout 1.5 s)",
        load=f"{runs} environments, each 1 invoke then SHUTDOWN",
        faults="backend accepts and never answers; shutdown reasons: "
        + ", ".join(sorted({str(r) for r in reasons})),
        lost=f"all telemetry of these runs, counted: {drops}",
    )
    case.figure(
        runs=len(history),
        exited_before_deadline=sum(1 for o in history if o.exited_before_deadline),
        exit_codes=sorted({o.exit_code for o in history if o.exit_code is not None}),
        dropped=drops,
    )
    assert all(r.status == "success" for r in results), [r.response for r in results]
    assert len(history) == runs
    assert all(o.exit_code == 0 and o.exited_before_deadline for o in history), history
    assert sum(drops.values()) > 0 and set(drops) <= {"shutdown_deadline", "queue_full"}, drops


def test_timeouts_and_crashes_with_a_hanging_backend(
    built_layer: Path, tmp_path: Path, case: CaseRecord
) -> None:
    cycles = scaled(2, cap=5)
    with OtlpHttpReceiver() as rx:
        rx.hang()
        env = sidecar_env(rx.endpoint, tmp_path)
        with LambdaEnvironment(
            built_layer,
            make_function(tmp_path),
            "app.handler",
            env=env,
            timeout_s=5.0,  # far above what the succeeding invoke needs on a loaded machine
            freeze=True,
            echo_output=quiet,
        ) as lam:
            statuses = []
            for n in range(cycles):
                statuses.append(lam.invoke({"tag": "lf", "n": n, "sleep": 10}).status)
                statuses.append(lam.invoke({"tag": "lf", "n": n, "crash": True}).status)
                statuses.append(lam.invoke({"tag": "lf", "n": n}).status)
            lam.spindown()
            history = lam.extension_history
    case.set(
        "Lifecycle faults",
        "function timeouts and runtime crashes, backend hanging",
        load=f"{3 * cycles} invokes, freeze",
        faults=f"{cycles} timeouts + {cycles} crashes (SHUTDOWN timeout/failure), backend never answers",
        lost="telemetry of the hung backend, counted as dropped at each SHUTDOWN",
    )
    case.figure(
        shutdowns=len(history),
        exited_before_deadline=sum(1 for o in history if o.exited_before_deadline),
        reasons=sorted({str(o.shutdown_reason) for o in history}),
    )
    assert statuses == ["timeout", "error", "success"] * cycles
    assert len(history) == 2 * cycles + 1
    assert all(o.exit_code == 0 and o.exited_before_deadline for o in history), history


FAIL_ONCE = (
    """
import os
_marker = os.path.join(os.environ["MARKER_DIR"], "init-failed-once")
if not os.path.exists(_marker):
    open(_marker, "w").close()
    raise RuntimeError("init fails the first time")
"""
    + FUNCTION
)


def test_init_retried_after_a_failed_init(built_layer: Path, tmp_path: Path, case: CaseRecord) -> None:
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, MARKER_DIR=str(tmp_path))
        task = make_function(tmp_path, FAIL_ONCE)
        with LambdaEnvironment(built_layer, task, "app.handler", env=env, echo_output=quiet) as lam:
            first_init_ok = lam.initialized
            results = [lam.invoke({"tag": "init", "n": n}) for n in range(3)]
            lam.spindown()
            history = lam.extension_history
            init_reports = lam.events_of("platform.initReport")
        spans = invocation_spans(rx.spans())
        names = [s.name for s in rx.spans()]
    case.set(
        "Lifecycle faults",
        "init fails once (function init error), retried inside the first invoke",
        load="1 failed init, 1 init retried as phase `invoke`, 3 invokes",
        faults="Runtime.Unknown during the cold start",
        lost="nothing: spans of every invoke and both init phases exported",
    )
    case.figure(
        init_reports=[r["record"].get("status") for r in init_reports],
        extension_runs=len(history),
        exited_before_deadline=sum(1 for o in history if o.exited_before_deadline),
    )
    assert not first_init_ok
    assert [r.status for r in results] == ["success"] * 3
    assert {r.request_id for r in results} <= set(spans)
    assert sum(1 for n in names if n.startswith("init")) >= 1
    assert all(o.exit_code == 0 and o.exited_before_deadline for o in history), history
    assert len(history) == 2
    assert sorted({o.name for o in history}) == [EXTENSION]


def test_the_extension_exits_without_interpreter_finalisation(built_layer: Path) -> None:
    """Finalisation (module teardown, GC of a large heap) took 100+ ms on a busy host and pushed
    the exit past the SHUTDOWN deadline; `__main__` exits with `os._exit` once all is closed."""
    probe = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('FINALISED', flush=True))\n"
        "sys.argv = ['lambda-sidecar', '--version']\n"
        "runpy.run_module('extension', run_name='__main__', alter_sys=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-E", "-S", "-c", probe],
        cwd=built_layer / "lambda-sidecar",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "lambda-sidecar" in done.stdout
    assert "FINALISED" not in done.stdout
