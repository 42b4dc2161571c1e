# ruff: noqa: E501, RUF001  (Markdown text: long table rows and typographic signs are intended)
"""Renders docs/benchmarks.md from bench/results/*.json (run by bench.run_all; `python -m bench.report`)."""

from __future__ import annotations

import json
from typing import Any

from bench import analysis, plots
from bench.cold_start import HISTORY
from bench.common import ROOT, read_result
from bench.fmt import f, x

DOC = ROOT / "docs" / "benchmarks.md"
NAMES = (
    "cold_start",
    "overhead",
    "memory",
    "throughput",
    "cache_latency",
    "layer_size",
    "function_telemetry",
)


def _counts(values: list[str]) -> str:
    return ", ".join(f"{v or '(none)'} × {values.count(v)}" for v in sorted(set(values)))


def verdict(ok: bool | None) -> str:
    return "no target" if ok is None else ("**met**" if ok else "**missed**")


def stat_row(label: str, s: dict[str, float], extra: str = "") -> str:
    return (
        f"| {label} | {f(s['median'])} | {f(s['p90'])} | {f(s.get('p99', float('nan')))} | "
        f"{f(s['min'])}–{f(s['max'])} | {f(s['iqr'])} | {s['n']} |{extra}"
    )


CONFIG_LABELS = {"none": "no extension", "null": "null extension", "sidecar": "lambda-sidecar"}
STAT_HEAD = "| | median | p90 | p99 | min–max | IQR | n |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"


#: Steady RSS of the extension after its start-up diet (issue 13; 45 MB before it).
RSS_TARGET_MB = 30


