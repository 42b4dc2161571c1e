# ruff: noqa: E501, RUF001  (Markdown text: long lines and typographic signs are intended)
"""The "What the numbers say" section of docs/benchmarks.md: where the time and memory go, which
targets are out of reach here and why, and what would close the others.

Every figure comes from bench/results/*.json of the run being rendered, except the few marked as
the last full run before fast init (BEFORE), kept so the page can say what moved.
"""

from __future__ import annotations

from typing import Any

from bench.fmt import counter, f, x

Result = dict[str, Any] | None

#: The last full run before fast init and export under pressure (2026-11-26 00:03 UTC, same
#: machine): the extension sent its first /event/next only after loading the whole application,
#: and exported only at lifecycle points.
BEFORE: dict[str, float] = {
    "init_ms": 596.0,
    "init_ratio_none": 7.34,
    "first_invoke_ms": 34.6,
    "first_read_ms": 302.0,
    "overhead_p99_ms": 0.76,
    "best_lossless": 11199.0,
    "queue_full": 417442,
    "exported": 548869,
    "duplicates": 20186,
    # records lost beyond those the Telemetry API reported dropped, per 30,000-line burst (range)
    "queue_loss_30k_min": 8218,
    "queue_loss_30k_max": 23509,
}

#: Above this many ms of init beyond launch to register, the post-register work is worth cutting.
CONTENTION_WORTH_MS = 10.0
#: An earlier full run in the same session, same product (layer inputs ede20e604fa7), whose
#: default-policy p99 overhead fell on the other side of the 5 ms target (see `_overhead`).
EARLIER_OVERHEAD = {"finished": "2026-11-26 00:24 UTC", "p99_ms": 5.29, "exports": 10}

_APP_MODULES = (
    "aiohttp",
    "aiohttp.client",
    "aiohttp.web",
    "asyncio",
    "extension.exporters.factory",
    "extension.exporters.otlp_encode",
    "extension.sources.telemetry_api.listener",
)


def render(results: dict[str, Result], history: list[dict[str, Any]]) -> str:
    """The section's Markdown; `history` = the cold-start summaries of the last full runs."""
    out = ["## What the numbers say, and what would close the gaps\n"]
    out.append(
        "Two product changes shape these figures: **fast init** (the extension subscribes to the "
        "Telemetry API and sends its first `/event/next` from the standard-library fast path right after "
        "`/register`, and reads the answer once its event loop runs: `extension/lifecycle/early_next.py`) "
        "and **export under pressure** (while an invoke waits for its `runtimeDone`, a destination whose "
        "queue crosses its threshold exports at once: `extension/lifecycle/manager.py`). Figures called "
        "*before* come from the last full run without them (2026-11-26 00:03 UTC, same machine).\n"
    )
    out.append(
        "Landed after the full run of 2026-11-26 00:37-00:52 UTC, not yet measured in a full run: the "
        "telemetry pipeline's imports are staged one module at a time with the event loop turning in "
        "between (so cache reads and the prefetch progress while it loads), and the extension waits "
        "(bounded by the export budget) for in-flight prefetches before each `/event/next` -- the "
        "answer to the prefetch-in-flight finding below. The cache benchmark alone was re-run after "
        "them (01:00 UTC, machine idle): hit p50 1.08 ms, p99 4.10 ms, where the full run at 00:37 on "
        "the earlier build measured 0.89 / 2.90 ms and a quick run at 00:58 on the new build "
        "0.88 / 2.48 ms -- run-to-run spread on this machine is as large as the target's margin; the "
        "tables show the latest run.\n"
    )
    cs, lz = results.get("cold_start"), results.get("layer_size")
    app = lz["import_time"]["application (import extension.app)"] if lz else None
    fast = lz["import_time"]["fast path (boot script --version)"] if lz else None
    if cs:
        out.append(_cold_vs_none(cs))
        out.append(_cold_vs_null(cs, history))
        if cs["init"].get("first_invoke"):
            out.append(_first_invoke(cs, app))
        out.append(_fast_path(cs, fast))
    ov, mem, tp, ca = (
        results.get("overhead"),
        results.get("memory"),
        results.get("throughput"),
        results.get("cache_latency"),
    )
    if ov:
        out.append(_overhead(ov))
    if mem:
        out.append(_memory(mem))
    if tp:
        out.append(_throughput(tp))
    if ca:
        out.append(_cache(ca))
    return "\n".join(out)


