"""Shared fixtures: the built layer (what users attach is what we test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER_DIR = ROOT / "build" / "layer"


@pytest.fixture(scope="session")
def built_layer() -> Path:
    """`build/layer/` for the local interpreter and architecture, built once per session.

    `./build.sh test` builds it before pytest starts and sets SIDECAR_LAYER_BUILT=1; a bare
    `pytest` run builds it here (fast when nothing changed)."""
    if (
        os.environ.get("SIDECAR_LAYER_BUILT") != "1"
        or not (LAYER_DIR / "extensions" / "lambda-sidecar").exists()
    ):
        subprocess.run([sys.executable, str(ROOT / "layer" / "build_layer.py")], cwd=ROOT, check=True)
    return LAYER_DIR


@pytest.fixture(autouse=True)
def _isolated_secret_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets resolved in one test (exporter header references) must not make another test's
    redactor active: the registry is process-wide in the extension, per test here."""
    from extension.processors import redaction

    monkeypatch.setattr(redaction.SECRETS, "_values", set())
