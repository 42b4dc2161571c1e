"""The cold-start cost measurement (bench/cold_start.py, bench/common.py): CPU of a process tree
from /proc, the figures at exit, the translation to Lambda memory sizes, and one real cold start
of each configuration. No timing is asserted: the processes below burn a fixed amount of CPU
time (they watch their own `os.times()`), so what /proc must show is known."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import common
from bench.cold_start import init_durations

#: Burns at least `seconds` of its own CPU time, then prints "done" and waits for a line on stdin.
BURNER = """
import os, sys
seconds = float(sys.argv[1])
while sum(os.times()[:2]) < seconds:
    pass
print("done", flush=True)
sys.stdin.readline()
"""
#: Starts a burner as its child, then waits for a line and passes it on.
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {BURNER!r}, "0.2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "done\\n"
print("ready", flush=True)
line = sys.stdin.readline()
child.stdin.write(line); child.stdin.flush(); child.wait()
"""


def test_tree_cpu_counts_live_descendants_and_waited_children() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == "ready\n"
        assert len(common.descendants(proc.pid)) == 1
        live = common.proc_tree_cpu_s(proc.pid)
        assert live >= 0.2  # the grandchild's CPU, while it is alive
        sampler = common.ExitSampler(proc.pid)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
        cpu, hwm_mb = sampler.finish()
        assert cpu >= 0.2  # after it was waited for: the parent's cutime/cstime
        assert hwm_mb > 1
    finally:
        proc.kill()
        proc.wait()
    assert common.proc_tree_cpu_s(proc.pid) != common.proc_tree_cpu_s(proc.pid)  # gone: NaN


def test_cpu_seconds_translate_by_the_memory_share() -> None:
    assert common.billed_s_for_cpu(0.1, 1769) == pytest.approx(0.1)
    assert common.billed_s_for_cpu(0.1, 128) == pytest.approx(0.1 * 1769 / 128)
    assert common.billed_s_for_cpu(0.1, 512) == pytest.approx(0.1 * 1769 / 512)
    assert common.billed_s_for_cpu(0.1, 3008) == pytest.approx(0.1)  # one thread uses one vCPU at most


@pytest.mark.integration
def test_one_cold_start_of_each_configuration_has_its_costs(built_layer: Path) -> None:
    out = init_durations(1)
    costs = out["extension_cost_samples"]
    for c in ("null", "sidecar"):
        (first,), (shutdown,), (hwm,) = (
            costs["cpu_first_s"][c],
            costs["cpu_shutdown_s"][c],
            costs["hwm_mb"][c],
        )
        assert 0 <= first <= shutdown, c  # the same process, read later
        assert hwm > 1, c
    assert costs["cpu_shutdown_s"]["sidecar"][0] > 0  # it imports and starts far more than one tick's work
    assert out["first_export_seen"] == 1
    assert set(out["translated"]) == {"128", "512", "1769"}
    small, full = out["translated"]["128"]["sidecar"], out["translated"]["1769"]["sidecar"]
    assert small["cpu_shutdown_billed_s"] == pytest.approx(full["cpu_shutdown_billed_s"] * 1769 / 128)
