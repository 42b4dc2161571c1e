"""Memory of the extension process: steady and peak RSS after many invokes, and growth.

    python -m bench.memory [--quick] [--invokes N] [--no-managed]

lambda-sidecar in its default configuration (OTLP/HTTP to a healthy receiver, cache on with two
secrets prefetched from moto, adaptive flush) and the null extension run bench_fn (two log lines
per invoke) in frozen environments, alternating blocks of 100 invokes. After every block the
extension process's `VmRSS` and `VmHWM` are read from /proc/<pid>/status (the launcher execs
Python, so the pid is the interpreter's), with `maxMemoryUsedMB` of the last `platform.report`
(runtime + extension peaks). Growth is RSS at the last sample minus RSS at invoke 1,000 (at 10% of
the run for runs shorter than 2,000 invokes). The extension's counters, logged at SHUTDOWN, are
kept with the results. Then the same on Lambda Managed Instances (`bench/managed.py`).
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import (
    BENCH_FN,
    NULL_LAYER,
    Moto,
    Sink,
    baseline_env,
    ensure_layer,
    log,
    proc_status_kb,
    sidecar_env,
    write_result,
)
from bench.managed import memory as managed_memory

BLOCK = 100


def run(quick: bool, invokes: int | None = None, block: int = BLOCK, managed: bool = True) -> dict[str, Any]:
    from emulator import LambdaEnvironment

    layer = ensure_layer()
    total = invokes or (2000 if quick else 10_000)
    configs = {"sidecar": "lambda-sidecar", "null": "null-extension"}
    series: dict[str, list[dict[str, float]]] = {config: [] for config in configs}
    summary_lines: list[str] = []

    def capture(source: str, line: str) -> None:
        if source == "lambda-sidecar" and ("shutdown after" in line or "WARNING" in line or "ERROR" in line):
            summary_lines.append(line[:3000])

    with Sink() as sink, Moto() as moto:
        lams = {
            "sidecar": LambdaEnvironment(
                layer, BENCH_FN, "app.handler", env=sidecar_env(sink, moto), freeze=True, echo_output=capture
            ),
            "null": LambdaEnvironment(
                NULL_LAYER, BENCH_FN, "app.handler", env=baseline_env(moto), freeze=True, echo_output=False
            ),
        }
        try:
            for lam in lams.values():
                lam.start()
            done = {config: 0 for config in configs}
            errors = {config: 0 for config in configs}
            round_no = 0
            while min(done.values()) < total:
                order = list(configs) if round_no % 2 == 0 else list(configs)[::-1]
                for config in order:
                    lam = lams[config]
                    count = (
                        min(block, total - done[config]) if done[config] else 1
                    )  # first sample after invoke 1
                    for _ in range(count):
                        if lam.invoke({}).status != "success":
                            errors[config] += 1
                    done[config] += count
                    pid = lam.pids[configs[config]]
                    status = proc_status_kb(pid)
                    report = lam.events_of("platform.report")[-1]["record"]["metrics"]
                    series[config].append(
                        {
                            "invokes": done[config],
                            "rss_mb": status.get("VmRSS", 0) / 1024,
                            "hwm_mb": status.get("VmHWM", 0) / 1024,
                            "anon_mb": status.get("RssAnon", 0) / 1024,
                            "max_memory_used_mb": float(report["maxMemoryUsedMB"]),
                        }
                    )
                round_no += 1
                if round_no % 10 == 0:
                    rss = series["sidecar"][-1]["rss_mb"]
                    log(f"memory: {done['sidecar']}/{total} invokes, sidecar RSS {rss:.1f} MB")
            for lam in lams.values():
                lam.spindown()  # the extension logs its counters at shutdown
            received = sink.stats()
        finally:
            for lam in lams.values():
                lam.close()
    out: dict[str, Any] = {
        "invokes": total,
        "series": series,
        "errors": errors,
        "receiver": received,
        "extension_log": summary_lines,
    }
    growth_from = 1000 if total >= 2000 else total // 10  # the window: invoke 1,000 -> 10,000
    for config, pts in series.items():
        tenth = next(p for p in pts if p["invokes"] >= growth_from)
        last = pts[-1]
        out[config] = {
            "rss_after_1_mb": pts[0]["rss_mb"],
            "rss_at_10pct_mb": tenth["rss_mb"],
            "rss_final_mb": last["rss_mb"],
            "peak_hwm_mb": max(p["hwm_mb"] for p in pts),
            "growth_mb": last["rss_mb"] - tenth["rss_mb"],
            "growth_from_invoke": tenth["invokes"],
            "max_memory_used_mb_final": last["max_memory_used_mb"],
        }
    if managed:  # the same function on Lambda Managed Instances: concurrent invokes, no freeze
        out["managed"] = managed_memory(quick, invokes)
    write_result("memory", out, quick)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--invokes", type=int)
    parser.add_argument("--no-managed", action="store_true", help="skip the Managed Instances run")
    args = parser.parse_args()
    data = run(args.quick, args.invokes, managed=not args.no_managed)
    for config in ("sidecar", "null"):
        print(config, {key: round(value, 2) for key, value in data[config].items()})
    if "managed" in data:
        print("managed", {key: value for key, value in data["managed"].items() if key != "series"})


if __name__ == "__main__":
    main()
