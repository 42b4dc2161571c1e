"""The built layer (tree and zip) has the shape Lambda and our launcher need, and nothing more."""

from __future__ import annotations

import os
import platform
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.layer.conftest import ROOT, BuiltLayer

ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def test_launcher_is_an_executable_shell_script(layer: BuiltLayer) -> None:
    assert layer.launcher.is_file()
    assert os.access(layer.launcher, os.X_OK)
    assert layer.launcher.read_text().startswith("#!/bin/sh\n")
    assert sorted(p.name for p in layer.launcher.parent.iterdir()) == ["lambda-sidecar"]


def test_layer_root_holds_only_the_launcher_and_the_private_folder(layer: BuiltLayer) -> None:
    # Nothing in /opt/python or /opt/lib: our dependencies must never reach the function's path.
    assert sorted(p.name for p in layer.tree.iterdir()) == ["extensions", "lambda-sidecar"]


def test_build_info_names_the_target(layer: BuiltLayer) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert layer.info["name"] == "lambda-sidecar"
    assert layer.info["version"] == project["version"]
    assert layer.info["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert layer.info["arch"] == {"aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert layer.info["grpc"] == "true"
    for package in ("httptools==", "grpcio=="):
        assert package in layer.info["packages"], package
    assert "aiohttp==" not in layer.info["packages"], "aiohttp serves the emulator and tests only"
    # OTLP is encoded without protobuf (extension/exporters/protowire.py), but the OTLP receiver
    # decodes the function's own telemetry with it (loaded at the first intake request only)
    assert "protobuf==" in layer.info["packages"]
    assert "opentelemetry_proto==" in layer.info["packages"]
    assert len(layer.info["inputs"]) == 64


def test_private_folder_has_our_package_and_boot_scripts_but_not_the_emulator(layer: BuiltLayer) -> None:
    for name in ("extension/__init__.py", "extension/__main__.py", "sidecar_boot.py", "sidecar_idle.py"):
        assert (layer.private / name).is_file(), name
    # the AWS_LAMBDA_EXEC_WRAPPER for instrumented functions, runnable, and its handler
    assert (layer.private / "instrument").stat().st_mode & 0o111
    assert (layer.private / "function" / "lambda_sidecar_handler.py").is_file()
    assert not (layer.private / "emulator").exists()
    assert (layer.private / "grpc" / "aio").is_dir(), "OTLP/gRPC works with the default layer"


def test_no_tests_stubs_sources_or_install_records(layer: BuiltLayer) -> None:
    unwanted = []
    for path in layer.private.rglob("*"):
        rel = path.relative_to(layer.private).as_posix()
        test_dir = path.is_dir() and path.name in {"tests", "test", "testdata"}
        dev_file = path.suffix in {".pyi", ".pyx", ".pxd", ".c", ".h"} or path.name in {"RECORD", "INSTALLER"}
        if test_dir or dev_file:
            unwanted.append(rel)
    assert unwanted == []


def test_licenses_are_kept(layer: BuiltLayer) -> None:
    dist_infos = sorted(layer.private.glob("*.dist-info"))
    assert dist_infos
    for dist_info in dist_infos:
        files = [p.name.upper() for p in dist_info.rglob("*") if p.is_file()]
        assert "METADATA" in files, dist_info.name
        assert any(n.startswith(("LICEN", "COPYING", "NOTICE")) for n in files), dist_info.name


def test_bytecode_is_for_the_target_only_and_covers_every_module(layer: BuiltLayer) -> None:
    foreign = [
        p.relative_to(layer.private).as_posix()
        for p in layer.private.rglob("*.pyc")
        if f".{layer.pyc_tag}.pyc" not in p.name or p.parent.name != "__pycache__"
    ]
    assert foreign == []
    if not layer.info["bytecode"].startswith("unchecked-hash"):
        pytest.skip("built without an interpreter of the target version: sources only")
    missing = [
        p.relative_to(layer.private).as_posix()
        for p in layer.private.rglob("*.py")
        if not (p.parent / "__pycache__" / f"{p.stem}.{layer.pyc_tag}.pyc").is_file()
    ]
    assert missing == []
    # unchecked-hash: flags word = 0b01 (hash-based, do not check the source)
    pyc = layer.private / "extension" / "__pycache__" / f"__init__.{layer.pyc_tag}.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01


def test_native_modules_are_for_the_target_architecture(layer: BuiltLayer) -> None:
    native = sorted(layer.private.rglob("*.so"))
    assert native, "expected compiled dependencies (httptools, grpcio)"
    for path in native:
        header = path.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[layer.info["arch"]], path.name
        assert ".cpython-" not in path.name or f".{layer.pyc_tag}-" in path.name, path.name


def test_native_modules_load_after_debug_stripping(layer: BuiltLayer) -> None:
    code = "import httptools.parser.parser, httptools.parser.url_parser, grpc._cython.cygrpc;print('loaded')"
    env = {"PATH": os.environ.get("PATH", "")}
    setup = f"import sys; sys.path.insert(0, {str(layer.private)!r}); "
    out = subprocess.run(
        [sys.executable, "-E", "-S", "-B", "-c", setup + code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "loaded"


def test_zip_name_follows_the_contract(layer: BuiltLayer) -> None:
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert layer.zip == ROOT / "build" / f"lambda-sidecar-python{version}-{arch}.zip"
    assert layer.zip.is_file()


def test_zip_holds_exactly_the_tree_and_keeps_the_exec_bit(layer: BuiltLayer) -> None:
    with zipfile.ZipFile(layer.zip) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    tree = {p.relative_to(layer.tree).as_posix() for p in layer.tree.rglob("*") if p.is_file()}
    assert set(infos) == tree
    launcher = infos["extensions/lambda-sidecar"]
    mode = launcher.external_attr >> 16
    assert launcher.create_system == 3
    assert stat.S_ISREG(mode) and mode & 0o111 == 0o111
    assert (infos["lambda-sidecar/extension/__init__.py"].external_attr >> 16) & 0o111 == 0


def test_zip_is_within_budget(layer: BuiltLayer) -> None:
    assert layer.zip.stat().st_size <= 15_000_000


def test_unzipped_layer_runs_from_another_mount_point(layer: BuiltLayer, tmp_path: Path) -> None:
    """What Lambda does: unzip into an opt folder (modes from external_attr), run the launcher."""
    opt = tmp_path / "elsewhere" / "opt"
    with zipfile.ZipFile(layer.zip) as zf:
        for info in zf.infolist():
            zf.extract(info, opt)
            (opt / info.filename).chmod((info.external_attr >> 16) & 0o777)
    env = {"PATH": os.environ.get("PATH", ""), "SIDECAR_PYTHON": sys.executable}
    out = subprocess.run(
        [str(opt / "extensions" / "lambda-sidecar"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"lambda-sidecar {layer.info['version']}"
    assert out.stderr == ""


def test_a_build_with_unchanged_inputs_is_a_no_op(layer: BuiltLayer) -> None:
    def build() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, str(ROOT / "layer" / "build_layer.py")]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)

    build()  # rebuilds only if a source changed since the session's build (shared working tree)
    out = build()
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout
    assert layer.zip.name in out.stdout  # the size report is printed every time