def _cold_vs_none(cs: dict[str, Any]) -> str:
    init_summary, l2r = cs["init"]["summary"], cs["launch_to_register"]["summary"]
    none, side = init_summary["none"]["median"], init_summary["sidecar"]["median"]
    reg = l2r["lambda-sidecar"]["median"]
    bare = l2r["python3 -E -S -B -c pass"]
    added = side - none
    allowance = 0.15 * none
    met = side <= 1.15 * none
    return (
        f"**Cold start vs no extension ({'met' if met else 'missed'}"
        + ("" if met else "; out of reach for any Python extension in this setup")
        + ").** Lambda starts the runtime only once every extension has registered, and ends init "
        "when the runtime and every extension wait in `/event/next`. lambda-sidecar registers "
        f"{f(reg, 0)} ms after its launch, then subscribes to the Telemetry API and sends its first "
        "`/event/next` from the standard-library fast path without waiting for the answer, so init "
        f"ends when the runtime is done: {f(side, 0)} ms against {f(none, 0)} ms without an extension "
        f"({x(side / none)}; in the last full run before fast init {f(BEFORE['init_ms'], 0)} ms, "
        f"{x(BEFORE['init_ratio_none'])}). The {f(added, 0)} ms it adds are, roughly, launch to register "
        f"({f(reg, 0)} ms, measured separately against a fake Extensions API; the runtime's start waits "
        f"for it) and {f(added - reg, 0)} ms of subscription, "
        "early `/event/next` and CPU that the extension's post-register imports take from the runtime's "
        "own init (two cores, shared with the emulator in the benchmark process; this run does not "
        f"separate the three). The target allows 0.15 × {f(none, 0)} = {f(allowance, 0)} ms in all. "
        "Merely starting our interpreter and letting it exit (`python3 -E -S -B -c pass`, nothing "
        f"imported) takes {f(bare['median'], 0)} ms median ({f(bare['min'], 0)} ms at best) here -- "
        + ("more than" if bare["median"] > allowance else "most of")
        + " the whole allowance before the first line of any Python extension runs: an extension that "
        f"did nothing but register would be at about {x((none + bare['median']) / none)}. So here the "
        "target is reachable only by an extension that is not a Python process (a compiled binary "
        "starts in a few ms), or for functions whose own init is long: the same "
        f"+{f(added, 0)} ms is within 1.15× of an init of {f(added / 0.15, 0)} ms or more (most real "
        "functions' imports take hundreds of ms; but the extension's start-up then overlaps more of "
        "their init and competes for the CPU, which on Lambda is allotted in proportion to memory: "
        "1 vCPU at 1,769 MB). Left on our side: launch to register above the bare interpreter, "
        f"{f(reg - bare['median'], 0)} ms (see the fast path)"
        + (
            ", and the post-register competition for the CPU: the application's imports could wait "
            "until init is over -- the answer to the early `/event/next` only arrives then -- or until a "
            "cache request arrives (a standard-library `selectors` wait on the pending socket and the "
            "bound cache sockets), at the price of an even longer first invoke (below).\n"
            if added - reg > CONTENTION_WORTH_MS
            else f"; the rest ({f(added - reg, 0)} ms) is too small in this run to be worth chasing.\n"
        )
    )


def _cold_vs_null(cs: dict[str, Any], history: list[dict[str, Any]]) -> str:
    init_summary, rt, l2r = cs["init"]["summary"], cs["init"]["ratios"], cs["launch_to_register"]["summary"]
    met = rt["sidecar_vs_null"] <= 1.05
    return (
        f"**Cold start vs null extension ({'met' if met else 'missed'}).** The null extension imports "
        f"`http.client` before it registers ({f(l2r['null extension']['median'], 0)} ms launch to register, "
        f"against {f(l2r['lambda-sidecar']['median'], 0)} ms for lambda-sidecar) and waits in `/event/next` "
        f"right after. Init: {f(init_summary['sidecar']['median'], 0)} ms with lambda-sidecar against "
        f"{f(init_summary['null']['median'], 0)} ms ({x(rt['sidecar_vs_null'])}; median of the per-round ratios "
        f"{x(rt['sidecar_vs_null_paired_median'])})"
        + (
            ""
            if met
            else f", {f(init_summary['sidecar']['median'] - 1.05 * init_summary['null']['median'], 0)} ms over the target"
        )
        + ". "
        + _spread(history)
    )


