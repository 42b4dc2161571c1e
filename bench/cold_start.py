"""Cold start: Init Duration with no extension, the null extension and lambda-sidecar; launch-to-register.

    python -m bench.cold_start [--quick] [--rounds N]

Init Duration is `platform.initReport.metrics.durationMs` of the minimal function (sample_functions/
minimal) in the emulator; each configuration keeps its own environment and is cold-started
(SHUTDOWN spindown + invoke) once per round, round-robin with rotating order. lambda-sidecar runs
its default configuration: OTLP/HTTP to a healthy receiver (separate process), cache on with two
secrets prefetched from moto (separate process).

Since the extension answers init before its heavy imports (extension/lifecycle/early_next.py),
part of its start-up moves into the first invoke; so every cold start also records that first
(cold) invoke: the function's own run (`platform.runtimeDone` durationMs), the invoke phase
(`platform.report` durationMs), its `extensionOverhead` span, billed ms (init + invoke phase, as
the emulator bills), the caller-seen latency of the invoke alone and with init (a cold caller's wait).

Launch-to-register is measured outside the emulator, against a one-shot fake Extensions API in
this process: time from `Popen` of the launcher to the arrival of the complete `/register`
request head; the baseline is the whole life of `python3 -c pass` (Popen to exit), as the target
is stated, and the same with our interpreter options (`-E -S -B -X frozen_modules=on`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    BASE_PY,
    MINIMAL_FN,
    NULL_LAYER,
    RESULTS,
    TRANSLATE_MB,
    ExitSampler,
    Moto,
    Sink,
    baseline_env,
    billed_s_for_cpu,
    empty_opt,
    ensure_layer,
    extension_overhead_ms,
    free_port,
    log,
    pct,
    proc_tree_cpu_s,
    ratio,
    rotated,
    sidecar_env,
    summary,
    write_result,
)

CONFIGS = ("none", "null", "sidecar")
#: What is recorded of each cold start's first invoke (ms), see the module docstring.
FIRST_INVOKE = (
    "function_ms",
    "invoke_phase_ms",
    "extension_overhead_ms",
    "billed_ms",
    "caller_ms",
    "first_response_ms",
)
#: Per cold start, of each extension's process (and children) from /proc: CPU seconds from launch
#: until it is back in `/event/next` after the first invoke (and, for lambda-sidecar, after its
#: first export reached the receiver), CPU seconds until it exited at SHUTDOWN, and VmHWM (MB).
COSTS = ("cpu_first_s", "cpu_shutdown_s", "hwm_mb")
EXTENSIONS = ("null", "sidecar")
EXTENSION_NAMES = {"null": "null-extension", "sidecar": "lambda-sidecar"}
#: How long to wait for lambda-sidecar's first export after the first invoke.
FIRST_EXPORT_WAIT_S = 5.0
_READY = re.compile(r"ready: registered in ([\d.]+) ms, started in ([\d.]+) ms")
_PREFETCH = re.compile(r"cache prefetch: (\d+) ok, (\d+) failed in ([\d.]+) ms")
#: Summaries of the last full runs (see `append_history`).
HISTORY = RESULTS / "cold_start_history.json"
HISTORY_KEEP = 10
#: How long to wait after the first invoke for the prefetch's log line (it may finish after the phase).
PREFETCH_WAIT_S = 3.0


def init_durations(rounds: int) -> dict[str, Any]:
    from emulator import LambdaEnvironment

    samples: dict[str, list[float]] = {config: [] for config in CONFIGS}
    first: dict[str, dict[str, list[float]]] = {
        measure: {config: [] for config in CONFIGS} for measure in FIRST_INVOKE
    }
    ready: list[tuple[float, float]] = []
    prefetch_ok: list[int] = []
    prefetch_ms: list[float] = []
    prefetch_after_phase = 0
    lines: list[str] = []
    costs: dict[str, dict[str, list[float]]] = {
        measure: {config: [] for config in EXTENSIONS} for measure in COSTS
    }
    first_export_seen = 0

    def capture(source: str, line: str) -> None:
        if source == "lambda-sidecar":
            lines.append(line)

    layer = ensure_layer()
    with Sink() as sink, Moto() as moto, empty_opt() as none_opt:
        opts = {"none": none_opt, "null": NULL_LAYER, "sidecar": layer}
        envs = {
            "none": baseline_env(moto),
            "null": baseline_env(moto),
            "sidecar": sidecar_env(sink, moto),
        }
        lams = {
            config: LambdaEnvironment(
                opts[config], MINIMAL_FN, "app.handler", env=envs[config], echo_output=capture
            )
            for config in CONFIGS
        }
        try:
            for config in CONFIGS:
                lams[config].start()  # first cold start of each: warms the page cache, not counted
                lams[config].invoke({})
                lams[config].spindown()
            for round_index in range(rounds):
                for config in rotated(CONFIGS, round_index):
                    lam = lams[config]
                    lines.clear()
                    exports_before = int(sink.stats()["requests"])
                    result = lam.invoke({})
                    init = lam.events_of("platform.initReport")[-1]["record"]
                    report = lam.events_of("platform.report")[-1]["record"]
                    if result.status != "success" or init["status"] != "success":
                        raise RuntimeError(f"{config}: cold start failed: {result} {init}")
                    samples[config].append(float(init["metrics"]["durationMs"]))
                    done = [
                        e["record"]
                        for e in lam.events_of("platform.runtimeDone")
                        if e["record"].get("requestId") == result.request_id
                    ]
                    first["function_ms"][config].append(float(done[-1]["metrics"]["durationMs"]))
                    first["invoke_phase_ms"][config].append(float(report["metrics"]["durationMs"]))
                    first["extension_overhead_ms"][config].append(extension_overhead_ms(report))
                    first["billed_ms"][config].append(float(report["metrics"]["billedDurationMs"]))
                    first["caller_ms"][config].append(float(result.duration_ms))
                    # the emulator times the invoke from the end of init: add init for the caller's wait
                    first["first_response_ms"][config].append(samples[config][-1] + float(result.duration_ms))
                    if config == "sidecar":
                        in_phase = any(_PREFETCH.search(line) for line in list(lines))
                        wait_until = time.monotonic() + PREFETCH_WAIT_S
                        while not any(_PREFETCH.search(line) for line in list(lines)):
                            if time.monotonic() > wait_until:
                                break
                            time.sleep(0.02)
                        prefetch_after_phase += not in_phase
                        for line in list(lines):
                            if measure := _READY.search(line):
                                ready.append((float(measure.group(1)), float(measure.group(2))))
                            if measure := _PREFETCH.search(line):
                                prefetch_ok.append(int(measure.group(1)))
                                prefetch_ms.append(float(measure.group(3)))
                    if config != "none":
                        pid = lam.pids[EXTENSION_NAMES[config]]
                        wait_for = exports_before if config == "sidecar" else -1

                        def exported_past(n: int = wait_for) -> bool:
                            return int(sink.stats()["requests"]) > n

                        cpu_first, exported = _cpu_back_in_next(pid, exported_past)
                        sampler = ExitSampler(pid)
                        lam.spindown()
                        cpu_shutdown, hwm_mb = sampler.finish()
                        costs["cpu_first_s"][config].append(cpu_first)
                        costs["cpu_shutdown_s"][config].append(cpu_shutdown)
                        costs["hwm_mb"][config].append(hwm_mb)
                        first_export_seen += exported if config == "sidecar" else 0
                    else:
                        lam.spindown()
                last = ", ".join(f"{config}={samples[config][-1]:.0f}" for config in CONFIGS)
                log(f"cold start round {round_index + 1}/{rounds}: {last} ms")
        finally:
            for lam in lams.values():
                lam.close()
    out: dict[str, Any] = {
        "samples": samples,
        "summary": {config: summary(v) for config, v in samples.items()},
        "first_invoke_samples": first,
        "first_invoke": {
            measure: {config: summary(v) for config, v in per.items()} for measure, per in first.items()
        },
        "sidecar_self_reported": {
            "register_ms": summary([a for a, _ in ready]),
            "started_ms": summary([b for _, b in ready]),
        },
        "prefetched_ok": prefetch_ok,
        # the prefetch runs alongside the start-up, which now ends in the first invoke: its log
        # line (and the prefetch) may come after that invoke's phase is over
        "prefetch_ms": summary(prefetch_ms),
        "prefetch_finished_after_first_invoke": prefetch_after_phase,
        "extension_cost_samples": costs,
        "extension_cost": {
            measure: {config: summary(v) for config, v in per.items()} for measure, per in costs.items()
        },
        "first_export_seen": first_export_seen,
        "translated": translate(costs, first),
    }
    med = {config: out["summary"][config]["median"] for config in CONFIGS}
    out["ratios"] = {
        "sidecar_vs_none": ratio(med["sidecar"], med["none"]),
        "sidecar_vs_null": ratio(med["sidecar"], med["null"]),
        "null_vs_none": ratio(med["null"], med["none"]),
        # paired per round: robust to load drifting during the run
        "sidecar_vs_none_paired_median": _paired(samples["sidecar"], samples["none"]),
        "sidecar_vs_null_paired_median": _paired(samples["sidecar"], samples["null"]),
    }
    return out


def _cpu_back_in_next(pid: int, exported: Callable[[], bool]) -> tuple[float, bool]:
    """(CPU seconds, export seen) once `exported()` holds (or after FIRST_EXPORT_WAIT_S) and the
    process is asleep with its CPU time unchanged over 50 ms: back in its `/event/next` long poll
    (the invoke phase is over, so it has called it; this waits out work it does around that)."""
    deadline = time.monotonic() + FIRST_EXPORT_WAIT_S
    seen = exported()
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
        seen = exported()
    before = proc_tree_cpu_s(pid)
    settle_until = time.monotonic() + 2.0
    while time.monotonic() < settle_until:
        time.sleep(0.05)
        now = proc_tree_cpu_s(pid)
        if now == before and _state(pid) == "S":
            break
        before = now
    return before, seen


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def translate(
    costs: dict[str, dict[str, list[float]]], first: dict[str, dict[str, list[float]]]
) -> dict[str, Any]:
    """The median extension CPU per cold start as billed wall seconds at 128 / 512 / 1,769 MB
    (CPU share = memory / 1,769 MB), next to the billed init + first invoke measured here (on a
    machine where each process may use a whole core)."""
    out: dict[str, Any] = {}
    for mb in TRANSLATE_MB:
        row: dict[str, Any] = {}
        for config in CONFIGS:
            cpu_first = pct(costs["cpu_first_s"][config], 50) if config in costs["cpu_first_s"] else 0.0
            cpu_shutdown = (
                pct(costs["cpu_shutdown_s"][config], 50) if config in costs["cpu_shutdown_s"] else 0.0
            )
            row[config] = {
                "cpu_first_billed_s": billed_s_for_cpu(cpu_first, mb),
                "cpu_shutdown_billed_s": billed_s_for_cpu(cpu_shutdown, mb),
            }
        out[str(mb)] = row
    return out


def _paired(a: list[float], b: list[float]) -> float:
    return pct([x / y for x, y in zip(a, b, strict=True) if y], 50)


# ---- launch to register ------------------------------------------------------------------------


def _lang_bin(tmp: Path) -> str:
    """A private bin folder whose python3 is the base interpreter (as the emulator and Lambda do)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(BASE_PY)
    return f"{bin_dir}:/usr/bin:/bin"


