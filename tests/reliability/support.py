"""Shared pieces of the reliability suite: the test function, scale, and reading the extension.

Everything here reads what the extension itself reports (its log lines, its exported
`lambda_sidecar.*` counters, /proc of its process), so the figures of docs/reliability.md come
from the running system, not from the test's own bookkeeping.
"""

from __future__ import annotations

import os
import re
import socket
import textwrap
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emulator import LambdaEnvironment
from tests.integration.helpers import metric_points

#: `SIDECAR_RELIABILITY_SCALE=40` turns the CI sizes into the full run (25 → 1,000 invokes of the
#: nothing-lost case; other cases grow up to their caps).
SCALE = max(0.1, float(os.environ.get("SIDECAR_RELIABILITY_SCALE", "1") or "1"))
EXTENSION = "lambda-sidecar"

#: The function under test: numbered text and JSON lines, then an optional fault.
FUNCTION = """
import json, os, sys, time

def handler(event, context):
    tag, n = event.get("tag", "t"), event.get("n", 0)
    for i in range(event.get("lines", 2)):
        print(f"rel-text {tag} {n} {i}")
        print(json.dumps({"message": f"rel-json {tag} {n} {i}", "level": "INFO", "seq": i}))
    pad = event.get("big", 0)
    for i in range(event.get("big_lines", 0)):
        print(f"rel-big {tag} {n} {i} " + "x" * pad)
    for i in range(event.get("flood", 0)):
        print(f"rel-flood {tag} {n} {i} " + "y" * 80)
    sys.stdout.flush()
    if event.get("secret_url"):
        import urllib.request
        req = urllib.request.Request(event["secret_url"], headers={
            "X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=5) as resp:
            secret = json.loads(resp.read())["SecretString"]
        return {"secret_length": len(secret)}
    if event.get("say"):
        print(event["say"])
        sys.stdout.flush()
    if event.get("fail"):
        raise ValueError(f"boom {n}")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("crash"):
        os._exit(3)
    return {"n": n}
"""


def scaled(base: int, cap: int | None = None) -> int:
    """`base` in CI; `base x SCALE` in a full run, at most `cap` (keeps the full run near 30 min)."""
    n = max(1, round(base * SCALE))
    return max(base if SCALE >= 1 else 1, min(n, cap)) if cap is not None else n


def make_function(tmp_path: Path, code: str = FUNCTION) -> Path:
    task = tmp_path / "task"
    task.mkdir(exist_ok=True)
    (task / "app.py").write_text(textwrap.dedent(code))
    return task


def expected_lines(tag: str, n: int, lines: int) -> list[str]:
    return [f"rel-{kind} {tag} {n} {i}" for i in range(lines) for kind in ("text", "json")]


def body_text(record: Any) -> str:
    body = record.body
    if body.HasField("string_value"):
        return str(body.string_value)
    return str(body)


def line_counts(records: Iterable[Any], prefix: str = "rel-") -> Counter[str]:
    """How many times each of our numbered lines arrived (bodies starting with `prefix`)."""
    out: Counter[str] = Counter()
    for record in records:
        text = body_text(record).strip()
        if text.startswith(prefix):
            out[text] += 1
    return out


def quiet(source: str, line: str) -> None:
    """Output echo for the emulator: nothing (the suite reads `output_lines` instead)."""


def extension_lines(lam: LambdaEnvironment) -> list[str]:
    return [line for source, line in lam.output_lines if source == EXTENSION]


_PORT_RE = re.compile(r"subscribed to the Telemetry API \(schema [^,]+, port (\d+)\)")
_SUMMARY_RE = re.compile(r"shutdown after (\d+) invokes: (.*)$")
_ITEM_RE = re.compile(r"([a-z_]+(?:\{[^}]*\})?)=(\d+)")


def listener_port(lam: LambdaEnvironment) -> int:
    """The extension's Telemetry API listener port, from its own start-up line."""
    for line in reversed(extension_lines(lam)):
        match = _PORT_RE.search(line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"no subscription line in {extension_lines(lam)}")


def listener_path(lam: LambdaEnvironment) -> str:
    """The secret path the extension subscribed its listener under (only Lambda, here the
    emulator, learns it; the listener answers every other path 404)."""
    url = lam.sandbox.env.hub.subscribers()[EXTENSION].subscription.url
    assert url is not None, "the extension subscribed without an HTTP destination"
    return urlsplit(url).path


def shutdown_summaries(lam: LambdaEnvironment) -> list[dict[str, int]]:
    """Every shutdown summary line the extension printed, parsed (`name{label}` -> count)."""
    out = []
    for line in extension_lines(lam):
        match = _SUMMARY_RE.search(line)
        if match:
            counts = {k: int(v) for k, v in _ITEM_RE.findall(match.group(2))}
            counts["invokes"] = int(match.group(1))
            out.append(counts)
    return out


def summed(summaries: Iterable[dict[str, int]], name: str) -> int:
    """Total of counter `name` (all labels) over several summaries."""
    return sum(v for s in summaries for k, v in s.items() if k == name or k.startswith(name + "{"))


def dropped_by_reason(summaries: Iterable[dict[str, int]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for s in summaries:
        for k, v in s.items():
            if k.startswith("dropped{"):
                out[k[len("dropped{") : -1]] += v
    return dict(out)


def sidecar_metrics(metrics: Iterable[Any]) -> dict[str, float]:
    """Exported self-telemetry: `lambda_sidecar.<name>` (summed over labels and exports)."""
    totals: Counter[str] = Counter()
    metrics = list(metrics)
    for name in {m.name for m in metrics if m.name.startswith("lambda_sidecar.")}:
        for p in metric_points(metrics, name):
            totals[name] += p.as_int or p.as_double
    return dict(totals)


def platform_dropped(lam: LambdaEnvironment) -> int:
    """Records the platform itself reports as dropped (platform.logsDropped)."""
    return sum(int(e["record"].get("droppedRecords", 0)) for e in lam.events_of("platform.logsDropped"))


def proc_status_kb(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a live process, in kB (Linux)."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def http_raw(port: int, request: bytes, timeout: float = 5.0, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """Send raw bytes, return (status, whole response); status 0 if the server closed without one.

    A timeout raises: a hang is a failure of the endpoint."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)  # no half-close: servers may treat it as the client going away
        chunks = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            raise TimeoutError("no complete answer")
    data = b"".join(chunks)
    if not re.match(rb"HTTP/1\.[01] \d{3}", data):
        return 0, data
    statuses = [int(s) for s in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3})", data)]
    final = [s for s in statuses if s >= 200]  # skip interim 1xx answers (100 Continue)
    return (final[0] if final else statuses[0]), data


def http_request(
    port: int,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "127.0.0.1",
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        head.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    return http_raw(port, raw, timeout, host)