def _spread(history: list[dict[str, Any]]) -> str:
    """How much the cold-start ratios moved between the full runs kept on this machine."""
    if len(history) < 2:
        return "\n"
    none = [h["ratios"]["sidecar_vs_none"] for h in history]
    null = [h["ratios"]["sidecar_vs_null"] for h in history]
    side = [h["init_median_ms"]["sidecar"] for h in history]
    return (
        f"Over the {len(history)} full runs kept on this machine (section 1) lambda-sidecar's median "
        f"init ranged {f(min(side), 0)}–{f(max(side), 0)} ms, i.e. {x(min(none))}–{x(max(none))} of no "
        f"extension and {x(min(null))}–{x(max(null))} of the null extension: its application's imports "
        "run alongside the runtime's init and compete with it for the two cores, so how much they slow "
        "it depends on what else the machine is doing.\n"
    )


def _first_invoke(cs: dict[str, Any], app: dict[str, Any] | None) -> str:
    init, fi = cs["init"], cs["init"]["first_invoke"]
    summary, me = init["summary"], init["sidecar_self_reported"]
    ov, bl, resp = fi["extension_overhead_ms"], fi["billed_ms"], fi["first_response_ms"]
    side_init = summary["sidecar"]["median"]
    before_total = BEFORE["init_ms"] + BEFORE["first_invoke_ms"]
    top = ""
    if app:
        top = ", ".join(
            f"`{m['module']}` {m['cumulative_ms']:.0f}"
            for m in app["top_cumulative_ms"]
            if m["module"] in _APP_MODULES
        )
    text = (
        "**Where the start-up went: the first invoke (no target; the price of fast init).** The "
        "application still loads -- "
        + (
            f"`import extension.app` is {f(app['total_ms']['median'], 0)} ms of imports here (median; "
            f"cumulative ms, min over runs: {top})"
            if app
            else "the application's imports"
        )
        + ", then the cache service, listener and exporters start -- but now after init: lambda-sidecar "
        f"reports itself ready {f(me['started_ms']['median'], 0)} ms after its launch, i.e. some "
        f"{f(me['started_ms']['median'] - side_init, 0)} ms after init ended. The minimal function's first "
        f"invoke runs {f(fi['function_ms']['sidecar']['median'])} ms; the invoke phase then waits for "
        f"lambda-sidecar to come back to `/event/next`: extensionOverhead {f(ov['sidecar']['median'], 0)} ms "
        f"median (p90 {f(ov['sidecar']['p90'], 0)}, max {f(ov['sidecar']['max'], 0)}; the null extension: "
        f"{f(ov['null']['median'], 0)}). So fast init shortens what a cold caller waits -- init plus the "
        f"response: {f(resp['sidecar']['median'], 0)} ms against {f(resp['null']['median'], 0)} (null "
        f"extension) and {f(resp['none']['median'], 0)} (none) -- but not the work: init plus the first "
        f"invoke phase, which Lambda bills (the emulator bills it the same way) and during which the "
        f"environment takes no other request, is {f(bl['sidecar']['median'], 0)} ms against "
        f"{f(bl['none']['median'], 0)} without an extension and {f(bl['null']['median'], 0)} with the null "
        f"extension -- about what init plus the first invoke cost before fast init ({f(before_total, 0)} "
        f"ms). A second request arriving in those {f(ov['sidecar']['median'], 0)} ms waits, or Lambda "
        "starts another environment for it. A function whose init and first invoke outlast the "
        "extension's start-up hides it; for the rest, only a smaller application helps: answer the "
        "first INVOKE (be back in `/event/next`) before building the export stack, serve the telemetry "
        "listener and the two cache ports with `asyncio.start_server` and a small HTTP/1.1 reader "
        "instead of `aiohttp.web`, and import an exporter only when its destination is configured -- "
        "the same imports dominate the memory (below).\n"
    )
    late = init.get("prefetch_finished_after_first_invoke")
    if late:
        text += (
            f"\nThe prefetch of the two secrets is created when the cache endpoints start, but first runs "
            "only after the telemetry pipeline's imports and set-up, which block the event loop; it then "
            f"takes {f(init['prefetch_ms']['median'], 0)} ms (median, max {f(init['prefetch_ms']['max'], 0)}). "
            f"In {late} of {len(init['prefetched_ok'])} cold starts it finished only after the first "
            "invoke's phase was over. Nothing freezes the environment in this benchmark; on Lambda that "
            "request would be frozen mid-flight until the next invoke (at a later INVOKE the cache service "
            "reaps fetches left stuck by a freeze and fetches again).\n"
        )
    return text


