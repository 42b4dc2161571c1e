"""Layer size per target and import time of the entry module.

    python -m bench.layer_size [--quick] [--all]

Sizes come from the layer build's own report (`layer-report.json`: zipped and unpacked bytes,
file count, biggest groups). `--all` (default in full mode) builds every Python x architecture
target into a scratch folder (`layer/build_layer.py --all --out <tmp>`); otherwise the default
target in build/ is reported.

Import time is taken with `python -X importtime` running the layer exactly as the launcher does
(`-E -S -B -X frozen_modules=on`, the boot script, `--version` so it exits right after the fast
path's imports), and for the post-register application (`import extension.app`), min and median
over repeated runs, alternating with a bare `python -c pass` under the same options.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import BASE_PY, PY, ROOT, ensure_layer, log, summary, write_result

FLAGS = ["-E", "-S", "-B", "-X", "frozen_modules=on"]


def sizes(build_all: bool) -> dict[str, Any]:
    if build_all:
        with tempfile.TemporaryDirectory(prefix="bench-layers-") as tmp:
            subprocess.run(
                [PY, str(ROOT / "layer" / "build_layer.py"), "--all", "--out", tmp, "--quiet"],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            report = json.loads((Path(tmp) / "layer-report.json").read_text())
    else:
        report = json.loads((ROOT / "build" / "layer-report.json").read_text())
    targets = []
    for t in report["targets"]:
        targets.append(
            {
                "target": t["target"],
                "zipped_mb": t["zipped_bytes"] / 1e6,
                "unpacked_mb": t["unpacked_bytes"] / 1e6,
                "files": t["files"],
                "bytecode": t.get("bytecode", ""),
                "top_groups": [
                    {"name": g["name"], "unpacked_mb": g["unpacked"] / 1e6, "zipped_mb": g["zipped"] / 1e6}
                    for g in t["groups"][:6]
                ],
            }
        )
    return {"all_targets": build_all, "grpc": report.get("grpc", False), "targets": targets}


def _importtime(args: list[str], cwd: Path) -> tuple[int, dict[str, tuple[int, int]]]:
    """(sum of top-level cumulative µs, {module: (self µs, cumulative µs)}) of one run."""
    proc = subprocess.run(
        [BASE_PY, *FLAGS, "-X", "importtime", *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    total = 0
    mods: dict[str, tuple[int, int]] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        if not name.startswith("  "):  # top level: one space after the bar
            total += int(cum_us)
        mods[name.strip()] = (int(self_us), int(cum_us))
    return total, mods


def import_times(runs: int) -> dict[str, Any]:
    layer = ensure_layer()
    boot = layer / "lambda-sidecar" / "sidecar_boot.py"
    cases = {
        "python -c pass": (["-c", "pass"], layer),
        "fast path (boot script --version)": ([str(boot), "--version"], layer),
        "application (import extension.app)": (["-c", "import extension.app"], layer / "lambda-sidecar"),
    }
    totals: dict[str, list[float]] = {case: [] for case in cases}
    per_module: dict[str, dict[str, list[tuple[int, int]]]] = {case: defaultdict(list) for case in cases}
    for run_index in range(runs):
        for case in list(cases) if run_index % 2 == 0 else list(cases)[::-1]:
            args, cwd = cases[case]
            total, mods = _importtime(args, cwd)
            totals[case].append(total / 1000)
            for module, timings in mods.items():
                per_module[case][module].append(timings)
    out: dict[str, Any] = {}
    for case in cases:
        seen = per_module[case]
        top = sorted(
            (
                (min(s for s, _ in timings), min(k for _, k in timings), module)
                for module, timings in seen.items()
            ),
            reverse=True,
        )
        cum = sorted(((min(k for _, k in timings), module) for module, timings in seen.items()), reverse=True)
        out[case] = {
            "total_ms": summary(totals[case]),
            "modules": len(seen),
            "top_self_ms": [
                {"module": module, "self_ms": s / 1000, "cumulative_ms": k / 1000}
                for s, k, module in top[:15]
            ],
            "top_cumulative_ms": [{"module": module, "cumulative_ms": k / 1000} for k, module in cum[:15]],
        }
    return out


def run(quick: bool, build_all: bool | None = None, runs: int | None = None) -> dict[str, Any]:
    ensure_layer()
    build_all = (not quick) if build_all is None else build_all
    log(f"layer sizes ({'all targets' if build_all else 'default target'}) ...")
    data = {"sizes": sizes(build_all), "import_time": import_times(runs or (10 if quick else 30))}
    write_result("layer_size", data, quick)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--all", action="store_true", default=None)
    args = parser.parse_args()
    data = run(args.quick, args.all)
    for target in data["sizes"]["targets"]:
        print(
            f"{target['target']:22} zipped {target['zipped_mb']:.2f} MB,"
            f" unpacked {target['unpacked_mb']:.2f} MB"
        )
    for case, value in data["import_time"].items():
        print(
            f"{case:38} imports median {value['total_ms']['median']:.1f} ms"
            f" min {value['total_ms']['min']:.1f} ms"
        )


if __name__ == "__main__":
    main()
