"""`python -m emulator.demo --quick` end to end: the built layer, moto, the AppConfig server and
the OTLP receiver, as `./build.sh demo` runs it (fewer invokes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.demo.backends import SECRET_VALUE

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_quick_demo_prints_the_summary_and_writes_the_report(built_layer: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "emulator.demo", "--quick", "--layer", str(built_layer), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    stdout = proc.stdout
    assert proc.stderr == ""  # quiet by default: no function or extension output
    for part in (
        "Invocations",
        "Traces",
        "init orders-api",
        "invoke orders-api",
        "responseLatency",
        "responseDuration",
        "runtimeOverhead",
        "extensionOverhead",
        "Lambda metrics",
        "cold starts",
        "billed duration",
        "extension overhead",
        "Sandbox.Timedout",
        "ValueError",
        "configuration read for",  # a correlated log line of orders-api
        "X-Cache hit",
        "AWS calls by the extension",
        "invoke orders-instrume",  # the instrumented sample: its own spans nested in the invocation
        "    process order",
        "      validate",
        str(out / "report.html"),
    ):
        assert part in stdout, part
    summary_text = (out / "summary.txt").read_text()
    assert "Lambda metrics" in summary_text and "\x1b[" not in summary_text

    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for part in (
        "orders-api",
        "payments",
        "nightly-report",
        "extensionOverhead",
        "Lambda metrics",
        "X-Cache",
    ):
        assert part in page, part

    files = sorted((out / "otlp").glob("*.json"))
    signals = {f.stem.split("-", 1)[1] for f in files}
    assert signals == {"traces", "metrics", "logs"}
    docs = [json.loads(f.read_text()) for f in files]
    assert any("resourceSpans" in d for d in docs)

    password = json.loads(SECRET_VALUE)["password"]
    everything = [stdout, proc.stderr, summary_text, page, *(f.read_text() for f in files)]
    assert not any(password in text for text in everything), "the secret value leaked into the demo output"
