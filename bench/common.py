"""What every benchmark shares: paths, statistics, results files, backends and environments.

Rules every script follows: baselines run in the same process as the measured configuration,
in alternating order (round-robin with the starting configuration rotated every round), and
every figure is reported as median, p90 (p99 where the target asks) and spread (min, max,
interquartile range). Nothing here asserts on timings.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "build" / "layer"
NULL_LAYER = ROOT / "bench" / "null_layer"
BENCH_FN = ROOT / "bench" / "functions" / "bench_fn"
MINIMAL_FN = ROOT / "sample_functions" / "minimal"
RESULTS = ROOT / "bench" / "results"
PY = sys.executable
#: The interpreter Lambda's python3 would be: the base interpreter of the venv (what the emulator uses).
BASE_PY = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
SECRETS = ("bench/db-password", "bench/api-key")
COLD_SECRET = "bench/not-prefetched"


# ---- statistics --------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """Percentile by linear interpolation (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    """median, p90, p99, min, max, IQR, mean and n: the shape every figure is reported in."""
    vals = [float(v) for v in values]
    return {
        "n": len(vals),
        "median": pct(vals, 50),
        "p90": pct(vals, 90),
        "p99": pct(vals, 99),
        "min": min(vals) if vals else float("nan"),
        "max": max(vals) if vals else float("nan"),
        "iqr": pct(vals, 75) - pct(vals, 25),
        "mean": statistics.fmean(vals) if vals else float("nan"),
    }


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def extension_overhead_ms(report: dict[str, Any]) -> float:
    """The `extensionOverhead` span of a `platform.report` record (0 when there is none: every
    extension was back in `/event/next` before the runtime finished, or there is no extension)."""
    for span in report.get("spans", []):
        if span.get("name") == "extensionOverhead":
            return float(span.get("durationMs", 0.0))
    return 0.0


def rotated(items: Sequence[str], round_no: int) -> list[str]:
    """Round-robin order with the starting item rotated each round (so no configuration is always first)."""
    k = round_no % len(items)
    order = list(items[k:]) + list(items[:k])
    return order if round_no % 2 == 0 else order[::-1]


# ---- results -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": list(os.getloadavg()),
    }


def write_result(name: str, data: dict[str, Any], quick: bool) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "quick": quick,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": machine(),
        "layer": layer_build_info(_snapshot) if _snapshot else {},
        **data,
    }
    path.write_text(json.dumps(payload, indent=1, default=float))
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


_snapshot: Path | None = None


def ensure_layer() -> Path:
    """A private copy of build/layer/ (built first if missing), taken once per process.

    Other work in the same tree may rebuild build/layer/ at any moment; a benchmark must not see
    the layer change (or vanish) in the middle of a run."""
    global _snapshot
    if _snapshot is None:
        if not (LAYER / "extensions" / "lambda-sidecar").exists():
            subprocess.run([PY, str(ROOT / "layer" / "build_layer.py"), "--quiet"], cwd=ROOT, check=True)
        tmp = Path(tempfile.mkdtemp(prefix="bench-layer-"))
        atexit.register(shutil.rmtree, tmp, True)
        shutil.copytree(LAYER, tmp / "layer", symlinks=True)
        _snapshot = tmp / "layer"
    return _snapshot


