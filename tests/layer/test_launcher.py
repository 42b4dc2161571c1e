"""The launcher and boot scripts: path resolution from any mount point, isolation from the
function's environment, version checks, and the idle fallback on Pythons we cannot run on."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sidecar_idle  # layer/ is on sys.path (tests/layer/conftest.py)

from tests.layer.conftest import BuiltLayer

STUB_MAIN = """\
import json, sys


def main(argv):
    print(json.dumps({"path": sys.path, "argv": argv, "name": __name__, "file": __file__,
                      "no_site": sys.flags.no_site, "ignore_environment": sys.flags.ignore_environment,
                      "dont_write_bytecode": sys.flags.dont_write_bytecode, "optimize": sys.flags.optimize}))
    return 0


def _exit_now(code):
    sys.stdout.flush()
    raise SystemExit(code)
"""


def run_launcher(
    launcher: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "SIDECAR_PYTHON": sys.executable}
    return subprocess.run(
        [str(launcher), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=60,
    )


@pytest.fixture
def mounted(layer: BuiltLayer, tmp_path: Path) -> Path:
    """A copy of the built tree at another mount point (like the emulator's temp opt dir)."""
    opt = tmp_path / "mnt" / "some where" / "opt"  # a space in the path on purpose
    shutil.copytree(layer.tree, opt, symlinks=True)
    return opt


def with_stub_entry(opt: Path) -> None:
    """Replace the entry module by a stub that reports how it was started (and drop its .pyc,
    which would otherwise win: unchecked-hash bytecode is never compared with the source)."""
    package = opt / "lambda-sidecar" / "extension"
    (package / "__main__.py").write_text(STUB_MAIN)
    for pyc in (package / "__pycache__").glob("__main__.*.pyc"):
        pyc.unlink()


def test_launcher_finds_its_folder_and_ignores_the_function_env(mounted: Path, tmp_path: Path) -> None:
    with_stub_entry(mounted)
    # A function-side shadow `extension` package, on PYTHONPATH and in the working directory.
    shadow = tmp_path / "function"
    (shadow / "extension").mkdir(parents=True)
    (shadow / "extension" / "__init__.py").write_text("raise SystemExit('shadow package imported')")
    (shadow / "extension" / "__main__.py").write_text("raise SystemExit('shadow package imported')")
    out = run_launcher(
        mounted / "extensions" / "lambda-sidecar",
        "--flag",
        "two words",
        cwd=shadow,
        env={"PYTHONPATH": str(shadow), "PYTHONOPTIMIZE": "2"},
    )
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    private = mounted / "lambda-sidecar"
    assert Path(report["path"][0]).resolve() == private.resolve()
    assert not any(str(shadow) in p or "site-packages" in p for p in report["path"])
    assert Path(report["file"]).resolve() == (private / "extension" / "__main__.py").resolve()
    assert report["name"] == "extension.__main__"  # its main() called by the boot script (no runpy)
    assert report["argv"] == ["--flag", "two words"]
    assert (report["no_site"], report["ignore_environment"], report["dont_write_bytecode"]) == (1, 1, 1)
    assert report["optimize"] == 0  # the function's PYTHONOPTIMIZE does not reach us
    assert out.stderr == ""


def test_launcher_works_through_a_relative_path(mounted: Path) -> None:
    with_stub_entry(mounted)
    out = run_launcher(Path("opt") / "extensions" / "lambda-sidecar", cwd=mounted.parent)
    assert out.returncode == 0, out.stderr
    assert Path(json.loads(out.stdout)["path"][0]).resolve() == (mounted / "lambda-sidecar").resolve()


def test_real_entry_module_reports_its_version(layer: BuiltLayer, tmp_path: Path) -> None:
    out = run_launcher(layer.launcher, "--version", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"lambda-sidecar {layer.info['version']}"


def test_version_mismatch_warns_once_and_still_starts(mounted: Path, tmp_path: Path) -> None:
    info = mounted / "lambda-sidecar" / "BUILD-INFO"
    lines = [("python=3.99" if ln.startswith("python=") else ln) for ln in info.read_text().splitlines()]
    info.write_text("\n".join(lines) + "\n")
    out = run_launcher(mounted / "extensions" / "lambda-sidecar", "--version", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("lambda-sidecar ")
    warnings = out.stderr.splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("[lambda-sidecar] WARNING") and "3.99" in warnings[0]


def test_missing_interpreter_is_one_clear_error(layer: BuiltLayer, tmp_path: Path) -> None:
    out = run_launcher(layer.launcher, cwd=tmp_path, env={"SIDECAR_PYTHON": str(tmp_path / "no-python")})
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith("[lambda-sidecar] ERROR") and "SIDECAR_PYTHON" in out.stderr


def test_sidecar_python_may_carry_interpreter_options(layer: BuiltLayer, tmp_path: Path) -> None:
    out = run_launcher(
        layer.launcher, "--version", cwd=tmp_path, env={"SIDECAR_PYTHON": f"{sys.executable} -X importtime"}
    )
    assert out.returncode == 0, out.stderr
    assert "import time:" in out.stderr and "extension" in out.stderr


# ------------------------------------------------------------------------------ idle mode ---


class FakeExtensionsApi:
    """Register + event/next (answers SHUTDOWN), recording what the extension sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                api.requests.append((self.command, self.path, dict(self.headers.items()), body))

            def do_POST(self) -> None:
                self._record()
                self.send_response(200)
                self.send_header("Lambda-Extension-Identifier", "ext-123")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def do_GET(self) -> None:
                self._record()
                body = json.dumps({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 0})
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        Handler.protocol_version = "HTTP/1.1"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeExtensionsApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def extensions_api() -> Iterator[FakeExtensionsApi]:
    with FakeExtensionsApi() as api:
        yield api


def assert_idle_registration(api: FakeExtensionsApi) -> None:
    (method, path, headers, body), (next_method, next_path, next_headers, _) = api.requests
    assert (method, path) == ("POST", "/2020-01-01/extension/register")
    assert headers["Lambda-Extension-Name"] == "lambda-sidecar"
    assert json.loads(body) == {"events": ["SHUTDOWN"]}
    assert (next_method, next_path) == ("GET", "/2020-01-01/extension/event/next")
    assert next_headers["Lambda-Extension-Identifier"] == "ext-123"


@pytest.mark.integration
def test_idle_mode_registers_for_shutdown_and_exits_cleanly(extensions_api: FakeExtensionsApi) -> None:
    assert sidecar_idle.main("lambda-sidecar", extensions_api.address) == 0
    assert_idle_registration(extensions_api)


def test_idle_mode_without_runtime_api_fails_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    assert sidecar_idle.main("lambda-sidecar") == 1
    assert "AWS_LAMBDA_RUNTIME_API is not set" in capsys.readouterr().err


def old_python() -> str | None:
    """A Python older than 3.11 on this machine (pyenv keeps several), if any."""
    home = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for version in ("3.10", "3.9", "3.8"):
        pyenv = glob.glob(f"{home}/versions/{version}.*/bin/python{version}")
        for cand in [shutil.which(f"python{version}"), *pyenv]:
            if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
                return cand
    return None


@pytest.mark.integration
def test_too_old_python_stays_registered_and_idle(
    layer: BuiltLayer, extensions_api: FakeExtensionsApi, tmp_path: Path
) -> None:
    python = old_python()
    if python is None:
        pytest.skip("no Python < 3.11 on this machine")
    out = run_launcher(
        layer.launcher,
        cwd=tmp_path,
        env={"SIDECAR_PYTHON": python, "AWS_LAMBDA_RUNTIME_API": extensions_api.address},
    )
    assert out.returncode == 0, out.stderr
    assert "too old" in out.stderr and out.stderr.count("\n") == 1
    assert_idle_registration(extensions_api)