def _time_to_register(argv: list[str], env: dict[str, str], server: socket.socket) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        server.settimeout(30)
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            elapsed = (time.perf_counter() - start) * 1000
            if not data.startswith(b"POST /2020-01-01/extension/register"):
                raise RuntimeError(f"unexpected first request: {data[:80]!r}")
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: bench\r\n"
                b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            )
        return elapsed
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _time_to_exit(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True)
    return (time.perf_counter() - start) * 1000


def launch_to_register(rounds: int) -> dict[str, Any]:
    configs = ("python3 -c pass", "python3 -E -S -B -c pass", "null extension", "lambda-sidecar")
    samples: dict[str, list[float]] = {config: [] for config in configs}
    layer = ensure_layer()
    with tempfile.TemporaryDirectory(prefix="bench-l2r-") as tmp, socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        api = f"127.0.0.1:{server.getsockname()[1]}"
        base = {"PATH": _lang_bin(Path(tmp)), "LANG": "C.UTF-8", "AWS_LAMBDA_RUNTIME_API": api}
        runs = {
            "python3 -c pass": lambda: _time_to_exit(["python3", "-c", "pass"], base),
            "python3 -E -S -B -c pass": lambda: _time_to_exit(
                ["python3", "-E", "-S", "-B", "-X", "frozen_modules=on", "-c", "pass"], base
            ),
            "null extension": lambda: _time_to_register(
                [str(NULL_LAYER / "extensions" / "null-extension")], base, server
            ),
            "lambda-sidecar": lambda: _time_to_register(
                [str(layer / "extensions" / "lambda-sidecar")],
                {
                    **base,
                    **sidecar_env(None, None),
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
                    "SIDECAR_PREFETCH": "sm:a,sm:b",
                },
                server,
            ),
        }
        # PATH lookups: the runs above resolve python3 through the private bin folder
        for config in configs:  # warm-up
            runs[config]()
        for round_index in range(rounds):
            for config in rotated(configs, round_index):
                samples[config].append(runs[config]())
    out: dict[str, Any] = {
        "samples": samples,
        "summary": {config: summary(v) for config, v in samples.items()},
    }
    med = {config: out["summary"][config]["median"] for config in configs}
    out["ratios"] = {
        "sidecar_vs_python_pass": ratio(med["lambda-sidecar"], med["python3 -c pass"]),
        "sidecar_vs_python_pass_same_flags": ratio(med["lambda-sidecar"], med["python3 -E -S -B -c pass"]),
        "sidecar_vs_null": ratio(med["lambda-sidecar"], med["null extension"]),
        "sidecar_vs_python_pass_paired_median": _paired(
            samples["lambda-sidecar"], samples["python3 -c pass"]
        ),
    }
    return out