def _fast_path(cs: dict[str, Any], fast: dict[str, Any] | None) -> str:
    l2r = cs["launch_to_register"]["summary"]
    return (
        "**Fast path (launch to register, met).** Before the fast-path work the code before `/register` "
        "imported `http.client` (which pulls in `email`, `ssl`, ...), `extension.config` (`dataclasses` "
        "plus sixteen frozen dataclasses built at import, `enum`, `re`, `json`, `typing`, `urllib.parse`) "
        "and `logging`: about 115 ms of imports on this machine (`-X importtime`, median; 87 ms min). Now "
        "`/register` is one request on a raw socket, the seven variables that decide what to bind and "
        "which events to register for are read by `early_settings` (checked against `config.from_env` "
        "over generated environments; any unusual value falls back to the full configuration before "
        "`/register`), and everything else loads after `/register`: the boot path imports "
        + (
            f"{f(fast['total_ms']['median'], 0)} ms (median; {f(fast['total_ms']['min'], 0)} min)"
            if fast
            else "about 20 ms"
        )
        + ", mostly `socket` (its enums and `selectors`) and `runpy` (used by `layer/sidecar_boot.py`). "
        f"This run: {f(l2r['lambda-sidecar']['median'], 0)} ms launch to register (min "
        f"{f(l2r['lambda-sidecar']['min'], 0)}), against {f(l2r['python3 -c pass']['median'], 0)} ms for "
        f"`python3 -c pass` and {f(l2r['python3 -E -S -B -c pass']['median'], 0)} ms for the bare "
        "interpreter with our options. (When the fast path landed, a same-run A/B of 40 alternating "
        "rounds with the old and the new fast path measured median 122 → 46 ms.) Left: `runpy` in the "
        "boot script (~3–8 ms here: calling `extension.__main__.main` directly would avoid it) and "
        "`socket` itself (binding on `_socket` would save a few more ms).\n"
    )


def _block_openers(ov: dict[str, Any], config: str) -> set[int]:
    """Indices of the samples that opened a block of their configuration (recorded since the
    benchmark kept them; before, derivable when no invoke failed)."""
    if "block_starts" in ov:
        return set(ov["block_starts"][config])
    n = len(ov["samples"][config]["extension_overhead_ms"])
    return set(range(0, n, ov["block"])) if ov["errors"][config] == 0 else set()