def layer_build_info(layer: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in (layer / "lambda-sidecar" / "BUILD-INFO").read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                info[key] = value
    except OSError:
        pass
    return info


@contextmanager
def empty_opt() -> Iterator[Path]:
    """An /opt with no extensions: the no-extension baseline."""
    with tempfile.TemporaryDirectory(prefix="bench-opt-") as tmp:
        yield Path(tmp)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- /proc -------------------------------------------------------------------------------------


def proc_status_kb(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / RssAnon of a live process, in kB (empty when it is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return out


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process in seconds (from /proc/<pid>/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = text.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # [0] is field 3 (state) of proc(5)


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid` (scans /proc: ppid is field 4 of /proc/<pid>/stat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def proc_tree_cpu_s(pid: int, children: list[int] | None = None) -> float:
    """CPU seconds of a process and its children: its utime + stime, the cutime + cstime of the
    children it has waited for, and utime + stime of its live descendants (`children`, scanned
    when not given). NaN when the process is gone. /proc counts in clock ticks (10 ms)."""
    fields = _stat_fields(pid)
    if fields is None:
        return float("nan")
    ticks = sum(int(v) for v in fields[11:15])
    for child in descendants(pid) if children is None else children:
        child_fields = _stat_fields(child)
        if child_fields is not None:
            ticks += int(child_fields[11]) + int(child_fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class ExitSampler:
    """Polls a process (and the descendants it had when sampling started) until it exits: the last
    CPU seconds and VmHWM seen are its figures at exit (the emulator reaps the process, so /proc
    has nothing afterwards). Polling every `period_s` costs little next to the 10 ms ticks."""

    def __init__(self, pid: int, period_s: float = 0.002) -> None:
        import threading

        self.pid = pid
        self.cpu_s = proc_tree_cpu_s(pid)
        self.hwm_kb = proc_status_kb(pid).get("VmHWM", 0)
        self._children = descendants(pid)
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exit-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            cpu = proc_tree_cpu_s(self.pid, self._children)
            if cpu != cpu:  # NaN: gone
                return
            hwm = proc_status_kb(self.pid).get("VmHWM", 0)
            self.cpu_s = max(self.cpu_s, cpu)
            self.hwm_kb = max(self.hwm_kb, hwm)
            self._stop.wait(self._period)

    def finish(self, timeout_s: float = 30.0) -> tuple[float, float]:
        """(CPU seconds, VmHWM MB) once the process is gone (or after `timeout_s`)."""
        self._thread.join(timeout_s)
        self._stop.set()
        return self.cpu_s, self.hwm_kb / 1024


#: Lambda allocates CPU in proportion to memory: one full vCPU at 1,769 MB
#: (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
FULL_CPU_MB = 1769
TRANSLATE_MB = (128, 512, 1769)


def billed_s_for_cpu(cpu_s: float, memory_mb: int) -> float:
    """Wall seconds a function of `memory_mb` needs for `cpu_s` of CPU (its share: memory / 1,769 MB)."""
    return cpu_s / (min(memory_mb, FULL_CPU_MB) / FULL_CPU_MB)


# ---- backends ----------------------------------------------------------------------------------


class Sink:
    """The counting OTLP receiver of bench/sink.py in its own process (see there)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [PY, "-m", "bench.sink"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._proc.stdout is not None
        self.endpoint: str = json.loads(self._proc.stdout.readline())["endpoint"]

    def _cmd(self, line: str) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        out: dict[str, Any] = json.loads(self._proc.stdout.readline())
        return out

    def stats(self) -> dict[str, Any]:
        return self._cmd("stats")

    def delay(self, seconds: float) -> None:
        self._cmd(f"delay {seconds}")

    def reset(self) -> None:
        self._cmd("reset")

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write("quit\n")
                self._proc.stdin.flush()
                self._proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Moto:
    """moto's own server (`moto_server`) in its own process, with the benchmark secrets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("moto_server", path=str(Path(PY).parent)) or "moto_server"
        self._proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.close()
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        self.client = boto3_client(self.url)
        for name in (*SECRETS, COLD_SECRET):
            self.client.create_secret(Name=name, SecretString=json.dumps({"value": name, "pad": "x" * 200}))

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> Moto:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def boto3_client(url: str) -> Any:
    import boto3

    return boto3.client(
        "secretsmanager",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# ---- extension configuration -------------------------------------------------------------------


def sidecar_env(
    sink: Sink | None, moto: Moto | None, *, policy: str | None = None, **extra: str
) -> dict[str, str]:
    """The default configuration (OTLP/HTTP on, cache on with two prefetched secrets), on free ports.

    `policy=None` keeps the default flush policy (adaptive)."""
    env = {
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(free_port()),
        "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(free_port()),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "bench-session-token",
    }
    if sink is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
    else:
        env["SIDECAR_EXPORTERS"] = "file"
        env["SIDECAR_FILE_PATH"] = "/dev/null"
    if moto is not None:
        env["AWS_ENDPOINT_URL"] = moto.url
        env["SIDECAR_PREFETCH"] = ",".join(f"sm:{s}" for s in SECRETS)
    if policy is not None:
        env["SIDECAR_FLUSH_POLICY"] = policy
    env.update(extra)
    return env


def baseline_env(moto: Moto | None = None) -> dict[str, str]:
    """Same function variables without the extension's (the baselines)."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    if moto is not None:
        env["AWS_ENDPOINT_URL"] = moto.url
    return env


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()
