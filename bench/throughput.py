"""Log throughput end to end: records per second that reach the OTLP receiver, none lost.

    python -m bench.throughput [--quick] [--no-managed]

bench_fn writes numbered lines (`print`, plain text; or `logging` with AWS_LAMBDA_LOG_FORMAT=JSON,
i.e. JSON records). lambda-sidecar (flush policy `end`, OTLP/HTTP to a receiver in its own
process that counts the records of each request id) must deliver every one of them.

- **burst**: one invoke writing N lines (N grows): time from the start of the invoke until the
  receiver had every record, `platform.logsDropped` (the Telemetry API dropping because the
  extension did not take records fast enough) and records never delivered;
- **sustained**: back-to-back invokes of 1,000 lines: total records / time until all arrived.

Also the extension process's CPU time per 1,000 records (/proc/<pid>/stat; 1e6 / that = records
per second of one core of extension CPU) and the billed duration. Baseline in the same run: the
same invokes with no extension (how fast function + emulator produce the lines). Environments are
not frozen, so the pipeline may finish after the invoke; records still missing after a wait are
counted again after SHUTDOWN (`late`: delivered only at shutdown; `lost`: never). Then sustained
concurrent invokes on Lambda Managed Instances (`bench/managed.py`).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import (
    BENCH_FN,
    Sink,
    baseline_env,
    empty_opt,
    ensure_layer,
    log,
    proc_cpu_s,
    sidecar_env,
    write_result,
)
from bench.managed import throughput as managed_throughput

KINDS = {"text": {}, "json": {"AWS_LAMBDA_LOG_FORMAT": "JSON"}}
SUSTAINED_LINES = 1000
TIMEOUT_S = 60.0  # function timeout: bounds an invoke whose phase never ends


def _via(kind: str) -> str:
    return "logging" if kind == "json" else "print"


def _wait_for(sink: Sink, ids: list[str], expected: int, timeout: float) -> tuple[int, float]:
    start = time.perf_counter()
    got = 0
    while time.perf_counter() - start < timeout:
        final_stats = sink.stats()
        marked = final_stats["marked"]
        got = sum(int(marked.get(i, 0)) for i in ids)
        if got >= expected:
            break
        time.sleep(0.005)
    return got, time.perf_counter()


def run(
    quick: bool,
    sizes: list[int] | None = None,
    repeats: int | None = None,
    sustained: int | None = None,
    managed: bool = True,
) -> dict[str, Any]:
    from emulator import LambdaEnvironment

    layer = ensure_layer()
    sizes = sizes or ([1000, 3000, 10000] if quick else [1000, 3000, 10000, 30000, 100000])
    repeats = repeats or (1 if quick else 2)
    sustained = sustained if sustained is not None else (10 if quick else 50)
    bursts: list[dict[str, Any]] = []
    shutdown_lines: list[str] = []

    def capture(source: str, line: str) -> None:
        if source == "lambda-sidecar" and ("shutdown after" in line or "WARNING" in line or "ERROR" in line):
            shutdown_lines.append(line[:2000])

    series: list[dict[str, Any]] = []
    with Sink() as sink, empty_opt() as none_opt:
        lams: dict[str, Any] = {}
        try:
            for kind, extra in KINDS.items():
                env = sidecar_env(sink, None, policy="end", **extra)
                lams[f"sidecar/{kind}"] = LambdaEnvironment(
                    layer, BENCH_FN, "app.handler", timeout_s=TIMEOUT_S, env=env, echo_output=capture
                )
                lams[f"none/{kind}"] = LambdaEnvironment(
                    none_opt,
                    BENCH_FN,
                    "app.handler",
                    timeout_s=TIMEOUT_S,
                    env={**baseline_env(), **extra},
                    echo_output=False,
                )
            for lam in lams.values():
                lam.start()
                lam.invoke({"lines": 100, "via": "print"})  # warm-up
            for rep in range(repeats):
                for kind in KINDS:
                    order = ["none", "sidecar"] if rep % 2 else ["sidecar", "none"]
                    for who in order:
                        series.append(_sustained(lams[f"{who}/{kind}"], who, kind, sustained, sink))
                        result = series[-1]
                        log(f"sustained {who}/{kind}: {result['records_per_s']:.0f} records/s")
                    for size in sizes:
                        for who in order:
                            bursts.append(_burst(lams[f"{who}/{kind}"], who, kind, size, sink))
                            result = bursts[-1]
                            log(
                                f"burst {who}/{kind} {size}: {result['records_per_s']:.0f}/s, "
                                f"missing {result['missing_after_wait']},"
                                f" logsDropped {result['logs_dropped_records']}"
                            )
            for name, lam in lams.items():
                if name.startswith("sidecar"):
                    lam.spindown()  # flushes whatever is still buffered
        finally:
            for lam in lams.values():
                lam.close()
        final_stats = sink.stats()
        marked = final_stats["marked"]
    for result in (*bursts, *series):
        if result["who"] == "sidecar":
            final = sum(int(marked.get(i, 0)) for i in result.pop("request_ids"))
            result["late"] = final - result["arrived"]
            result["lost"] = result["lines"] - final
        else:
            result.pop("request_ids")
            result["late"] = result["lost"] = 0
    data = {
        "sizes": sizes,
        "repeats": repeats,
        "sustained_invokes": sustained,
        "bursts": bursts,
        "sustained": series,
        "summary": _summarise(bursts, series),
        "receiver_duplicates": final_stats["duplicates"],
        "extension_shutdown_lines": shutdown_lines,
    }
    if managed:  # concurrent invokes on Lambda Managed Instances (bench/managed.py)
        data["managed"] = managed_throughput(quick, sustained)
    write_result("throughput", data, quick)
    return data


def _measure(lam: Any, who: str, kind: str, events: list[dict[str, Any]], sink: Sink) -> dict[str, Any]:
    total = sum(int(e["lines"]) for e in events)
    dropped_before = len(lam.events_of("platform.logsDropped"))
    pid = lam.pids.get("lambda-sidecar")
    cpu0 = proc_cpu_s(pid) if pid else 0.0
    start = time.perf_counter()
    ids = []
    billed = 0.0
    statuses: list[str] = []
    for event in events:
        res = lam.invoke(event)
        ids.append(res.request_id)
        report = lam.events_of("platform.report")[-1]["record"]
        billed += float(report["metrics"]["billedDurationMs"])
        statuses.append(str(report.get("status")))
    invoke_s = time.perf_counter() - start
    arrived, end = total, start + invoke_s
    if who == "sidecar":
        arrived, end = _wait_for(sink, ids, total, timeout=5 + total / 10000)
    elapsed = end - start
    cpu = (proc_cpu_s(pid) - cpu0) if pid else float("nan")
    dropped = lam.events_of("platform.logsDropped")[dropped_before:]
    return {
        "who": who,
        "kind": kind,
        "lines": total,
        "invokes": len(events),
        "report_status": sorted(set(statuses)),
        "request_ids": ids,
        "arrived": arrived,
        "missing_after_wait": total - arrived,
        "seconds": elapsed,
        "records_per_s": arrived / elapsed if elapsed > 0 else 0.0,
        "invoke_wall_s": invoke_s,
        "billed_ms": billed,
        "extension_cpu_s": cpu,
        "extension_cpu_ms_per_1000": cpu * 1e6 / total if pid else float("nan"),
        "logs_dropped_events": len(dropped),
        "logs_dropped_records": sum(int(e["record"].get("droppedRecords", 0)) for e in dropped),
    }


def _burst(lam: Any, who: str, kind: str, size: int, sink: Sink) -> dict[str, Any]:
    return _measure(lam, who, kind, [{"lines": size, "via": _via(kind)}], sink)


def _sustained(lam: Any, who: str, kind: str, invokes: int, sink: Sink) -> dict[str, Any]:
    return _measure(lam, who, kind, [{"lines": SUSTAINED_LINES, "via": _via(kind)}] * invokes, sink)


def _summarise(bursts: list[dict[str, Any]], series: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in KINDS:
        side = [r for r in bursts if r["who"] == "sidecar" and r["kind"] == kind]
        sus = [r for r in series if r["who"] == "sidecar" and r["kind"] == kind]
        base_sus = [r for r in series if r["who"] == "none" and r["kind"] == kind]
        clean = [
            r for r in (*side, *sus) if r["lost"] == 0 and r["late"] == 0 and not r["logs_dropped_events"]
        ]
        drops = sorted({r["lines"] for r in side if r["logs_dropped_events"]})
        losses = sorted({r["lines"] for r in side if r["lost"]})
        cpu = sorted(r["extension_cpu_ms_per_1000"] for r in clean)  # dropped records cost no CPU
        med_cpu = cpu[len(cpu) // 2] if cpu else float("nan")
        sus_rates = sorted(r["records_per_s"] for r in sus)
        base_rates = sorted(r["records_per_s"] for r in base_sus)
        out[kind] = {
            "sustained_records_per_s_median": sus_rates[len(sus_rates) // 2] if sus_rates else 0.0,
            "sustained_lost": sum(r["lost"] for r in sus),
            "function_only_records_per_s_median": base_rates[len(base_rates) // 2] if base_rates else 0.0,
            "best_lossless_records_per_s": max((r["records_per_s"] for r in clean), default=0.0),
            "first_burst_with_logs_dropped": drops[0] if drops else None,
            "first_burst_with_records_lost": losses[0] if losses else None,
            "extension_cpu_ms_per_1000_median": med_cpu,
            "records_per_cpu_second": 1e6 / med_cpu if med_cpu == med_cpu and med_cpu > 0 else float("nan"),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=lambda text: [int(size) for size in text.split(",")])
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--sustained", type=int)
    parser.add_argument("--no-managed", action="store_true", help="skip the Managed Instances run")
    args = parser.parse_args()
    data = run(args.quick, args.sizes, args.repeats, args.sustained, managed=not args.no_managed)

    def rounded(stats: dict[str, Any]) -> dict[str, Any]:
        return {
            key: (round(value) if isinstance(value, float) and value == value else value)
            for key, value in stats.items()
        }

    for kind, stats in data["summary"].items():
        print(kind, rounded(stats))
    for row in data.get("managed", {}).get("sustained", []):
        print("managed", rounded(row))


if __name__ == "__main__":
    main()
