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
    series: dict[str, list[dict[str, float]]] = {c: [] for c in configs}
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
            done = {c: 0 for c in configs}
            errors = {c: 0 for c in configs}
            round_no = 0
            while min(done.values()) < total:
                order = list(configs) if round_no % 2 == 0 else list(configs)[::-1]
                for c in order:
                    lam = lams[c]
                    n = min(block, total - done[c]) if done[c] else 1  # first sample after invoke 1
                    for _ in range(n):
                        if lam.invoke({}).status != "success":
                            errors[c] += 1
                    done[c] += n
                    pid = lam.pids[configs[c]]
                    status = proc_status_kb(pid)
                    report = lam.events_of("platform.report")[-1]["record"]["metrics"]
                    series[c].append(
                        {
                            "invokes": done[c],
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
    for c, pts in series.items():
        tenth = next(p for p in pts if p["invokes"] >= growth_from)
        last = pts[-1]
        out[c] = {
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
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--invokes", type=int)
    p.add_argument("--no-managed", action="store_true", help="skip the Managed Instances run")
    a = p.parse_args()
    data = run(a.quick, a.invokes, managed=not a.no_managed)
    for c in ("sidecar", "null"):
        print(c, {k: round(v, 2) for k, v in data[c].items()})
    if "managed" in data:
        print("managed", {k: v for k, v in data["managed"].items() if k != "series"})


if __name__ == "__main__":
    main()
