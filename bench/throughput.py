"""Log throughput end to end: records per second that reach the OTLP receiver, none lost.

    python -m bench.throughput [--quick]

bench_fn writes N numbered lines in one invoke (`print`, plain text; or `logging` with
AWS_LAMBDA_LOG_FORMAT=JSON, i.e. JSON records). lambda-sidecar (flush policy `end`, OTLP/HTTP to
a receiver in its own process that counts the records of each request id) must deliver all of
them. Measured per size: time from the start of the invoke until the receiver had every record
(records/s end to end), records lost, `platform.logsDropped` events (the Telemetry API dropping
because the extension did not take records fast enough), the extension process's CPU time per
1,000 records (/proc/<pid>/stat; so records/s per core of extension CPU = 1e6 / that) and the
invoke's billed duration. Baseline in the same run: the same invoke with no extension (how fast
the function and the emulator produce the lines). Environments are not frozen here, so the
pipeline can finish after the invoke; with freeze it would finish at the next thaw.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import (
    BENCH_FN,
    LAYER,
    Sink,
    baseline_env,
    empty_opt,
    ensure_layer,
    log,
    proc_cpu_s,
    sidecar_env,
    write_result,
)

KINDS = {"text": {}, "json": {"AWS_LAMBDA_LOG_FORMAT": "JSON"}}


def run(quick: bool, sizes: list[int] | None = None, repeats: int | None = None) -> dict[str, Any]:
    from emulator import LambdaEnvironment

    ensure_layer()
    sizes = sizes or ([1000, 5000, 20000] if quick else [1000, 5000, 20000, 50000, 100000])
    repeats = repeats or (1 if quick else 3)
    rows: list[dict[str, Any]] = []
    with Sink() as sink, empty_opt() as none_opt:
        lams: dict[str, Any] = {}
        try:
            for kind, extra in KINDS.items():
                lams[f"sidecar/{kind}"] = LambdaEnvironment(
                    LAYER,
                    BENCH_FN,
                    "app.handler",
                    timeout_s=120,
                    env=sidecar_env(sink, None, policy="end", **extra),
                    echo_output=False,
                )
                lams[f"none/{kind}"] = LambdaEnvironment(
                    none_opt, BENCH_FN, "app.handler", timeout_s=120, env={**baseline_env(), **extra},
                    echo_output=False,
                )
            for lam in lams.values():
                lam.start()
                lam.invoke({"lines": 100})  # warm-up
            for rep in range(repeats):
                for size in sizes:
                    for kind in KINDS:
                        order = ["none", "sidecar"] if (rep + size) % 2 else ["sidecar", "none"]
                        for who in order:
                            rows.append(_one(lams[f"{who}/{kind}"], who, kind, size, sink))
                            r = rows[-1]
                            log(
                                f"throughput {who}/{kind} {size}: {r['records_per_s']:.0f}/s, "
                                f"lost {r['lost']}, dropped events {r['logs_dropped_events']}"
                            )
        finally:
            for lam in lams.values():
                lam.close()
    data = {"sizes": sizes, "repeats": repeats, "rows": rows, "summary": _summarise(rows, sizes)}
    write_result("throughput", data, quick)
    return data


def _one(lam: Any, who: str, kind: str, size: int, sink: Sink) -> dict[str, Any]:
    via = "logging" if kind == "json" else "print"
    dropped_before = len(lam.events_of("platform.logsDropped"))
    pid = lam.pids.get("lambda-sidecar")
    cpu0 = proc_cpu_s(pid) if pid else 0.0
    start = time.perf_counter()
    res = lam.invoke({"lines": size, "via": via})
    invoke_s = time.perf_counter() - start
    report = lam.events_of("platform.report")[-1]["record"]["metrics"]
    arrived = size
    elapsed = invoke_s
    if who == "sidecar":
        deadline = start + 30 + size / 2000
        arrived = 0
        while time.perf_counter() < deadline:
            arrived = int(sink.stats()["marked"].get(res.request_id, 0))
            if arrived >= size:
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        # records may still trickle in after a loss is visible: settle for a moment, then count
        if arrived < size:
            time.sleep(1.0)
            arrived = int(sink.stats()["marked"].get(res.request_id, 0))
    cpu = (proc_cpu_s(pid) - cpu0) if pid else float("nan")
    dropped = lam.events_of("platform.logsDropped")[dropped_before:]
    return {
        "who": who,
        "kind": kind,
        "lines": size,
        "status": res.status,
        "arrived": arrived,
        "lost": size - arrived,
        "seconds": elapsed,
        "records_per_s": arrived / elapsed if elapsed else 0.0,
        "invoke_wall_s": invoke_s,
        "billed_ms": float(report["billedDurationMs"]),
        "extension_cpu_s": cpu,
        "extension_cpu_ms_per_1000": cpu * 1e6 / size if size and pid else float("nan"),
        "logs_dropped_events": len(dropped),
        "logs_dropped_records": sum(int(e["record"].get("droppedRecords", 0)) for e in dropped),
    }


def _summarise(rows: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in KINDS:
        side = [r for r in rows if r["who"] == "sidecar" and r["kind"] == kind]
        base = [r for r in rows if r["who"] == "none" and r["kind"] == kind]
        lossless = [r for r in side if r["lost"] == 0 and r["logs_dropped_events"] == 0]
        dropping = sorted({r["lines"] for r in side if r["logs_dropped_events"] or r["lost"]})
        cpu = sorted(r["extension_cpu_ms_per_1000"] for r in side)
        out[kind] = {
            "best_lossless_records_per_s": max((r["records_per_s"] for r in lossless), default=0.0),
            "function_only_records_per_s": max(
                (r["lines"] / r["invoke_wall_s"] for r in base if r["invoke_wall_s"]), default=0.0
            ),
            "first_size_with_loss_or_drops": dropping[0] if dropping else None,
            "extension_cpu_ms_per_1000_median": cpu[len(cpu) // 2] if cpu else float("nan"),
        }
        med = out[kind]["extension_cpu_ms_per_1000_median"]
        out[kind]["records_per_cpu_second"] = 1e6 / med if med == med and med > 0 else float("nan")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--repeats", type=int)
    a = p.parse_args()
    data = run(a.quick, a.sizes, a.repeats)
    for kind, s in data["summary"].items():
        print(kind, {k: (round(v) if isinstance(v, float) and v == v else v) for k, v in s.items()})


if __name__ == "__main__":
    main()
