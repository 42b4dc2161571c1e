"""Import cost of the outbound HTTP client: ours (httptools) against aiohttp's ClientSession.

    python -m bench.client_imports [--runs 9] [--path build/layer/lambda-sidecar]

Each case runs in a fresh `python3 -E -S -B` (as the layer's launcher starts the extension) with
the layer's private folder first on `sys.path` (then this interpreter's site-packages, where
aiohttp comes from now that the layer no longer ships it); CPU (user+sys) and max RSS come from `os.wait4`,
i.e. getrusage of that one child. Prints the median of `--runs` runs per case, and the cost of
each case above plain `import asyncio` (which every variant pays).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "asyncio": "import asyncio",
    "extension.http.client": (
        "import asyncio\nfrom extension.http.client import HttpClient\nHttpClient(max_connections=16)"
    ),
    "aiohttp.ClientSession": (
        "import asyncio\nimport aiohttp\n"
        "async def main():\n"
        "    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)):\n"
        "        pass\n"
        "asyncio.run(main())"
    ),
    "grpc.aio": "import asyncio\nimport grpc.aio",
}


def measure(code: str, path: Path) -> tuple[float, float]:
    """(CPU seconds, max RSS in MB) of one fresh interpreter running `code`."""
    paths = [str(path), str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    setup = f"import sys\nsys.path[:0] = {paths!r}\n"
    proc = subprocess.Popen([sys.executable, "-E", "-S", "-B", "-c", setup + code])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"case failed: {code!r}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--path", type=Path, default=ROOT / "build" / "layer" / "lambda-sidecar")
    args = parser.parse_args()
    results: dict[str, tuple[float, float]] = {}
    for name, code in CASES.items():
        runs = [measure(code, args.path) for _ in range(args.runs)]
        results[name] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
    base_cpu, base_rss = results["asyncio"]
    print(f"median of {args.runs} runs, python3 -E -S -B {sys.version.split()[0]}")
    print(f"{'case':<24} {'CPU ms':>8} {'RSS MB':>8} {'+CPU ms':>8} {'+RSS MB':>8}")
    for name, (cpu, rss) in results.items():
        print(f"{name:<24} {cpu * 1000:8.0f} {rss:8.1f} {(cpu - base_cpu) * 1000:8.0f} {rss - base_rss:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