def _overhead(ov: dict[str, Any]) -> str:
    from bench.common import pct

    sm = ov["summary"]
    healthy = sm["adaptive/healthy"]["extension_overhead_ms"]
    sl = sm["adaptive/slow"]["extension_overhead_ms"]
    values = ov["samples"]["adaptive/healthy"]["extension_overhead_ms"]
    openers = _block_openers(ov, "adaptive/healthy")
    over = [i for i, v in enumerate(values) if v > 5]
    exports = [values[i] for i in over if i in openers]
    rest = [v for i, v in enumerate(values) if i not in openers]
    slow_values = ov["samples"]["adaptive/slow"]["extension_overhead_ms"]
    slow_exports = sum(1 for v in slow_values if v > 250)
    rounds = ov.get("round_seconds") or []
    cmp = ov["comparisons"]
    rank = len(values) - int((len(values) - 1) * 0.99)  # p99 of n samples ~ this largest value
    met = healthy["median"] <= 1 and healthy["p99"] <= 5
    text = (
        f"**Per-invoke overhead ({'met' if met else 'missed'}).** Under the default policy the median "
        f"overhead is {f(healthy['median'], 2)} ms: the extension is back in `/event/next` before the runtime "
        f"finishes. The tail (p99 {f(healthy['p99'], 2)} ms, max {f(healthy['max'], 0)} ms; with the slow backend "
        f"p99 {f(sl['p99'], 0)} ms, max {f(sl['max'], 0)} ms) is the periodic export that `adaptive` "
        "runs once invokes are frequent: it runs alongside the function, and when the function is "
        "shorter than the export the invoke phase waits for the rest of it (bounded by "
        "`SIDECAR_EXPORT_BUDGET_MS`, 300 ms). It falls due once per flush interval (20 s), which in "
        "this benchmark means on the first invoke of a configuration's block: "
    )
    if openers:
        text += (
            f"{len(exports)} of the {len(over)} default-policy invokes above 5 ms opened a block "
            f"({f(min(exports), 0) if exports else 'n/a'}–{f(max(exports), 0) if exports else 'n/a'} ms; "
            f"with the slow backend {slow_exports} invokes paid ~300 ms, the budget). "
        )
    text += (
        f"The p99 of {len(values):,} samples is about the {rank}th-largest value, so it lands on an "
        f"export as soon as {rank} blocks of {ov['block']} open with one -- which depends on how long a "
        "round of the benchmark takes against the 20 s interval"
        + (
            f" (here {f(pct(rounds, 50), 1)} s median per round of all {len(sm)} configurations)"
            if rounds
            else ""
        )
        + ", i.e. on the machine's load more than on the extension. In the last full run before fast "
        f"init and export under pressure the same figure was {f(BEFORE['overhead_p99_ms'], 2)} ms; an "
        f"earlier full run of the current product ({EARLIER_OVERHEAD['finished']}, a more loaded machine) "
        f"measured {f(EARLIER_OVERHEAD['p99_ms'], 2)} ms -- {f(EARLIER_OVERHEAD['exports'], 0)} block "
        "openers with an export plus one 5.2 ms invoke, just over the target. "
        f"Without the block openers the default policy's p99 is {f(pct(rest, 99), 2)} ms. With a "
        "steady stream of invokes the share that pays an export is 1 / (20 s × invoke rate), and only invokes shorter than the export "
        "pay it. Closing it is the flush policy's job (lifecycle): return to `/event/next` when the "
        "function finishes and carry an unfinished export over to the next thaw (retrying what a "
        "freeze cut off), or start the periodic export only on invokes expected to outlast it. `end` "
        "costs ~25–30 ms per invoke by design (it waits for `platform.runtimeDone`, which the "
        "Telemetry API delivers after its minimum 25 ms buffering) and the whole backend delay when "
        "the backend is slow. Caller-seen latency does not change with a slow backend under any "
        f"policy; it is {f(cmp['adaptive/healthy']['caller_latency_delta_ms'], 1)} ms above no extension "
        f"here (the null extension: {f(cmp['null']['caller_latency_delta_ms'], 1)} ms) because the "
        "emulator, in the benchmark process, also delivers the telemetry and the "
        "extension handles INVOKE on the same two cores while the function runs.\n"
    )
    return text


def _memory(mem: dict[str, Any]) -> str:
    sc, nu = mem["sidecar"], mem["null"]
    return (
        f"**Memory.** The extension process holds {f(sc['rss_final_mb'])} MB after "
        f"{mem['invokes']:,} invokes (peak {f(sc['peak_hwm_mb'])} MB); the null extension, i.e. the "
        f"interpreter with `http.client`, holds {f(nu['rss_final_mb'])} MB. RSS grows during the "
        "first few hundred invokes and then stays flat (see the plot): allocator and buffer warm-up "
        f"rather than a leak; growth from invoke {sc['growth_from_invoke']:,} to the end: "
        f"{f(sc['growth_mb'], 2)} MB. The bulk is imported code: aiohttp (client and web server) "
        "and asyncio (OTLP is encoded without protobuf since 2026-12-07). The same lazy imports that "
        "would shorten the first invoke (no `aiohttp.web`, exporters loaded per destination) are what "
        "would bring it under 45 MB with margin.\n"
    )


