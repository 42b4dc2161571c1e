"""Run every benchmark, then regenerate docs/benchmarks.md and docs/img/*.png.

    python -m bench.run_all [--quick] [--only NAME[,NAME]] [--skip NAME[,NAME]]

(`./build.sh bench [--quick]` builds the layer first and runs this.) Each benchmark runs in its
own process, one after the other (never two at once: they would measure each other); a failing
benchmark is reported and the others still run; the page is rendered from whatever results
exist in bench/results/. Quick mode takes a few minutes; full mode 15-20 minutes on two cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench import report
from bench.common import PY, ROOT, log

ORDER = (
    "layer_size",
    "cold_start",
    "overhead",
    "memory",
    "throughput",
    "cache_latency",
    "function_telemetry",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and invokes (a few minutes)")
    parser.add_argument("--only", default="", help="comma list of benchmarks to run")
    parser.add_argument("--skip", default="", help="comma list of benchmarks to skip")
    args = parser.parse_args()
    only = [n for n in args.only.split(",") if n]
    skip = {n for n in args.skip.split(",") if n}
    unknown = [n for n in (*only, *skip) if n not in ORDER]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(ORDER)}")
    failed: list[str] = []
    started = time.monotonic()
    for name in ORDER:
        if (only and name not in only) or name in skip:
            continue
        log(f"==> {name}{' (quick)' if args.quick else ''}")
        t0 = time.monotonic()
        cmd = [PY, "-m", f"bench.{name}", *(["--quick"] if args.quick else [])]
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            failed.append(name)
        log(f"<== {name} in {time.monotonic() - t0:.0f} s")
    report.write()
    log(f"wrote {report.DOC.relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
