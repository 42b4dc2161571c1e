"""Memory and log throughput on Lambda Managed Instances (emulator `managed_instances=True`).

Run by `bench.memory` and `bench.throughput` (the `managed` part of their results; skip it with
`--no-managed`). On Managed Instances the
environment never freezes, several invocations run at once (`invoke_all`, up to `concurrency`
in flight), the extension registers for SHUTDOWN only and exports on its timer
(`SIDECAR_FLUSH_INTERVAL_SECONDS`, 1 s here) and whenever a queue fills.

- **memory**: bench_fn (two log lines per invoke) in blocks of 100 concurrent invokes; the
  extension's `VmRSS`/`VmHWM` after every block (`platform.report` has no `maxMemoryUsedMB` there);
- **throughput**: `sustained` invokes of 1,000 numbered lines each (`print`: text through the
  workers' own output streams; `logging`: JSON records), dispatched concurrently: records / time
  until the receiver had all of them, against the same invokes without extension; records still
  missing are counted again after SHUTDOWN (`late`, `lost`).
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import (
    BENCH_FN,
    Moto,
    Sink,
    baseline_env,
    empty_opt,
    ensure_layer,
    log,
    proc_cpu_s,
    proc_status_kb,
    sidecar_env,
)

CONCURRENCY = 4
INTERVAL_S = "1"
BLOCK = 100
LINES = 1000
TIMEOUT_S = 60.0
KINDS = {"text": "print", "json": "logging"}  # via; the JSON log format is the default there


def memory(quick: bool, invokes: int | None = None, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """RSS of the extension process over `invokes` concurrent invokes."""
    from emulator import LambdaEnvironment

    layer = ensure_layer()
    total = invokes or (2000 if quick else 10_000)
    series: list[dict[str, float]] = []
    errors = 0
    with Sink() as sink, Moto() as moto:
        env = sidecar_env(sink, moto, SIDECAR_FLUSH_INTERVAL_SECONDS=INTERVAL_S)
        with LambdaEnvironment(
            layer,
            BENCH_FN,
            "app.handler",
            env=env,
            echo_output=False,
            managed_instances=True,
            concurrency=concurrency,
        ) as lam:
            done = 0
            while done < total:
                n = min(BLOCK, total - done) if done else 1  # first sample after invoke 1
                errors += sum(r.status != "success" for r in lam.invoke_all([{}] * n))
                done += n
                status = proc_status_kb(lam.pids["lambda-sidecar"])
                series.append(
                    {
                        "invokes": done,
                        "rss_mb": status.get("VmRSS", 0) / 1024,
                        "hwm_mb": status.get("VmHWM", 0) / 1024,
                    }
                )
            lam.spindown()
            outcome = lam.extension_outcomes["lambda-sidecar"]
        received = sink.stats()
    growth_from = 1000 if total >= 2000 else total // 10
    tenth = next(p for p in series if p["invokes"] >= growth_from)
    out = {
        "concurrency": concurrency,
        "invokes": total,
        "errors": errors,
        "series": series,
        "rss_after_1_mb": series[0]["rss_mb"],
        "rss_at_10pct_mb": tenth["rss_mb"],
        "rss_final_mb": series[-1]["rss_mb"],
        "peak_hwm_mb": max(p["hwm_mb"] for p in series),
        "growth_mb": series[-1]["rss_mb"] - tenth["rss_mb"],
        "growth_from_invoke": tenth["invokes"],
        "spans_received": received["spans"],
        "extension_exit": {"code": outcome.exit_code, "before_deadline": outcome.exited_before_deadline},
    }
    rss, peak = out["rss_final_mb"], out["peak_hwm_mb"]
    log(f"managed memory: RSS {rss:.1f} MB, peak {peak:.1f} MB, errors {errors}")
    return out


def _marked(sink: Sink, ids: list[str]) -> int:
    marked = sink.stats()["marked"]
    return sum(int(marked.get(i, 0)) for i in ids)


def _sustained(lam: Any, who: str, kind: str, invokes: int, sink: Sink) -> dict[str, Any]:
    via = KINDS[kind]
    total = invokes * LINES
    pid = lam.pids.get("lambda-sidecar")
    cpu0 = proc_cpu_s(pid) if pid else 0.0
    start = time.perf_counter()
    results = lam.invoke_all([{"lines": LINES, "via": via}] * invokes)
    invoke_s = time.perf_counter() - start
    ids = [r.request_id for r in results]
    arrived, end = total, start + invoke_s
    if who == "sidecar":  # until the last record arrived (records lost at the platform never do)
        deadline = time.perf_counter() + 10 + total / 10000
        arrived, end = _marked(sink, ids), time.perf_counter()
        while arrived < total and time.perf_counter() < deadline:
            time.sleep(0.005)
            now = _marked(sink, ids)
            if now > arrived:
                arrived, end = now, time.perf_counter()
    elapsed = end - start
    cpu = (proc_cpu_s(pid) - cpu0) if pid else float("nan")
    return {
        "who": who,
        "kind": kind,
        "invokes": invokes,
        "lines": total,
        "statuses": sorted({r.status for r in results}),
        "request_ids": ids,
        "arrived": arrived,
        "seconds": elapsed,
        "records_per_s": arrived / elapsed if elapsed > 0 else 0.0,
        "invoke_wall_s": invoke_s,
        "extension_cpu_ms_per_1000": cpu * 1e6 / total if pid else float("nan"),
        "logs_dropped_records": sum(
            int(e["record"].get("droppedRecords", 0)) for e in lam.events_of("platform.logsDropped")
        ),
    }


def throughput(quick: bool, sustained: int | None = None, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """Records per second end to end with `concurrency` invocations in flight, none lost."""
    from emulator import LambdaEnvironment

    layer = ensure_layer()
    invokes = sustained or (12 if quick else 40)
    rows: list[dict[str, Any]] = []
    with Sink() as sink, empty_opt() as none_opt:
        for kind in KINDS:
            opts = {"sidecar": layer, "none": none_opt}
            envs = {
                "sidecar": sidecar_env(sink, None, SIDECAR_FLUSH_INTERVAL_SECONDS=INTERVAL_S),
                "none": baseline_env(),
            }
            for who in ("sidecar", "none"):
                with LambdaEnvironment(
                    opts[who],
                    BENCH_FN,
                    "app.handler",
                    env=envs[who],
                    echo_output=False,
                    timeout_s=TIMEOUT_S,
                    managed_instances=True,
                    concurrency=concurrency,
                ) as lam:
                    lam.invoke_all([{"lines": 100, "via": KINDS[kind]}] * concurrency)  # warm-up
                    row = _sustained(lam, who, kind, invokes, sink)
                    lam.spindown()  # flushes whatever is still buffered
                rows.append(row)
                log(f"managed sustained {who}/{kind}: {row['records_per_s']:.0f} records/s")
        for row in rows:
            ids = row.pop("request_ids")
            final = _marked(sink, ids) if row["who"] == "sidecar" else row["lines"]
            row["late"] = final - row["arrived"]
            row["lost"] = row["lines"] - final
    return {"concurrency": concurrency, "invokes": invokes, "lines_per_invoke": LINES, "sustained": rows}