def run(quick: bool, rounds: int | None = None, l2r_rounds: int | None = None) -> dict[str, Any]:
    ensure_layer()
    log("launch-to-register ...")
    l2r = launch_to_register(l2r_rounds or (20 if quick else 100))
    log("init duration ...")
    init = init_durations(rounds or (10 if quick else 40))
    data = {"init": init, "launch_to_register": l2r}
    path = write_result("cold_start", data, quick)
    if not quick:
        append_history(json.loads(path.read_text()))
    return data


def history_entry(result: dict[str, Any]) -> dict[str, Any]:
    """The medians and ratios of one full run, for the run-to-run table of the page."""
    init, l2r = result["init"], result["launch_to_register"]["summary"]
    first = init.get("first_invoke", {})
    return {
        "finished": result["finished"],
        "layer_inputs": result.get("layer", {}).get("inputs", "")[:12],
        "loadavg": result["machine"]["loadavg"],
        "init_median_ms": {c: v["median"] for c, v in init["summary"].items()},
        "ratios": {k: init["ratios"][k] for k in ("sidecar_vs_none", "sidecar_vs_null")},
        "launch_to_register_ms": l2r["lambda-sidecar"]["median"],
        "first_invoke_overhead_ms": first.get("extension_overhead_ms", {}).get("sidecar", {}).get("median"),
        "billed_ms": {c: v["median"] for c, v in first.get("billed_ms", {}).items()},
        "extension_cpu_shutdown_s": {
            c: v["median"] for c, v in init.get("extension_cost", {}).get("cpu_shutdown_s", {}).items()
        },
        "extension_hwm_mb": {
            c: v["median"] for c, v in init.get("extension_cost", {}).get("hwm_mb", {}).items()
        },
    }


def append_history(result: dict[str, Any], keep: int = HISTORY_KEEP) -> None:
    """Cold start is the figure most sensitive to other load on a shared machine: keep the last
    full runs (bench/results/cold_start_history.json) so the page shows how much it moves."""
    try:
        runs: list[dict[str, Any]] = json.loads(HISTORY.read_text())
    except (OSError, ValueError):
        runs = []
    entry = history_entry(result)
    runs = [r for r in runs if r.get("finished") != entry["finished"]] + [entry]
    HISTORY.write_text(json.dumps(runs[-keep:], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    data = run(args.quick, args.rounds)
    for part in ("init", "launch_to_register"):
        for config, stats in data[part]["summary"].items():
            print(
                f"{part:20} {config:26} median {stats['median']:8.1f} ms  p90 {stats['p90']:8.1f}"
                f"  iqr {stats['iqr']:6.1f}"
            )
        print(f"{part:20} ratios {data[part]['ratios']}")
    for measure, per in data["init"]["first_invoke"].items():
        print(
            f"first invoke {measure:22} "
            + "  ".join(f"{config} {value['median']:7.1f}" for config, value in per.items())
        )


if __name__ == "__main__":
    main()
