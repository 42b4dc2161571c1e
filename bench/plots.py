"""PNG plots for docs/benchmarks.md, drawn from bench/results/*.json (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import ROOT, pct

IMG = ROOT / "docs" / "img"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _box(ax: Any, data: list[list[float]], labels: list[str]) -> None:
    ax.boxplot(data, whis=(10, 90), showfliers=True, flierprops={"markersize": 3, "alpha": 0.4})
    ax.set_xticks(range(1, len(labels) + 1), labels)
    for i, values in enumerate(data, start=1):  # every sample, jittered, over the box
        xs = [i + ((j % 7) - 3) * 0.03 for j in range(len(values))]
        ax.plot(xs, values, "o", markersize=2.5, alpha=0.35)


def cold_start(result: dict[str, Any]) -> Path:
    plt = _plt()
    first = result["init"].get("first_invoke")
    fig, axes = plt.subplots(1, 3 if first else 2, figsize=(15 if first else 11, 4.2))
    a1, a2 = axes[0], axes[1]
    init = result["init"]["samples"]
    labels = {"none": "no extension", "null": "null extension", "sidecar": "lambda-sidecar"}
    _box(a1, [init[k] for k in labels], list(labels.values()))
    a1.set_ylabel("Init Duration (ms)")
    a1.set_title("Init Duration, minimal function")
    a1.set_ylim(bottom=0)
    if first:
        _cold_invoke(axes[2], result["init"]["summary"], first, labels)
    l2r = result["launch_to_register"]["samples"]
    _box(a2, list(l2r.values()), [k.replace(" -c pass", "\n-c pass") for k in l2r])
    a2.set_ylabel("ms")
    a2.set_title("Launch to register (baselines: launch to exit)")
    a2.set_ylim(bottom=0)
    a2.tick_params(axis="x", labelsize=8)
    fig.suptitle("Cold start: boxes p25-p75, whiskers p10-p90, dots = every run", fontsize=9)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / "cold_start.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cold_invoke(
    ax: Any, init: dict[str, Any], first: dict[str, dict[str, Any]], labels: dict[str, str]
) -> None:
    """Medians stacked: init, then the first invoke's phase split into the function's run and
    the extension's overhead after it (where fast init moved the extension's start-up)."""
    xs = range(len(labels))
    parts = (
        ("Init Duration", [init[k]["median"] for k in labels]),
        (
            "first invoke: until runtime done",
            [
                first["invoke_phase_ms"][k]["median"] - first["extension_overhead_ms"][k]["median"]
                for k in labels
            ],
        ),
        ("first invoke: extensionOverhead", [first["extension_overhead_ms"][k]["median"] for k in labels]),
    )
    bottom = [0.0] * len(labels)
    for name, values in parts:
        ax.bar(xs, values, bottom=bottom, label=name, width=0.6)
        bottom = [b + max(v, 0.0) for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(list(xs), list(labels.values()))
    ax.set_ylabel("ms (medians)")
    ax.set_title("Cold start until the environment is free again")
    ax.legend(fontsize=7)


def overhead(result: dict[str, Any]) -> Path:
    plt = _plt()
    samples = result["samples"]
    configs = list(samples)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    _box(a1, [[max(v, 0.01) for v in samples[c]["extension_overhead_ms"]] for c in configs], configs)
    a1.set_yscale("log")
    a1.set_ylabel("extensionOverhead (ms, log; 0 shown as 0.01)")
    a1.set_title("Per-invoke extension overhead and caller-seen latency, per flush policy / receiver")
    latencies = [samples[c]["caller_latency_ms"] for c in configs]
    _box(a2, latencies, configs)
    top = 1.3 * max(pct(v, 99) for v in latencies if v)
    a2.set_ylim(0, top)
    worst = max(max(v) for v in latencies if v)
    a2.set_ylabel("caller-seen latency (ms)")
    if worst > top:
        a2.set_title(f"axis cut at 1.3 x the largest p99; slowest single invoke {worst:.0f} ms", fontsize=8)
    a2.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / "overhead.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def memory(result: dict[str, Any]) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for name, label in (("sidecar", "lambda-sidecar"), ("null", "null extension")):
        pts = result["series"][name]
        ax.plot([p["invokes"] for p in pts], [p["rss_mb"] for p in pts], label=f"{label} VmRSS")
        ax.plot([p["invokes"] for p in pts], [p["hwm_mb"] for p in pts], "--", label=f"{label} VmHWM")
    ax.axhline(45, color="grey", linewidth=0.8, linestyle=":", label="target 45 MB")
    ax.set_xlabel("invokes")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title("Extension process memory over invokes")
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / "memory.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