class Doc:
    def __init__(self) -> None:
        self.r: dict[str, dict[str, Any] | None] = {n: read_result(n) for n in NAMES}
        self.history: list[dict[str, Any]] = _history()
        self.targets: list[tuple[str, str, str, bool | None, str]] = []
        self.body: list[str] = []

    def target(self, what: str, goal: str, got: str, ok: bool | None, gap: str = "") -> None:
        self.targets.append((what, goal, got, ok, gap))

    # ---- sections --------------------------------------------------------------------------

    def cold_start(self) -> None:
        data = self.r["cold_start"]
        if data is None:
            return
        init, l2r = data["init"], data["launch_to_register"]
        init_summary, rt = init["summary"], init["ratios"]
        lr, lrr = l2r["summary"], l2r["ratios"]
        plots.cold_start(data)
        self.target(
            "Cold start vs no extension",
            "≤ 1.15×",
            f"{x(rt['sidecar_vs_none'])} ({f(init_summary['sidecar']['median'], 0)} vs {f(init_summary['none']['median'], 0)} ms)",
            rt["sidecar_vs_none"] <= 1.15,
            f"+{f(init_summary['sidecar']['median'] - 1.15 * init_summary['none']['median'], 0)} ms over the target; the whole "
            f"allowance ({f(0.15 * init_summary['none']['median'], 0)} ms) is less than starting a bare "
            f"`python3 -E -S -B` ({f(lr['python3 -E -S -B -c pass']['median'], 0)} ms), which Lambda "
            "waits for before it starts the runtime",
        )
        self.target(
            "Cold start vs null extension",
            "≤ 1.05×",
            f"{x(rt['sidecar_vs_null'])} ({f(init_summary['sidecar']['median'], 0)} vs {f(init_summary['null']['median'], 0)} ms)",
            rt["sidecar_vs_null"] <= 1.05,
            f"+{f(init_summary['sidecar']['median'] - 1.05 * init_summary['null']['median'], 0)} ms over the target",
        )
        side, base = lr["lambda-sidecar"]["median"], lr["python3 -c pass"]["median"]
        self.target(
            "Launch to register vs `python3 -c pass`",
            "≤ 1.5×",
            f"{x(lrr['sidecar_vs_python_pass'])} ({f(side, 0)} vs {f(base, 0)} ms)",
            lrr["sidecar_vs_python_pass"] <= 1.5,
            f"+{f(side - 1.5 * base, 0)} ms over the target" if side > 1.5 * base else "",
        )
        fi = init.get("first_invoke")
        if fi:
            ov, bl = fi["extension_overhead_ms"], fi["billed_ms"]
            self.target(
                "First (cold) invoke after fast init: extensionOverhead; billed init + invoke phase",
                "none set (start-up cost moved here from init)",
                f"overhead {f(ov['sidecar']['median'], 0)} ms median (null extension "
                f"{f(ov['null']['median'], 0)}); billed {f(bl['sidecar']['median'], 0)} ms vs "
                f"{f(bl['none']['median'], 0)} (none) / {f(bl['null']['median'], 0)} (null)",
                None,
            )
        me = init["sidecar_self_reported"]
        body = self.body
        body.append("## 1. Cold start\n")
        self.cold_start_cost(init)
        body.append(
            "Init Duration (`platform.initReport.metrics.durationMs`) of `sample_functions/minimal`, each "
            "configuration cold-started once per round, rounds alternating the order. lambda-sidecar runs "
            "its default configuration: OTLP/HTTP to a healthy receiver, cache on with two secrets "
            "prefetched from moto (both backends in their own processes).\n"
        )
        body.append(STAT_HEAD.replace("| |", "| Init Duration (ms) |", 1))
        for key, label in CONFIG_LABELS.items():
            body.append(stat_row(label, init_summary[key]))
        body.append("")
        body.append(
            f"Ratios of medians: lambda-sidecar / no extension **{x(rt['sidecar_vs_none'])}**, "
            f"lambda-sidecar / null extension **{x(rt['sidecar_vs_null'])}**, null / none "
            f"{x(rt['null_vs_none'])}; median of the per-round ratios: {x(rt['sidecar_vs_none_paired_median'])}"
            f" and {x(rt['sidecar_vs_null_paired_median'])}. Prefetch succeeded in "
            f"{sum(1 for n in init['prefetched_ok'] if n == 2)}/{len(init['prefetched_ok'])} cold starts"
            + (
                f" ({init['prefetch_finished_after_first_invoke']} of them finished after the first invoke's "
                "phase, see *What the numbers say*). "
                if init.get("prefetch_finished_after_first_invoke")
                else ". "
            )
            + "lambda-sidecar's own log (median, from its interpreter's start): registered after "
            + f"{f(me['register_ms']['median'], 0)} ms; application ready (event loop running, about to read "
            f"the answer to the first `/event/next` it sent on the fast path) after "
            f"{f(me['started_ms']['median'], 0)} ms -- after init was over.\n"
        )
        runs = self.history
        if len(runs) > 1:
            body.append(
                "Run to run: every full run of this benchmark kept on this machine (newest last). Cold "
                "start is the figure most sensitive to other work on the two cores, lambda-sidecar's most "
                "of all (its start-up competes with the runtime's init):\n"
            )
            body.append(
                "| finished | layer inputs | load (1 min) | none | null | lambda-sidecar | / none | / null | "
                "launch to register | first-invoke extensionOverhead | billed, lambda-sidecar |\n"
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            )
            for run in runs:
                im = run["init_median_ms"]
                body.append(
                    f"| {run['finished']} | {run.get('layer_inputs') or '?'} | {f(run['loadavg'][0])} | "
                    f"{f(im['none'])} | {f(im['null'])} | "
                    f"{f(im['sidecar'])} | {x(run['ratios']['sidecar_vs_none'])} | "
                    f"{x(run['ratios']['sidecar_vs_null'])} | {f(run['launch_to_register_ms'])} | "
                    f"{f(run['first_invoke_overhead_ms'])} | {f(run['billed_ms'].get('sidecar'), 0)} |"
                )
            body.append("\nInit Duration medians in ms; the table above is the newest run.\n")
        if fi:
            body.append(
                "**The first (cold) invoke.** Fast init moves the rest of the extension's start-up out of "
                "init: the answer to its early `/event/next` (this INVOKE) is read only once its event loop "
                "runs, and the invoke phase -- and with it the environment -- is not free until the "
                "extension is back in `/event/next`. Same cold starts as above:\n"
            )
            body.append(
                "| first (cold) invoke, ms | function (`runtimeDone`) | invoke phase | extensionOverhead "
                "median | p90 | max | billed (init + invoke phase) | caller wait: invoke | caller wait: "
                "init + invoke |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            )
            for key, label in CONFIG_LABELS.items():
                overhead = fi["extension_overhead_ms"][key]
                body.append(
                    f"| {label} | {f(fi['function_ms'][key]['median'])} | {f(fi['invoke_phase_ms'][key]['median'])} | "
                    f"{f(overhead['median'])} | {f(overhead['p90'])} | {f(overhead['max'])} | {f(fi['billed_ms'][key]['median'], 0)} | "
                    f"{f(fi['caller_ms'][key]['median'])} | {f(fi['first_response_ms'][key]['median'])} |"
                )
            body.append(
                "\nMedians over the same cold starts. *billed* = `billedDurationMs` of the emulator's "
                "`platform.report` (Init Duration + invoke phase, rounded up); *caller wait* = until the "
                "invoker had the response (the emulator times the invoke from the end of init; the last "
                "column adds that cold start's Init Duration).\n"
            )
        body.append(
            "**Launch to register**: `Popen` of the launcher until the whole `/register` request has "
            "arrived at a fake Extensions API; the baselines are the whole life (launch to exit) of a bare "
            "interpreter, with site (`python3 -c pass`, as the target is stated) and with the options our "
            "launcher uses (`-E -S -B -X frozen_modules=on`).\n"
        )
        body.append(STAT_HEAD.replace("| |", "| launch to register (ms) |", 1))
        for key, value in lr.items():
            body.append(stat_row(f"`{key}`" if key.startswith("python") else key, value))
        body.append("")
        body.append(
            f"Ratios of medians: lambda-sidecar / `python3 -c pass` **{x(lrr['sidecar_vs_python_pass'])}**; "
            f"/ same-options interpreter {x(lrr['sidecar_vs_python_pass_same_flags'])}; "
            f"/ null extension {x(lrr['sidecar_vs_null'])}.\n"
        )
        body.append("![cold start](img/cold_start.png)\n")

    def cold_start_cost(self, init: dict[str, Any]) -> None:
        """What one cold start costs the function (issue 13): CPU, memory, time, billed time."""
        cost = init.get("extension_cost")
        if not cost:
            return
        fi, summary = init["first_invoke"], init["summary"]
        cpu_first, cpu_down, hwm = cost["cpu_first_s"], cost["cpu_shutdown_s"], cost["hwm_mb"]
        ov, bl = fi["extension_overhead_ms"], fi["billed_ms"]
        side_cpu = cpu_down["sidecar"]["median"]
        ratio = summary["sidecar"]["median"] / summary["none"]["median"]
        self.target(
            "Extension CPU per cold start (launch → SHUTDOWN)",
            "≤ 0.15 s",
            f"{f(side_cpu, 2)} s (null extension {f(cpu_down['null']['median'], 2)} s)",
            side_cpu <= 0.15,
            f"+{f(side_cpu - 0.15, 2)} s" if side_cpu > 0.15 else "",
        )
        self.target(
            "Extension max RSS per cold start (VmHWM)",
            "≤ 30 MB",
            f"{f(hwm['sidecar']['median'])} MB (null extension {f(hwm['null']['median'])} MB)",
            hwm["sidecar"]["median"] <= 30,
        )
        self.target(
            "First-invoke `extensionOverhead`",
            "median ≤ 30 ms",
            f"{f(ov['sidecar']['median'], 0)} ms (null extension {f(ov['null']['median'], 0)} ms)",
            ov["sidecar"]["median"] <= 30,
        )
        self.target(
            "Init Duration vs no extension (issue 13)",
            "≤ 1.25×",
            f"{x(ratio)} ({f(summary['sidecar']['median'], 0)} vs {f(summary['none']['median'], 0)} ms)",
            ratio <= 1.25,
        )
        body = self.body
        body.append(
            "**What a cold start costs the function.** Same cold starts as the tables below (minimal "
            "function, one invoke, default configuration: OTLP/HTTP to a healthy receiver, cache on with two "
            "prefetched secrets). Extension CPU = utime + stime from `/proc/<pid>/stat` of the extension "
            "process and its children (the whole process tree; 10 ms clock ticks), read once the extension "
            "is back in `/event/next` after the first invoke and -- for lambda-sidecar -- after its first "
            f"export reached the receiver ({init.get('first_export_seen', 0)} of {ov['sidecar']['n']} cold "
            "starts; otherwise after a 5 s wait), and at SHUTDOWN (polled every 2 ms until the process "
            "exited); max RSS = `VmHWM` of `/proc/<pid>/status` at exit. Medians:\n"
        )
        body.append(
            "| per cold start | no extension | null extension | lambda-sidecar |\n| --- | ---: | ---: | ---: |"
        )
        rows = (
            ("extension CPU, launch → back in `/event/next` after invoke 1 + first export (s)", cpu_first, 2),
            ("extension CPU, launch → SHUTDOWN (s)", cpu_down, 2),
            ("extension max RSS (VmHWM, MB)", hwm, 1),
        )
        for label, per, nd in rows:
            body.append(
                f"| {label} | – | {f(per['null']['median'], nd)} | {f(per['sidecar']['median'], nd)} |"
            )
        for label, per, nd in (
            ("first-invoke `extensionOverhead` (ms)", ov, 0),
            ("Init Duration (ms)", summary, 0),
            ("billed init + first invoke (ms)", bl, 0),
        ):
            row = " | ".join(f(per[c]["median"], nd) for c in CONFIG_LABELS)
            body.append(f"| {label} | {row} |")
        body.append("")
        body.append(
            "On Lambda, CPU is proportional to memory: one vCPU at 1,769 MB, so a function of M MB gets "
            "M / 1,769 of a core ([AWS](https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)). "
            "The extension CPU above, translated (computed, not measured: CPU-seconds / share = wall seconds "
            "of billed time that CPU needs at that size, during which the environment takes no other request):\n"
        )
        body.append(
            "| function memory | CPU share | null extension: CPU → SHUTDOWN as billed s | lambda-sidecar: to "
            "`/event/next` after invoke 1 | lambda-sidecar: → SHUTDOWN | lambda-sidecar − null |\n"
            "| ---: | ---: | ---: | ---: | ---: | ---: |"
        )
        for mb, row in init["translated"].items():
            side, null = row["sidecar"], row["null"]
            body.append(
                f"| {mb} MB | {f(min(int(mb), 1769) / 1769, 3)} | {f(null['cpu_shutdown_billed_s'], 2)} s | "
                f"{f(side['cpu_first_billed_s'], 2)} s | {f(side['cpu_shutdown_billed_s'], 2)} s | "
                f"{f(side['cpu_shutdown_billed_s'] - null['cpu_shutdown_billed_s'], 2)} s |"
            )
        body.append("")

    def overhead(self) -> None:
        data = self.r["overhead"]
        if data is None:
            return
        plots.overhead(data)
        summary = data["summary"]
        dflt = summary["adaptive/healthy"]["extension_overhead_ms"]
        self.target(
            "Extension overhead, default policy, healthy backend",
            "median ≤ 1 ms, p99 ≤ 5 ms",
            f"median {f(dflt['median'], 2)} ms, p99 {f(dflt['p99'], 2)} ms",
            dflt["median"] <= 1 and dflt["p99"] <= 5,
            f"p99 {f(dflt['p99'] - 5, 1)} ms over" if dflt["p99"] > 5 else "",
        )
        worst = max(
            (config for config in summary if config.endswith("/slow")),
            key=lambda config: (
                summary[config]["caller_latency_ms"]["median"]
                - summary[config.replace("slow", "healthy")]["caller_latency_ms"]["median"]
            ),
        )
        slow, healthy = (
            summary["adaptive/slow"]["caller_latency_ms"],
            summary["adaptive/healthy"]["caller_latency_ms"],
        )
        delta = slow["median"] - healthy["median"]
        self.target(
            "Caller-seen latency with a 200 ms backend",
            "unchanged (Δ median ≤ 1 ms vs healthy)",
            f"default policy: Δ {f(delta, 2)} ms median, Δ {f(slow['p99'] - healthy['p99'], 2)} ms p99; "
            f"worst policy ({worst}): Δ "
            f"{f(summary[worst]['caller_latency_ms']['median'] - summary[worst.replace('slow', 'healthy')]['caller_latency_ms']['median'], 2)} ms",
            abs(delta) <= 1.0,
        )
        body = self.body
        body.append("## 2. Per-invoke overhead\n")
        body.append(
            f"Warm, frozen environments (`freeze=True`, as Lambda), bench_fn printing two lines per invoke; "
            f"{data['rounds']} rounds × {data['block']} back-to-back invokes per configuration, order rotating "
            f"every round. `slow` = the OTLP receiver answers every request {int(data['slow_receiver_s'] * 1000)} "
            "ms late. Back-to-back invokes are *frequent* for `adaptive` (≥ 6/min), so after its first "
            "invokes it exports periodically while the function runs instead of at the end of each invoke.\n"
        )
        body.append(
            "| configuration | overhead median | p90 | p99 | max | billed median | billed p99 | "
            "caller median | caller p90 | caller p99 | caller Δ vs none | errors |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )
        for config, value in summary.items():
            overhead_ms, bl, lat = (
                value["extension_overhead_ms"],
                value["billed_duration_ms"],
                value["caller_latency_ms"],
            )
            body.append(
                f"| {config} | {f(overhead_ms['median'], 2)} | {f(overhead_ms['p90'], 2)} | {f(overhead_ms['p99'], 2)} | {f(overhead_ms['max'], 1)} | "
                f"{f(bl['median'], 0)} | {f(bl['p99'], 0)} | {f(lat['median'], 2)} | {f(lat['p90'], 2)} | "
                f"{f(lat['p99'], 2)} | {f(data['comparisons'][config]['caller_latency_delta_ms'], 2)} | "
                f"{data['errors'][config]} |"
            )
        body.append(
            "\nAll times in ms. *overhead* = `extensionOverhead` span of `platform.report` (0 when every "
            "extension was back in `/next` before the runtime finished); *billed* = `billedDurationMs`; "
            "*caller* = time until the invoker had the response (`InvokeResult.duration_ms`).\n"
        )
        body.append("![overhead per flush policy](img/overhead.png)\n")

    def memory(self) -> None:
        data = self.r["memory"]
        if data is None:
            return
        plots.memory(data)
        sc, nu = data["sidecar"], data["null"]
        self.target(
            "Extension steady RSS, default configuration (issue 13)",
            f"≤ {RSS_TARGET_MB} MB",
            f"{f(sc['rss_final_mb'])} MB steady, {f(sc['peak_hwm_mb'])} MB peak",
            max(sc["rss_final_mb"], sc["peak_hwm_mb"]) <= RSS_TARGET_MB,
            f"{f(sc['peak_hwm_mb'] - RSS_TARGET_MB)} MB over" if sc["peak_hwm_mb"] > RSS_TARGET_MB else "",
        )
        self.target(
            f"RSS growth, invoke {sc['growth_from_invoke']:,} → {data['invokes']:,}",
            "≤ 1 MB",
            f"{f(sc['growth_mb'], 2)} MB",
            sc["growth_mb"] <= 1.0,
            f"{f(sc['growth_mb'] - 1, 2)} MB over" if sc["growth_mb"] > 1 else "",
        )
        body = self.body
        body.append("## 3. Memory\n")
        body.append(
            f"{data['invokes']:,} invokes of bench_fn per configuration in frozen environments, alternating "
            "blocks of 100; `VmRSS`/`VmHWM` of the extension's Python process from `/proc/<pid>/status` "
            "after every block; `maxMemoryUsedMB` = the emulator's sum of runtime and extension peaks.\n"
        )
        body.append(
            f"| | RSS after invoke 1 | RSS at invoke {sc['growth_from_invoke']:,} | RSS at the end | peak (VmHWM) | "
            "growth | maxMemoryUsedMB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        )
        for label, value in (("lambda-sidecar", sc), ("null extension", nu)):
            body.append(
                f"| {label} | {f(value['rss_after_1_mb'])} | {f(value['rss_at_10pct_mb'])} | {f(value['rss_final_mb'])} | "
                f"{f(value['peak_hwm_mb'])} | {f(value['growth_mb'], 2)} | {f(value['max_memory_used_mb_final'], 0)} |"
            )
        body.append(
            f"\nMB = MiB. lambda-sidecar − null extension at the end: "
            f"{f(sc['rss_final_mb'] - nu['rss_final_mb'])} MB. Errors: {data['errors']}. The extension's "
            "counters at SHUTDOWN:\n"
        )
        for line in data.get("extension_log", [])[:4]:
            body.append(f"    {line[:600]}")
        body.append("")
        body.append("![memory](img/memory.png)\n")
        if data.get("managed"):
            body.extend(managed_memory(data))

    def throughput(self) -> None:
        data = self.r["throughput"]
        if data is None:
            return
        summary = data["summary"]
        best = max(
            summary["text"]["best_lossless_records_per_s"], summary["json"]["best_lossless_records_per_s"]
        )
        self.target(
            "Log records end to end, none lost",
            "≥ 20,000 records/s",
            f"text {f(summary['text']['best_lossless_records_per_s'], 0)}/s, JSON "
            f"{f(summary['json']['best_lossless_records_per_s'], 0)}/s (best lossless run); extension CPU: "
            f"{f(summary['text']['records_per_cpu_second'], 0)} / {f(summary['json']['records_per_cpu_second'], 0)} "
            "records per CPU-second",
            best >= 20000,
            f"{f(20000 - best, 0)} records/s short end to end; per extension CPU-second: "
            + "; ".join(
                f"{kind} {f(20000 - value['records_per_cpu_second'], 0)} short"
                if value["records_per_cpu_second"] < 20000
                else f"{kind} above"
                for kind, value in (("text", summary["text"]), ("JSON", summary["json"]))
            ),
        )
        body = self.body
        body.append("## 4. Log throughput\n")
        body.append(
            "bench_fn writes numbered lines (`print`: text; `logging` with `AWS_LAMBDA_LOG_FORMAT=JSON`: JSON "
            "records); lambda-sidecar with flush policy `end` exports them over OTLP/HTTP to a receiver "
            "(own process) that counts distinct records per request. *Sustained*: "
            f"{data['sustained_invokes']} back-to-back invokes of 1,000 lines, records / time until all had "
            "arrived. *Burst*: one invoke writing N lines. *function only* = the same invokes without "
            "extension (how fast the function and the emulator produce lines). Environments not frozen.\n"
        )
        body.append(
            "| format | sustained records/s (median) | function only | best lossless records/s | "
            "extension CPU ms / 1,000 records | records per extension CPU-second | first burst with "
            "`logsDropped` | first burst losing records |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )
        for kind, value in summary.items():
            body.append(
                f"| {kind} | {f(value['sustained_records_per_s_median'], 0)} | "
                f"{f(value['function_only_records_per_s_median'], 0)} | {f(value['best_lossless_records_per_s'], 0)} | "
                f"{f(value['extension_cpu_ms_per_1000_median'], 0)} | {f(value['records_per_cpu_second'], 0)} | "
                f"{f(value['first_burst_with_logs_dropped'], 0)} | {f(value['first_burst_with_records_lost'], 0)} |"
            )
        body.append("\nEvery burst (lambda-sidecar rows):\n")
        body.append(
            "| format | lines | records/s | arrived in time | late (only at shutdown) | lost | "
            "`logsDropped` records | billed ms | extension CPU ms / 1,000 | report status |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        )
        for burst in data["bursts"]:
            if burst["who"] != "sidecar":
                continue
            body.append(
                f"| {burst['kind']} | {burst['lines']:,} | {f(burst['records_per_s'], 0)} | {burst['arrived']:,} | {burst['late']:,} | "
                f"{burst['lost']:,} | {burst['logs_dropped_records']:,} | {f(burst['billed_ms'], 0)} | "
                f"{f(burst['extension_cpu_ms_per_1000'], 0)} | {', '.join(burst.get('report_status', []))} |"
            )
        body.append(
            f"\nRecords received twice (an export retried after its answer was lost): "
            f"{data.get('receiver_duplicates', 'n/a')}. The extension's own summary at shutdown:\n"
        )
        for line in data.get("extension_shutdown_lines", [])[:6]:
            body.append(f"    {line[:300]}")
        body.append("")
        if data.get("managed"):
            body.extend(managed_throughput(data))

    def cache(self) -> None:
        data = self.r["cache_latency"]
        if data is None:
            return
        summary = data["summary"]
        urllib = summary["urllib"]
        self.target(
            "Cache hit latency (urllib, new connection per call)",
            "p50 ≤ 1 ms, p99 ≤ 3 ms",
            f"p50 {f(urllib['median'], 2)} ms, p99 {f(urllib['p99'], 2)} ms "
            f"(requests.Session: {f(summary['requests_session']['median'], 2)} / {f(summary['requests_session']['p99'], 2)})",
            urllib["median"] <= 1 and urllib["p99"] <= 3,
        )
        served = data["init_read_served_by_prefetch"]
        self.target(
            "First read in init served by prefetch",
            "every cold start",
            f"{sum(served)}/{len(served)} cold starts",
            all(served),
        )
        pre, cold = data["init_reads"]["prefetched"], data["init_reads"]["not_prefetched"]
        body = self.body
        body.append("## 5. Cache latency\n")
        body.append(
            f"Measured inside bench_fn: {data['reads_per_loop']} reads per loop, 3 invokes per cold start, "
            f"{data['cold_starts']} cold starts; moto in its own process; the extension's AWS calls pass a "
            "counting proxy, the function's direct boto3 calls do not.\n"
        )
        body.append(STAT_HEAD.replace("| |", "| read latency (ms) |", 1))
        body.append(stat_row("cache hit, urllib, new connection per call", urllib))
        body.append(stat_row("cache hit, `requests.Session` (keep-alive)", summary["requests_session"]))
        body.append(stat_row("direct boto3 `get_secret_value` to moto", summary["boto3_direct"]))
        body.append(stat_row("first read in init, prefetched secret", pre["ms"]))
        body.append(stat_row("first read in init, secret not prefetched", cold["ms"]))
        body.append(
            f"\nboto3 direct / cache hit: {x(data['ratios']['boto3_vs_urllib_hit'])} (urllib), "
            f"{x(data['ratios']['boto3_vs_session_hit'])} (Session) — against a local moto; a real region "
            f"adds its network round trip. X-Cache of the init reads: prefetched {_counts(pre['x_cache'])}, "
            f"not prefetched {_counts(cold['x_cache'])}. Upstream calls in the first cold start: "
            f"{data['upstream_calls_per_cold_start'][0]} (one batch call for the two prefetched secrets, one "
            "GetSecretValue for the other: the prefetched read made no AWS call of its own; `miss` means it "
            "waited for the prefetch in flight).\n"
        )

    def layer(self) -> None:
        data = self.r["layer_size"]
        if data is None:
            return
        body = self.body
        body.append("## 6. Layer size and import time\n")
        sz = data["sizes"]
        body.append(
            ("Every target, built into a scratch folder by `layer/build_layer.py --all`:\n")
            if sz["all_targets"]
            else "Default target only (quick mode; the full run builds `--all`):\n"
        )
        body.append(
            "| target | zipped MB | unpacked MB | files | bytecode | largest parts (unpacked MB) |\n"
            "| --- | ---: | ---: | ---: | --- | --- |"
        )
        for target in sz["targets"]:
            parts = ", ".join(f"{g['name']} {g['unpacked_mb']:.2f}" for g in target["top_groups"][:4])
            body.append(
                f"| {target['target']} | {f(target['zipped_mb'], 2)} | {f(target['unpacked_mb'], 2)} | {target['files']} | "
                f"{target.get('bytecode') or 'n/a'} | {parts} |"
            )
        bare = [target["target"] for target in sz["targets"] if "no .pyc" in target.get("bytecode", "")]
        if bare:
            body.append(
                f"\n{', '.join(bare)}: sources only -- the build machine has no interpreter of that "
                "version to compile them, and the launcher runs Python with `-B` (Lambda's `/opt` is "
                "read-only), so such a layer compiles every module it imports from source at every cold "
                "start, on top of the import times below. Build these targets where that Python is "
                "installed before publishing them."
            )
        it = data["import_time"]
        body.append(
            "\n`python -X importtime` with the launcher's options (sum of top-level cumulative times; "
            "min and median over alternating runs):\n"
        )
        body.append(
            "| | median ms | min ms | modules | biggest (cumulative ms, min over runs) |\n| --- | ---: | ---: | ---: | --- |"
        )
        for case, value in it.items():
            top = ", ".join(f"{m['module']} {m['cumulative_ms']:.1f}" for m in value["top_cumulative_ms"][:5])
            body.append(
                f"| {case} | {f(value['total_ms']['median'])} | {f(value['total_ms']['min'])} | {value['modules']} | {top} |"
            )
        body.append("")

    def function_telemetry(self) -> None:
        d = self.r["function_telemetry"]
        if d is None:
            return
        flush10, backend10 = d["flush_10_receiver_ms"], d["flush_10_backend_50ms_ms"]
        self.target(
            "Function's SDK flush of 10 spans to the receiver (issue 14)",
            "median ≤ 2 ms",
            f"{f(flush10['median'], 2)} ms (to a backend 50 ms away: {f(backend10['median'], 1)} ms)",
            flush10["median"] <= 2,
            f"+{f(flush10['median'] - 2, 2)} ms",
        )
        lossless = d["throughput_received"] == d["throughput_sent"] and d["throughput_dropped"] == 0
        self.target(
            "Received spans into the pipeline, none lost",
            "≥ 20,000 spans/s",
            f"{d['throughput_spans_per_s']:,.0f} spans/s ({d['throughput_received']:,} of {d['throughput_sent']:,})",
            lossless and d["throughput_spans_per_s"] >= 20_000,
        )
        b = self.body
        b.append("## 7. The function's own telemetry (OTLP receiver)\n")
        b.append(
            "`bench/function_telemetry.py`: the receiver runs in its own process as the extension builds "
            "it (`OtlpReceiver` feeding a real `Pipeline` and destination queue whose exporter discards); "
            "the function side is the OpenTelemetry SDK's `BatchSpanProcessor` + OTLP/HTTP exporter, timed "
            "around `force_flush()` (what the layer's wrapper calls after each invoke). The slow backend "
            "answers after 50 ms: what a function pays per invoke when its SDK exports to a remote "
            "collector itself.\n"
        )
        b.append(STAT_HEAD.replace("| |", "| milliseconds |", 1))
        b.append(stat_row("flush 10 spans → receiver", flush10))
        b.append(stat_row("flush 100 spans → receiver", d["flush_100_receiver_ms"]))
        b.append(
            stat_row(
                "one 10-span request → receiver (http.client: the receiver's own share)",
                d["post_10_receiver_ms"],
            )
        )
        b.append(stat_row("flush 10 spans → backend 50 ms away", backend10))
        b.append(stat_row("flush 100 spans → backend 50 ms away", d["flush_100_backend_50ms_ms"]))
        b.append(
            stat_row("first intake request: importing protobuf + OTLP classes", d["first_intake_import_ms"])
        )
        b.append(
            f"\nThroughput: {d['throughput_sent']:,} spans in requests of 500 posted back to back: "
            f"{d['throughput_spans_per_s']:,.0f} spans/s, {d['throughput_received']:,} received, "
            f"{d['throughput_dropped']} dropped. Memory: the first intake request adds "
            f"{f(d['first_intake_rss_growth_mb']['median'], 1)} MB of RSS (protobuf, OTLP classes); a function "
            "that sends nothing never loads them.\n"
        )

    # ---- the page --------------------------------------------------------------------------

    def render(self) -> str:
        self.cold_start()
        self.overhead()
        self.memory()
        self.throughput()
        self.cache()
        self.layer()
        self.function_telemetry()
        any_result = next((r for r in self.r.values() if r), None)
        machine = any_result["machine"] if any_result else {}
        quick = any(r and r.get("quick") for r in self.r.values())
        dates = sorted({r["finished"] for r in self.r.values() if r})
        layer = any_result.get("layer", {}) if any_result else {}
        out = ["# Benchmarks\n"]
        out.append(
            "What lambda-sidecar costs a function: cold start, per-invoke overhead, memory, log throughput, "
            "cache latency and layer size, measured on the built layer in the local Lambda environment "
            "(`emulator/`), always against baselines run in the same process with alternating order. "
            "This page is generated by `./build.sh bench` (`python -m bench.run_all`) from "
            "`bench/results/*.json`; do not edit it by hand.\n"
        )
        out.append(
            f"*Run*: {'quick' if quick else 'full'} mode, finished {dates[0] if dates else '?'}"
            f"{(' – ' + dates[-1]) if len(dates) > 1 else ''}; layer {layer.get('version', '?')} for "
            f"Python {layer.get('python', '?')} {layer.get('arch', '')} (inputs {layer.get('inputs', '?')[:12]}).\n"
        )
        out.append("## Summary: targets\n")
        out.append("| figure | target | result | status | gap |\n| --- | --- | --- | --- | --- |")
        for what, goal, got, ok, gap in self.targets:
            out.append(f"| {what} | {goal} | {got} | {verdict(ok)} | {gap if ok is False else ''} |")
        out.append("")
        out.append(analysis.render(self.r, self.history))
        out.append("## Machine and method\n")
        out.append(
            f"- CPU: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('memory_gb', '?')} GB RAM, "
            f"Linux {machine.get('kernel', '?')}, Python {machine.get('python', '?')}. Load average at the end of the "
            f"runs: {', '.join(f'{v:.1f}' for v in machine.get('loadavg', []))} — **a shared machine**: other "
            "engineers' test suites ran at the same time, so absolute times are inflated and noisy; "
            "ratios to baselines measured in the same run (alternating order) are the figures to read.\n"
            "- Lambda itself is not involved: the emulator runs the runtime (`awslambdaric`) and every "
            "extension as real processes and implements the Runtime, Extensions and Telemetry APIs in "
            "Python in the benchmark process. Its own CPU use (telemetry delivery in particular) competes "
            "with the function and the extension on the same two cores; on Lambda the platform's work "
            "is not on the function's CPU.\n"
            "- Statistics: median, p90, p99, min–max and interquartile range over all samples; ratios are "
            "ratios of medians (plus the median of per-round ratios for cold starts). No timing is "
            "asserted anywhere in the test suite.\n"
        )
        out.append("### Commands\n")
        out.append(
            "| figure | command |\n| --- | --- |\n"
            "| everything, this page and the plots | `./build.sh bench` (full) or `./build.sh bench --quick` |\n"
            "| cold start, launch to register | `.venv/bin/python -m bench.cold_start [--quick] [--rounds N]` |\n"
            "| per-invoke overhead | `.venv/bin/python -m bench.overhead [--quick] [--rounds N] [--block N]` |\n"
            "| memory (also on Managed Instances) | `.venv/bin/python -m bench.memory [--quick] [--invokes N] [--no-managed]` |\n"
            "| throughput (also on Managed Instances) | `.venv/bin/python -m bench.throughput [--quick] [--sizes 1000,10000] [--sustained N] [--no-managed]` |\n"
            "| cache latency | `.venv/bin/python -m bench.cache_latency [--quick] [--cold-starts N] [--reads N]` |\n"
            "| layer size, import time | `.venv/bin/python -m bench.layer_size [--quick] [--all]` |\n"
            "| function telemetry (OTLP receiver) | `.venv/bin/python -m bench.function_telemetry [--quick]` |\n"
            "| this page from existing results | `.venv/bin/python -m bench.report` |\n"
        )
        out.append(
            "Each script benchmarks a private copy of `build/layer/` (build it first: `./build.sh layer`), "
            "writes `bench/results/<name>.json` (git-ignored) and prints a summary. Quick mode: "
            "fewer rounds and invokes (a few minutes in all); full mode: 40 cold starts per "
            "configuration, 1,000 invokes per overhead configuration, 10,000 invokes for memory, bursts "
            "up to 100,000 lines, every layer target.\n"
        )
        out.extend(self.body)
        return "\n".join(out).rstrip() + "\n"


def _run_note(d: dict[str, Any]) -> str:
    return f"{'Quick' if d.get('quick') else 'Full'} run, finished {d.get('finished', '?')}. "


def managed_memory(d: dict[str, Any]) -> list[str]:
    """The Managed Instances rows of the memory section (bench/managed.py)."""
    m = d["managed"]
    return [
        "### Memory on Lambda Managed Instances\n",
        f"{_run_note(d)}{m['invokes']:,} invokes of bench_fn, {m['concurrency']} in flight at once (`invoke_all`), no freeze; "
        "lambda-sidecar registered for SHUTDOWN only, exporting on its timer (1 s). `platform.report` carries "
        "no `maxMemoryUsedMB` there.\n",
        f"| | RSS after invoke 1 | RSS at invoke {m['growth_from_invoke']:,} | RSS at the end | peak (VmHWM) | "
        "growth | errors | spans received |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| lambda-sidecar | {f(m['rss_after_1_mb'])} | {f(m['rss_at_10pct_mb'])} | {f(m['rss_final_mb'])} | "
        f"{f(m['peak_hwm_mb'])} | {f(m['growth_mb'], 2)} | {m['errors']} | {m['spans_received']:,} |",
        "",
    ]


def managed_throughput(d: dict[str, Any]) -> list[str]:
    """The Managed Instances rows of the throughput section (bench/managed.py)."""
    m = d["managed"]
    out = [
        "### Log throughput on Lambda Managed Instances\n",
        f"{_run_note(d)}{m['invokes']} invokes of {m['lines_per_invoke']:,} lines, {m['concurrency']} in flight at once, "
        "no freeze, JSON log format (the default there; `print` lines are wrapped by the platform); "
        "lambda-sidecar exports on its timer (1 s) and whenever a queue fills. Nothing paces the "
        "function there (no invoke phase waits for the extension), so a function writing faster than "
        "the extension takes records in loses records at the Telemetry API (`logsDropped`).\n",
        "| via | configuration | records/s | arrived in time | late (only at shutdown) | lost | "
        "`logsDropped` records | extension CPU ms / 1,000 |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in m["sustained"]:
        who = CONFIG_LABELS.get(r["who"], r["who"])
        out.append(
            f"| {'print' if r['kind'] == 'text' else 'logging'} | {who} | {f(r['records_per_s'], 0)} | "
            f"{r['arrived']:,} | {r['late']:,} | {r['lost']:,} | {r['logs_dropped_records']:,} | "
            f"{f(r['extension_cpu_ms_per_1000'], 0)} |"
        )
    out.append("")
    return out


def _history() -> list[dict[str, Any]]:
    """The cold-start summaries of the last full runs (bench/cold_start.py `append_history`)."""
    try:
        runs = json.loads(HISTORY.read_text())
    except (OSError, ValueError):
        return []
    return runs if isinstance(runs, list) else []


def write() -> None:
    DOC.write_text(Doc().render())


if __name__ == "__main__":
    write()
