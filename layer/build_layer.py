"""Build the lambda-sidecar Lambda layer (a dev-time tool; run as `./build.sh layer [options]`).

For each target (Python X.Y, architecture) it resolves the project's runtime dependencies with
pip's platform options (manylinux wheels for the target's glibc, CPU and CPython ABI), prunes and
debug-strips them, adds our `extension` package and the boot scripts to the layer's private folder
`lambda-sidecar/`, puts the launcher at `extensions/lambda-sidecar`, compiles unchecked-hash .pyc
files when an interpreter of the target version is available, and writes a deterministic
`<out>/lambda-sidecar-python<X.Y>-<arch>.zip`. The default target, whenever it is built, is also
unpacked at `<out>/layer/` (what the emulator and the integration tests run: it must match the
local interpreter, so other targets never replace it). A size report ends the run; exit status 1 if
a zip is over budget or a requested target failed.

Default target: the running interpreter's X.Y and this machine's architecture. Repeated builds
are fast: resolved dependencies are cached per target under `<cache>/deps/` (`--refresh` re-resolves),
and a target whose inputs are unchanged is not rebuilt at all.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from layer_files import copy_package, measure, prune, write_zip

ROOT = Path(__file__).resolve().parent.parent
LAYER_SRC = ROOT / "layer"
NAME = "lambda-sidecar"  # the launcher's file name = the extension name = the private folder
BOOT_FILES = ("sidecar_boot.py", "sidecar_idle.py")
#: The AWS_LAMBDA_EXEC_WRAPPER for instrumented functions and the handler it puts in front of
#: theirs (README "Instrumented functions"), at /opt/lambda-sidecar/instrument and function/.
WRAPPER = "instrument"
WRAPPER_HANDLER = "function/lambda_sidecar_handler.py"
BUILD_FILES = ("build_layer.py", "layer_files.py", "elfstrip.py")
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
OPTIONAL_PYTHONS = frozenset({"3.14"})  # --all builds it only if every dependency has wheels
ARCHES = ("x86_64", "arm64")
BUDGET_BYTES = 15_000_000  # zipped, per target (grpcio included)
#: Highest glibc minor of the Lambda OS per runtime: python3.11 runs on Amazon Linux 2 (glibc
#: 2.26), python3.12+ on Amazon Linux 2023 (glibc 2.34). Wheels up to that manylinux tag load.
GLIBC_MINOR = {"3.11": 26}
DEFAULT_GLIBC_MINOR = 34
PIP_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
#: Bump when the build's output format changes: invalidates the dependency cache and the stamps.
FORMAT = "1"


@dataclass(frozen=True)
class Target:
    python: str  # "3.12"
    arch: str  # "x86_64" | "arm64"

    @property
    def name(self) -> str:
        return f"python{self.python}-{self.arch}"

    @property
    def zip_name(self) -> str:
        return f"{NAME}-{self.name}.zip"

    def pip_platforms(self) -> list[str]:
        machine = PIP_MACHINE[self.arch]
        top = GLIBC_MINOR.get(self.python, DEFAULT_GLIBC_MINOR)
        tags = [f"manylinux_2_{minor}_{machine}" for minor in range(top, 16, -1)]
        return [*tags, f"manylinux2014_{machine}"]


def native_arch() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if arch is None:
        raise SystemExit(f"unsupported machine {machine!r}: pass --arch x86_64 or --arch arm64")
    return arch


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class Project:
    version: str
    requirements: tuple[str, ...]


def read_project() -> Project:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return Project(data["version"], tuple(data["dependencies"]))


_interpreters: dict[str, tuple[str, str] | None] = {}


def find_interpreter(python: str) -> tuple[str, str] | None:
    """(path, full version) of a CPython X.Y to compile the target's .pyc files with, or None."""
    if python not in _interpreters:
        candidates = [sys.executable] if python == running_python() else []
        candidates += [shutil.which(f"python{python}") or ""]
        home = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        candidates += sorted(glob.glob(f"{home}/versions/{python}.*/bin/python{python}"), reverse=True)
        candidates += [f"/usr/bin/python{python}", f"/usr/local/bin/python{python}"]
        _interpreters[python] = None
        for cand in filter(None, candidates):
            try:
                out = subprocess.run(
                    [cand, "-c", "import sys; print(sys.version.split()[0])"],
                    capture_output=True,
                    text=True,
                    timeout=20,
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            full = out.stdout.strip()
            if out.returncode == 0 and (full + ".").startswith(python + "."):
                _interpreters[python] = (cand, full)
                break
    return _interpreters[python]


def digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big") + data)
    return hasher.hexdigest()


def source_files() -> list[Path]:
    """Every input file whose content ends up in (or shapes) the layer."""
    files = [
        LAYER_SRC / "extensions" / NAME,
        *(LAYER_SRC / f for f in (*BOOT_FILES, *BUILD_FILES, WRAPPER, WRAPPER_HANDLER)),
    ]
    files += sorted(
        p for p in (ROOT / "extension").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    return files


class Builder:
    def __init__(self, out: Path, cache: Path, refresh: bool, quiet: bool) -> None:
        self.out, self.cache, self.refresh, self.quiet = out, cache, refresh, quiet
        self.project = read_project()
        self.requirements = self.project.requirements

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[layer] {message}", flush=True)

    def deps(self, target: Target) -> tuple[Path, list[str]]:
        """Pruned dependencies for `target` (cached) and their `name==version` list."""
        key = digest(FORMAT, target.name, *target.pip_platforms(), *self.requirements)[:12]
        folder = self.cache / "deps" / f"{target.name}-{key}"
        done = folder / ".complete"
        if done.exists() and not self.refresh:
            return folder, done.read_text().split()
        for old in (self.cache / "deps").glob(f"{target.name}-*"):
            shutil.rmtree(old)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [sys.executable, "-m", "pip", "install", "--target", str(tmp), "--only-binary=:all:"]
        cmd += ["--no-compile", "--disable-pip-version-check", "--no-warn-script-location", "--quiet"]
        cmd += ["--python-version", target.python, "--implementation", "cp"]
        cmd += ["--abi", "cp" + target.python.replace(".", ""), "--cache-dir", str(self.cache / "pip")]
        for plat in target.pip_platforms():
            cmd += ["--platform", plat]
        self.log(f"{target.name}: resolving {' '.join(self.requirements)}")
        proc = subprocess.run([*cmd, *self.requirements], capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tail = [ln for ln in proc.stderr.splitlines() if ln.strip() and "is ignored" not in ln]
            raise BuildError(f"pip could not resolve {target.name}: " + " | ".join(tail[-3:]))
        pruned = prune(tmp, target.python)
        packages = sorted(
            "==".join(p.name.removesuffix(".dist-info").rsplit("-", 1)) for p in tmp.glob("*.dist-info")
        )
        self.log(
            f"{target.name}: pruned {pruned.removed_files} files ({pruned.removed_bytes / 1e6:.1f} MB), "
            f"debug-stripped {pruned.stripped_files} native modules (-{pruned.stripped_bytes / 1e6:.1f} MB)"
        )
        (tmp / ".complete").write_text("\n".join(packages) + "\n")
        tmp.rename(folder)
        return folder, packages

    def inputs_digest(self, target: Target) -> str:
        interp = find_interpreter(target.python)
        parts: list[str | bytes] = [FORMAT, target.name, self.project.version, *self.requirements]
        parts.append(interp[1] if interp else "no-bytecode")
        for path in source_files():
            parts += [path.relative_to(ROOT).as_posix(), path.read_bytes()]
        return digest(*parts)

    def stamp(self, target: Target) -> Path:
        """Records the inputs digest and the zip's hash of the last build of `target` into `out`."""
        return self.cache / "stamps" / f"{target.name}-{digest(str(self.out))[:12]}.txt"

    def up_to_date(self, target: Target, inputs: str, tree: Path | None) -> bool:
        stamp, zip_path = self.stamp(target), self.out / target.zip_name
        if self.refresh or not stamp.exists() or not zip_path.exists():
            return False
        if stamp.read_text().split() != [inputs, hashlib.sha256(zip_path.read_bytes()).hexdigest()]:
            return False
        info = tree / NAME / "BUILD-INFO" if tree else None
        return info is None or (info.exists() and f"inputs={inputs}" in info.read_text().splitlines())

    def build(self, target: Target, tree: Path | None) -> str:
        """Build one target; returns a one-line note about its bytecode."""
        inputs = self.inputs_digest(target)
        interp = find_interpreter(target.python)
        note = f"bytecode by Python {interp[1]}" if interp else "sources only (no .pyc)"
        if self.up_to_date(target, inputs, tree):
            self.log(f"{target.name}: up to date")
            return note
        deps, packages = self.deps(target)
        staging = self.cache / "staging" / target.name
        shutil.rmtree(staging, ignore_errors=True)
        private = staging / NAME
        shutil.copytree(deps, private, ignore=shutil.ignore_patterns(".complete"))
        missing = [p for p in packages if not (private / f"{p.replace('==', '-')}.dist-info").is_dir()]
        if missing:  # a damaged cache (e.g. deleted during a copy): never zip a partial layer
            raise BuildError(f"dependency cache {deps} lacks {', '.join(missing)}: rerun with --refresh")
        copy_package(ROOT / "extension", private / "extension")
        for name in BOOT_FILES:
            shutil.copy2(LAYER_SRC / name, private / name)
        shutil.copy2(LAYER_SRC / WRAPPER, private / WRAPPER)
        (private / WRAPPER).chmod(0o755)
        (private / WRAPPER_HANDLER).parent.mkdir()
        shutil.copy2(LAYER_SRC / WRAPPER_HANDLER, private / WRAPPER_HANDLER)
        launcher = staging / "extensions" / NAME
        launcher.parent.mkdir(parents=True)
        shutil.copy2(LAYER_SRC / "extensions" / NAME, launcher)
        launcher.chmod(0o755)
        if interp:
            self.compile(interp[0], staging, private)
        else:
            self.log(f"{target.name}: no Python {target.python} here: shipping sources only (slower start)")
        info = {
            "name": NAME,
            "version": self.project.version,
            "python": target.python,
            "arch": target.arch,
            "grpc": "true",
            "bytecode": f"unchecked-hash ({interp[1]})" if interp else "none",
            "packages": " ".join(packages),
            "inputs": inputs,
        }
        (private / "BUILD-INFO").write_text("".join(f"{k}={v}\n" for k, v in info.items()))
        self.out.mkdir(parents=True, exist_ok=True)
        write_zip(staging, self.out / target.zip_name)
        if tree is not None:
            replace_tree(staging, tree)
        else:
            shutil.rmtree(staging)
        stamp = self.stamp(target)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        zip_hash = hashlib.sha256((self.out / target.zip_name).read_bytes()).hexdigest()
        stamp.write_text(f"{inputs}\n{zip_hash}\n")
        self.log(f"{target.name}: wrote {self.out / target.zip_name}")
        return note

    def compile(self, python: str, staging: Path, private: Path) -> None:
        """unchecked-hash .pyc: valid whatever the files' mtimes after unzip, never re-validated
        against the source (the layer is immutable), so a cold start reads bytecode only."""
        cmd = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        cmd += ["-s", str(staging), "-p", "/opt", str(private)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"compileall failed: {(proc.stdout + proc.stderr).strip()[-500:]}")


class BuildError(Exception):
    pass


def replace_tree(staging: Path, tree: Path) -> None:
    old = tree.with_name(tree.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if tree.exists():
        tree.rename(old)
    staging.rename(tree)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One build at a time per cache (tests and ./build.sh may start builds concurrently)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def report(out: Path, built: list[tuple[Target, str]]) -> tuple[list[str], bool]:
    """Size report lines and whether every zip is within budget."""
    lines, within = ["", "lambda-sidecar layer sizes (MB = 10^6 bytes)"], True
    data = []
    for target, note in built:
        sizes = measure(out / target.zip_name, NAME)
        over = sizes.zipped > BUDGET_BYTES
        within = within and not over
        verdict = "over budget" if over else "within budget"
        lines.append(
            f"  {target.zip_name}: {sizes.zipped / 1e6:.2f} MB zipped "
            f"({verdict} {BUDGET_BYTES / 1e6:.0f} MB), "
            f"{sizes.unpacked / 1e6:.2f} MB unpacked, {sizes.files} files; {note}"
        )
        for group in sizes.groups[:10]:
            lines.append(
                f"      {group.name:<28} {group.unpacked / 1e6:6.2f} MB unpacked"
                f" {group.zipped / 1e6:6.2f} MB zipped"
            )
        grpc_groups = [group for group in sizes.groups if group.name.startswith("grpc")]
        if grpc_groups:
            lines.append(
                f"      gRPC adds {sum(group.zipped for group in grpc_groups) / 1e6:.2f} MB zipped, "
                f"{sum(group.unpacked for group in grpc_groups) / 1e6:.2f} MB unpacked"
            )
        data.append(
            {
                "target": target.name,
                "zip": target.zip_name,
                "zipped_bytes": sizes.zipped,
                "unpacked_bytes": sizes.unpacked,
                "files": sizes.files,
                "bytecode": note,
                "groups": [
                    {"name": group.name, "unpacked": group.unpacked, "zipped": group.zipped}
                    for group in sizes.groups
                ],
            }
        )
    (out / "layer-report.json").write_text(json.dumps({"grpc": True, "targets": data}, indent=2) + "\n")
    return lines, within


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="build.sh layer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", choices=PYTHONS, help="target Python X.Y (repeatable)")
    parser.add_argument("--arch", action="append", choices=ARCHES, help="target architecture (repeatable)")
    parser.add_argument("--all", action="store_true", help=f"every Python in {PYTHONS} x every architecture")
    # grpcio is a regular dependency now (OTLP/gRPC works with every layer); the flag is accepted
    # so that older scripts keep working.
    parser.add_argument("--grpc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / ".cache", help="cache folder")
    parser.add_argument("--refresh", action="store_true", help="re-resolve dependencies and rebuild")
    parser.add_argument("--quiet", action="store_true", help="print the size report only")
    return parser.parse_args(argv)


def targets_for(args: argparse.Namespace) -> list[Target]:
    default = Target(running_python(), native_arch())
    if args.all:
        pythons, arches = list(PYTHONS), list(ARCHES)
    else:
        pythons, arches = args.python or [default.python], args.arch or [default.arch]
    targets = [Target(py, arch) for py in dict.fromkeys(pythons) for arch in dict.fromkeys(arches)]
    if default in targets:  # built first: the unpacked tree is ready soonest
        targets.remove(default)
        targets.insert(0, default)
    return targets


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out, cache = args.out.resolve(), args.cache.resolve()
    builder = Builder(out, cache, args.refresh, args.quiet)
    started = time.monotonic()
    built: list[tuple[Target, str]] = []
    failed: list[str] = []
    with locked(cache / "build.lock"):
        default = Target(running_python(), native_arch())
        for target in targets_for(args):
            try:
                built.append((target, builder.build(target, out / "layer" if target == default else None)))
            except BuildError as exc:
                optional = args.all and target.python in OPTIONAL_PYTHONS
                print(f"[layer] {'skipped' if optional else 'FAILED'} {target.name}: {exc}", file=sys.stderr)
                if not optional:
                    failed.append(target.name)
        lines, within = report(out, built) if built else ([], True)
    print("\n".join(lines))
    if any(target == default for target, _ in built):
        print(f"  unpacked tree of {default.name}: {out / 'layer'}")
    print(f"  ({time.monotonic() - started:.1f} s)")
    if failed:
        print(f"[layer] failed targets: {', '.join(failed)}", file=sys.stderr)
    if not within:
        print(f"[layer] a zip is over the {BUDGET_BYTES / 1e6:.0f} MB budget", file=sys.stderr)
    return 0 if within and not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
