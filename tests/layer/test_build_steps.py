"""Pure steps of the layer build: targets, pip platform tags, pruning, debug stripping, zips."""

from __future__ import annotations

import argparse
import ctypes
import platform
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import build_layer
import pytest
from elfstrip import strip_debug
from layer_files import group_name, measure, prune, write_zip

# ------------------------------------------------------------------------------- targets ---


def test_pip_platforms_follow_the_lambda_os_glibc() -> None:
    py311 = build_layer.Target("3.11", "x86_64").pip_platforms()
    assert py311[0] == "manylinux_2_26_x86_64"  # Amazon Linux 2
    assert "manylinux_2_28_x86_64" not in py311
    py313 = build_layer.Target("3.13", "arm64").pip_platforms()
    assert py313[0] == "manylinux_2_34_aarch64"  # Amazon Linux 2023
    assert {"manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"} <= set(py313)


def test_zip_names() -> None:
    assert build_layer.Target("3.12", "arm64").zip_name == "lambda-sidecar-python3.12-arm64.zip"


def _args(*argv: str) -> argparse.Namespace:
    return build_layer.parse_args(list(argv))


def test_default_target_is_the_running_python_and_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    [target] = build_layer.targets_for(_args())
    assert target == build_layer.Target(build_layer.running_python(), "arm64")


def test_all_puts_the_local_target_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(build_layer, "running_python", lambda: "3.12")
    targets = build_layer.targets_for(_args("--all"))
    assert targets[0] == build_layer.Target("3.12", "x86_64")
    assert len(targets) == len(set(targets)) == len(build_layer.PYTHONS) * 2
    assert {build_layer.Target(p, a) for p in ("3.12", "3.13") for a in ("x86_64", "arm64")} <= set(targets)


def test_explicit_targets_are_a_product(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_layer, "running_python", lambda: "3.11")
    targets = build_layer.targets_for(_args("--python", "3.13", "--arch", "arm64", "--arch", "x86_64"))
    assert targets == [build_layer.Target("3.13", "arm64"), build_layer.Target("3.13", "x86_64")]


# ------------------------------------------------------------------------------- pruning ---


def _touch(root: Path, rel: str, data: bytes = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_prune_keeps_code_metadata_and_licenses_and_drops_the_rest(tmp_path: Path) -> None:
    keep = [
        "pkg/__init__.py",
        "pkg/_speed.cpython-311-x86_64-linux-gnu.so",
        "pkg/_any.abi3.so",
        "pkg-1.0.dist-info/METADATA",
        "pkg-1.0.dist-info/licenses/LICENSE",
        "other-2.0.dist-info/LICENSE.txt",
        "other-2.0.dist-info/METADATA",
        "module.py",
    ]
    drop = [
        "pkg/tests/test_x.py",
        "pkg/sub/test/data.bin",
        "google/protobuf/testdata/x.proto",
        "pkg/__pycache__/__init__.cpython-311.pyc",
        "pkg/__init__.pyi",
        "pkg/py.typed",
        "pkg/_speed.pyx",
        "pkg/_speed.c",
        "pkg/_speed.cpython-312-x86_64-linux-gnu.so",  # another Python's build
        "pkg-1.0.dist-info/RECORD",
        "pkg-1.0.dist-info/INSTALLER",
        "pkg-1.0.dist-info/WHEEL",
        "multidict/_testcapi.cpython-311-x86_64-linux-gnu.so",
        "aiohttp/pytest_plugin.py",
        "bin/some-script",
    ]
    for rel in keep + drop:
        _touch(tmp_path, rel)
    result = prune(tmp_path, "3.11")
    remaining = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert remaining == sorted(keep)
    assert result.removed_files == len(drop)
    assert result.foreign_native == 1


def test_group_names_for_the_size_report() -> None:
    assert group_name("lambda-sidecar/aiohttp/client.py", "lambda-sidecar") == "aiohttp"
    assert group_name("lambda-sidecar/typing_extensions.py", "lambda-sidecar") == "typing_extensions"
    assert group_name("lambda-sidecar/__pycache__/typing_extensions.cpython-311.pyc", "lambda-sidecar") == (
        "typing_extensions"
    )
    metadata = "lambda-sidecar/attrs-26.1.0.dist-info/METADATA"
    assert group_name(metadata, "lambda-sidecar") == "attrs (metadata)"
    assert group_name("extensions/lambda-sidecar", "lambda-sidecar") == "extensions"


# ---------------------------------------------------------------------------------- zips ---


def test_zip_is_deterministic_and_keeps_modes(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    launcher = _touch(tree, "extensions/lambda-sidecar", b"#!/bin/sh\n")
    launcher.chmod(0o755)
    _touch(tree, "lambda-sidecar/a.py", b"A = 1\n")
    write_zip(tree, tmp_path / "one.zip")
    (tree / "lambda-sidecar" / "a.py").touch()  # new mtime, same content
    write_zip(tree, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert modes == {"extensions/lambda-sidecar": 0o755, "lambda-sidecar/a.py": 0o644}
    sizes = measure(tmp_path / "one.zip", "lambda-sidecar")
    assert sizes.files == 2 and sizes.unpacked == len(b"#!/bin/sh\n") + len(b"A = 1\n")


# ------------------------------------------------------------------------------ elfstrip ---


def test_strip_debug_ignores_what_it_does_not_understand() -> None:
    assert strip_debug(b"") is None
    assert strip_debug(b"not an elf file at all" * 10) is None
    elf32 = b"\x7fELF\x01\x01\x01" + b"\0" * 100
    assert strip_debug(elf32) is None


@pytest.fixture(scope="module")
def debug_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a shared object with debug info")
    folder = tmp_path_factory.mktemp("elf")
    source = "int answer(int x) { static int calls; calls++; return x * 2 + calls; }\n"
    (folder / "answer.c").write_text(source)
    subprocess.run(
        [cc, "-g", "-O1", "-shared", "-fPIC", "-o", str(folder / "libanswer.so"), str(folder / "answer.c")],
        check=True,
        capture_output=True,
    )
    return folder / "libanswer.so"


def test_strip_debug_keeps_the_loaded_image_and_the_code_runs(debug_library: Path, tmp_path: Path) -> None:
    original = debug_library.read_bytes()
    stripped = strip_debug(original)
    assert stripped is not None and len(stripped) < len(original)
    # Everything the program headers map is byte-identical.
    (phoff,) = struct.unpack_from("<Q", original, 32)
    phentsize, phnum = struct.unpack_from("<HH", original, 54)
    mapped_end = max(
        struct.unpack_from("<Q", original, phoff + i * phentsize + 8)[0]
        + struct.unpack_from("<Q", original, phoff + i * phentsize + 32)[0]
        for i in range(phnum)
    )
    assert stripped[:mapped_end][64:] == original[:mapped_end][64:]
    assert strip_debug(stripped) is None  # nothing left to strip
    copy = tmp_path / "libanswer.so"
    copy.write_bytes(stripped)
    lib = ctypes.CDLL(str(copy))
    assert lib.answer(20) == 41
    readelf = shutil.which("readelf")
    if readelf:
        cmd = [readelf, "-S", "-W", str(copy)]
        sections = subprocess.run(cmd, capture_output=True, text=True, check=True)
        assert sections.stderr == ""
        debug_lines = [ln for ln in sections.stdout.splitlines() if " .debug_" in ln]
        assert debug_lines and all(" 000000 " in ln for ln in debug_lines)  # present but empty