def _throughput(tp: dict[str, Any]) -> str:
    text_summary, json_summary = tp["summary"]["text"], tp["summary"]["json"]
    lines = tp.get("extension_shutdown_lines", [])
    queue_full = counter(lines, "destination_dropped{otlp:queue_full}")
    exported = counter(lines, "exported{otlp}")
    pressed = counter(lines, "flushes_under_pressure")
    side = [r for r in tp["bursts"] if r["who"] == "sidecar"]
    api_dropped = sum(r["logs_dropped_records"] for r in side)
    best_kind = max(
        (text_summary, "text"), (json_summary, "JSON"), key=lambda kv: kv[0]["best_lossless_records_per_s"]
    )[1]
    best = max(text_summary["best_lossless_records_per_s"], json_summary["best_lossless_records_per_s"])
    per_cpu = {"text": text_summary["records_per_cpu_second"], "JSON": json_summary["records_per_cpu_second"]}
    above = [k for k, v in per_cpu.items() if v >= 20000]
    sizes = sorted({r["lines"] for r in side})
    biggest = sizes[-1] if sizes else 0
    # loss beyond what the Telemetry API itself reported dropping = loss at our export queue
    queue_loss = {
        n: [max(0, r["lost"] - r["logs_dropped_records"]) for r in side if r["lines"] == n] for n in sizes
    }
    clean_sizes = [n for n in sizes if n < biggest and not any(queue_loss[n])]
    slow_fn = [
        k
        for k, v in (("text", text_summary), ("JSON", json_summary))
        if v["function_only_records_per_s_median"] < 20000
    ]
    text = (
        f"**Throughput ({'met' if best >= 20000 else 'missed'}).** Extension CPU per 1,000 records, in "
        f"runs where nothing was dropped: about {f(text_summary['extension_cpu_ms_per_1000_median'], 0)} ms for text "
        f"lines and {f(json_summary['extension_cpu_ms_per_1000_median'], 0)} ms for JSON records (parse, OTLP "
        f"encoding, gzip, HTTP), i.e. ~{f(per_cpu['text'], 0)} and ~{f(per_cpu['JSON'], 0)} records per "
        "second of one core -- "
        + (
            "above the target for both, if the extension had a core to itself"
            if len(above) == 2
            else (
                f"above the target for {above[0]} only"
                if above
                else "below the target even if the extension had a core to itself"
            )
        )
        + " (/proc CPU ticks have 10 ms resolution, so over bursts of 1,000-3,000 records this figure is "
        f"coarse). End to end the best lossless run reached {f(best, 0)} records/s ({best_kind}; last full "
        f"run before export under pressure: {f(BEFORE['best_lossless'], 0)}), and "
        f"{f(text_summary['sustained_records_per_s_median'], 0)}/s (text) and {f(json_summary['sustained_records_per_s_median'], 0)}"
        "/s (JSON) sustained: the function, the emulator's telemetry delivery (Python, in the benchmark "
        "process), the extension and the receiver share two cores, and under `end` each invoke waits "
        "for its export. "
    )
    if slow_fn:
        text += (
            f"For {' and '.join(slow_fn)} the target is out of reach in this setup whatever the "
            "extension does: with no extension at all, the function and the emulator produce only "
            + " and ".join(
                f"{f(v['function_only_records_per_s_median'], 0)} {k} records/s"
                for k, v in (("text", text_summary), ("JSON", json_summary))
                if k in slow_fn
            )
            + " (sustained median). "
        )
    text += (
        "**Export under pressure** (new): while an invoke waits for its `runtimeDone`, the extension "
        "now exports as soon as a queue crosses its threshold (half of `SIDECAR_BUFFER_MAX_ITEMS`, "
        f"20,000): {pressed} such exports in this benchmark. "
    )
    if clean_sizes:
        text += (
            f"Bursts up to {clean_sizes[-1]:,} lines now lose records only where the platform reports it: "
            "every record they lost is counted in `platform.logsDropped` (the Telemetry API's buffer, "
            "which the emulator caps at 4 × maxBytes = 1 MiB per subscriber, overflowed before the "
            "extension took the records); the last full run before this change also lost "
            f"{f(BEFORE['queue_loss_30k_min'], 0)}–{f(BEFORE['queue_loss_30k_max'], 0)} records per "
            "30,000-line burst at the extension's own queue. "
        )
    text += (
        f"At {biggest:,} lines the queue still overflows: records lost beyond `logsDropped` per burst "
        f"{', '.join(f'{v:,}' for v in queue_loss.get(biggest, []))}; over the whole run "
        f"`destination_dropped{{otlp:queue_full}}` = {queue_full:,} against {exported:,} exported (before: "
        f"{f(BEFORE['queue_full'], 0)} against {f(BEFORE['exported'], 0)}), and the Telemetry API dropped "
        f"{api_dropped:,} records over all bursts. Each export batch (up to 2,000 records) is encoded and "
        "gzipped synchronously on the extension's one event loop, so intake pauses while it runs and "
        "the platform's buffer fills; and one export at a time cannot drain a function that writes "
        "faster than the extension encodes (the function alone writes "
        f"{f(text_summary['function_only_records_per_s_median'], 0)} text lines/s here). "
        f"{tp.get('receiver_duplicates', 0):,} records arrived twice (before: "
        f"{f(BEFORE['duplicates'], 0)}): exports cut off by the export budget or the invoke deadline after "
        "the receiver had accepted them, then retried. What would close it (exporters, pipeline, "
        "processors): smaller batches under pressure (intake runs between them), several exports in flight per destination and batches sized to fit the export "
        "budget (no cut-off, no duplicates), less per-record work for JSON records (profile first), and "
        "a larger Telemetry API buffer (`SIDECAR_TELEMETRY_MAX_BYTES` up to 1 MiB) to absorb bursts.\n"
    )
    return text


