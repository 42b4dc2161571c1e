"""Fixtures for the layer tests. The built tree comes from `built_layer` (tests/conftest.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_SRC = ROOT / "layer"
if str(LAYER_SRC) not in sys.path:  # the build's modules (build_layer, layer_files, elfstrip)
    sys.path.insert(0, str(LAYER_SRC))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds (network, cross builds)")


@dataclass(frozen=True)
class BuiltLayer:
    tree: Path  # build/layer
    private: Path  # build/layer/lambda-sidecar
    launcher: Path  # build/layer/extensions/lambda-sidecar
    info: dict[str, str]  # BUILD-INFO
    zip: Path  # build/lambda-sidecar-python<X.Y>-<arch>.zip

    @property
    def python(self) -> str:
        return self.info["python"]

    @property
    def pyc_tag(self) -> str:
        return "cpython-" + self.python.replace(".", "")


def read_build_info(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines())
    return {key: value for key, sep, value in pairs if sep}


@pytest.fixture(scope="session")
def layer(built_layer: Path) -> BuiltLayer:
    private = built_layer / "lambda-sidecar"
    info = read_build_info(private / "BUILD-INFO")
    zip_path = built_layer.parent / f"lambda-sidecar-python{info['python']}-{info['arch']}.zip"
    return BuiltLayer(built_layer, private, built_layer / "extensions" / "lambda-sidecar", info, zip_path)
