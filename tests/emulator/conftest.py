"""Fixtures for the emulator conformance tests: a temp /opt and /var/task with probes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
PROBE = HERE / "probe_extension.py"
FUNCTION = HERE / "probe_function.py"


@dataclass
class Layout:
    """A function layout: ``opt/extensions`` with probe copies, ``task/app.py``, probe records."""

    root: Path

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    @property
    def task(self) -> Path:
        return self.root / "task"

    @property
    def probe_dir(self) -> Path:
        return self.root / "probes"

    def add_probe(self, name: str, **config: Any) -> None:
        """Install the probe extension as ``opt/extensions/<name>`` with this config."""
        target = self.opt / "extensions" / name
        shutil.copy(PROBE, target)
        target.chmod(0o755)
        (self.probe_dir / f"{name}.config.json").write_text(json.dumps(config))

    def record(self, name: str) -> dict[str, Any]:
        """What the probe ``name`` observed (its JSON record file)."""
        return json.loads((self.probe_dir / f"{name}.json").read_text())

    def env(self, **extra: str) -> dict[str, str]:
        return {"PROBE_DIR": str(self.probe_dir), **extra}

    def kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``LambdaEnvironment`` (short timeouts, quiet output)."""
        base: dict[str, Any] = {
            "opt_dir": self.opt,
            "task_dir": self.task,
            "handler": "app.handler",
            "timeout_s": 2.0,
            "env": self.env(),
            "echo_output": False,
        }
        base.update(overrides)
        return base


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    lay = Layout(tmp_path)
    (lay.opt / "extensions").mkdir(parents=True)
    lay.task.mkdir()
    lay.probe_dir.mkdir()
    shutil.copy(FUNCTION, lay.task / "app.py")
    return lay


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def types_received(record: dict[str, Any]) -> list[str]:
    """Event types a probe received through its telemetry listener, in delivery order."""
    return [e["type"] for batch in record["telemetry"] for e in batch["body"]]


def events_received(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for batch in record["telemetry"] for e in batch["body"]]


ALL_TYPES = {"schemaVersion": "2025-01-29", "types": ["platform", "function", "extension"]}
FAST = {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25}


def api_call(
    runtime_api: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One HTTP call to the emulator's APIs, as an extension would make it: (status, parsed body)."""
    import urllib.error
    import urllib.request

    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(
        f"http://{runtime_api}{path}", data=data, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python -m emulator run ARGS`` from the repository root, without the caller's AWS variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "emulator", "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
