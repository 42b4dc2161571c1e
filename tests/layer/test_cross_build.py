"""A non-native target resolves through pip's platform options (needs the package index)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.layer.conftest import ROOT, read_build_info

AARCH64 = 183  # ELF e_machine


@pytest.mark.slow
def test_arm64_layer_for_another_python_builds_with_aarch64_wheels(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "layer" / "build_layer.py"), "--python", "3.12", "--arch", "arm64"]
    out = subprocess.run(
        [*cmd, "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "lambda-sidecar-python3.12-arm64.zip" in out.stdout and "within budget" in out.stdout
    assert not (tmp_path / "layer").exists()  # the unpacked tree is for the local target only
    with zipfile.ZipFile(tmp_path / "lambda-sidecar-python3.12-arm64.zip") as zf:
        zf.extract("lambda-sidecar/BUILD-INFO", tmp_path)
        info = read_build_info(tmp_path / "lambda-sidecar" / "BUILD-INFO")
        assert (info["python"], info["arch"]) == ("3.12", "arm64")
        native = [n for n in zf.namelist() if n.endswith(".so")]
        assert native and all("x86_64" not in n for n in native)
        assert all(zf.read(n)[18] == AARCH64 for n in native)
        assert any("cpython-312-aarch64-linux-gnu" in n for n in native)
        pycs = [n for n in zf.namelist() if n.endswith(".pyc")]
        if info["bytecode"] == "none":
            assert pycs == []
        else:
            assert pycs and all(".cpython-312.pyc" in n for n in pycs)