def _cache(ca: dict[str, Any]) -> str:
    urllib, bt = ca["summary"]["urllib"], ca["summary"]["boto3_direct"]
    pre = ca["init_reads"]["prefetched"]["ms"]
    cold = ca.get("cold_start")
    return (
        f"**Cache.** A hit costs {f(urllib['median'], 2)} ms median with a new connection per call "
        f"({f(ca['summary']['requests_session']['median'], 2)} ms with a kept-alive `requests.Session`), "
        f"against {f(bt['median'], 1)} ms for boto3 to a *local* moto (a real region adds its network "
        f"round trip). Tail: p99/p50 = {f(urllib['p99'] / urllib['median'], 1)} for cache hits and "
        f"{f(bt['p99'] / bt['median'], 1)} for the direct boto3 calls measured in the same invokes; a "
        "hit's tail on this loaded machine is scheduling noise plus the moments the extension's "
        "single event loop is busy with other work (telemetry intake, exports), which this benchmark "
        "does not separate. The function's first read in init, of a prefetched secret, took "
        f"{f(pre['median'], 0)} ms median (before fast init: {f(BEFORE['first_read_ms'], 0)} ms)"
        + (
            f", and that function's Init Duration was {f(cold['init_ms']['median'], 0)} ms (first invoke's "
            f"extensionOverhead {f(cold['first_invoke_extension_overhead_ms']['median'], 0)} ms)"
            if cold
            else ""
        )
        + ": the cache port is bound before `/register`, so the read is accepted at once, but it is "
        "answered only when the extension's event loop runs -- after the application's imports and, "
        "although the cache endpoints start first, also after the telemetry pipeline's imports and "
        "set-up, which block that loop (the read completes just after the extension logs `ready`, not "
        "when it logs `cache endpoints ready`; the prefetch, too, only starts then). The read then joins "
        "the prefetch in flight (no extra AWS call). For a function that reads the cache in its init, "
        "fast init saves nothing: that init still contains the extension's start-up. Loading the telemetry "
        "pipeline only once the prefetch is done and the reads waiting for it are answered (or once the "
        "first INVOKE arrives) would answer them earlier by the pipeline's import time.\n"
    )
