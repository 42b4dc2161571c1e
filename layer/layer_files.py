"""File-level steps of the layer build: prune installed dependencies, write a deterministic zip,
and measure a zip for the size report. No network, no subprocesses (see build_layer.py)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from elfstrip import strip_debug

#: Folder names removed anywhere in the dependencies: test suites and caches.
PRUNE_DIRS = frozenset({"__pycache__", "tests", "test", "testdata"})
#: File patterns removed anywhere: type stubs, Cython/C sources, markers, compiled leftovers.
PRUNE_FILES = ("*.pyi", "*.pyx", "*.pxd", "*.pxi", "*.c", "*.h", "*.cpp", "py.typed", "*.pyc", "*.pyo")
#: Paths (relative to the private folder) that are test helpers of a dependency, never imported.
PRUNE_PATHS = ("multidict/_testcapi.*", "aiohttp/pytest_plugin.py", "aiohttp/test_utils.py", "bin")
#: What stays of a *.dist-info folder: the metadata (importlib.metadata.version) and the licenses.
KEEP_DIST_INFO = ("METADATA", "LICENSE*", "LICENCE*", "COPYING*", "NOTICE*", "AUTHORS*", "licenses")
_NATIVE_TAG = re.compile(r"\.cpython-(\d)(\d+)-")
#: Fixed timestamp for zip entries: the same inputs give a byte-identical zip (so deploy tools see
#: "unchanged"); with unchecked-hash .pyc files the import system never looks at mtimes.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass
class PruneResult:
    removed_files: int = 0
    removed_bytes: int = 0
    stripped_files: int = 0
    stripped_bytes: int = 0
    foreign_native: int = 0


def _remove(path: Path, result: PruneResult) -> None:
    if path.is_dir() and not path.is_symlink():
        for f in path.rglob("*"):
            if f.is_file():
                result.removed_files += 1
                result.removed_bytes += f.stat().st_size
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        result.removed_files += 1
        result.removed_bytes += path.lstat().st_size
        path.unlink()


def prune(root: Path, python: str) -> PruneResult:
    """Remove from a `pip install --target` folder what the extension never loads, keep licenses,
    and strip debug sections from native modules. `python` is the target's X.Y."""
    result = PruneResult()
    for pattern in PRUNE_PATHS:
        for path in sorted(root.glob(pattern)):
            _remove(path, result)
    for dist_info in sorted(root.glob("*.dist-info")):
        for entry in sorted(dist_info.iterdir()):
            if not any(fnmatch.fnmatch(entry.name, keep) for keep in KEEP_DIST_INFO):
                _remove(entry, result)
    want = python.replace(".", "")
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        here = Path(dirpath)
        for name in [d for d in dirnames if d in PRUNE_DIRS and not d.endswith(".dist-info")]:
            dirnames.remove(name)
            _remove(here / name, result)
        for name in filenames:
            path = here / name
            tag = _NATIVE_TAG.search(name)
            if any(fnmatch.fnmatch(name, p) for p in PRUNE_FILES):
                _remove(path, result)
            elif tag and tag.group(1) + tag.group(2) != want:
                result.foreign_native += 1
                _remove(path, result)
            elif name.endswith(".so") or ".so." in name:
                _strip(path, result)
    return result


def _strip(path: Path, result: PruneResult) -> None:
    data = path.read_bytes()
    smaller = strip_debug(data)
    if smaller is not None and len(smaller) < len(data):
        mode = path.stat().st_mode
        path.write_bytes(smaller)
        path.chmod(mode)
        result.stripped_files += 1
        result.stripped_bytes += len(data) - len(smaller)


def copy_package(src: Path, dest: Path) -> None:
    """Copy a source package without caches or compiled files."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*"))


def write_zip(tree: Path, zip_path: Path) -> None:
    """Zip `tree` deterministically (sorted names, fixed times), keeping the executable bits in
    external_attr so the launcher stays runnable after Lambda unpacks the layer into /opt."""
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), date_time=ZIP_DATE)
            executable = path.stat().st_mode & 0o111
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.create_system = 3  # Unix: external_attr holds st_mode
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(zip_path)


@dataclass(frozen=True)
class Group:
    name: str
    unpacked: int
    zipped: int


@dataclass(frozen=True)
class ZipSizes:
    zipped: int
    unpacked: int
    files: int
    groups: tuple[Group, ...]  # largest first


def group_name(member: str, private: str) -> str:
    """Top-level package of a zip member in the private folder; dist-info joins its project."""
    parts = member.split("/")
    if parts[0] != private or len(parts) < 2:
        return parts[0]
    top = parts[1] if parts[1] != "__pycache__" or len(parts) < 3 else parts[2].split(".")[0]
    if top.endswith(".dist-info"):
        return top.split("-")[0].lower().replace("_", "-") + " (metadata)"
    return top.removesuffix(".py")


def measure(zip_path: Path, private: str) -> ZipSizes:
    unpacked: dict[str, int] = defaultdict(int)
    zipped: dict[str, int] = defaultdict(int)
    with zipfile.ZipFile(zip_path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    for info in infos:
        name = group_name(info.filename, private)
        unpacked[name] += info.file_size
        zipped[name] += info.compress_size
    groups = sorted((Group(n, unpacked[n], zipped[n]) for n in unpacked), key=lambda g: -g.unpacked)
    return ZipSizes(zip_path.stat().st_size, sum(unpacked.values()), len(infos), tuple(groups))
