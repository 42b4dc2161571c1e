"""What the outbound side of the extension imports: never aiohttp (it stays for the emulator and
test backends), and gRPC/HTTP transports without protobuf's generated types."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

#: Every module of the extension that makes outbound calls.
CLIENT_MODULES = (
    "extension.http.client",
    "extension.exporters.http_common",
    "extension.exporters.http_json",
    "extension.exporters.otlp_grpc",
    "extension.exporters.factory",
    "extension.cache.aws",
    "extension.lifecycle.extensions_api",
)


def imports_with_blocked(
    blocked: tuple[str, ...], modules: tuple[str, ...]
) -> subprocess.CompletedProcess[str]:
    code = "import importlib, sys\n"
    code += "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)  # importing it fails
    code += "".join(f"importlib.import_module({name!r})\n" for name in modules)
    code += "print(sorted(m for m, v in sys.modules.items() if v and m.startswith(('aiohttp', 'google', 'opentelemetry'))))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_no_outbound_module_imports_aiohttp() -> None:
    out = imports_with_blocked(("aiohttp",), CLIENT_MODULES)
    assert out.returncode == 0, out.stderr


def test_grpc_transport_and_response_reader_need_no_protobuf() -> None:
    modules = ("extension.exporters.otlp_grpc", "extension.exporters.otlp")
    out = imports_with_blocked(("google.protobuf", "opentelemetry.proto"), modules)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_factory_imports_no_exporter_module() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, extension.exporters.factory; "
            "print(sorted(m for m in sys.modules if m.startswith('extension.exporters.')))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    loaded = set(eval(out.stdout))
    assert loaded.isdisjoint(
        {
            "extension.exporters.otlp",
            "extension.exporters.http_json",
            "extension.exporters.stdout",
            "extension.exporters.file",
            "extension.exporters.otlp_grpc",
        }
    ), loaded


def loaded_after_start(env: dict[str, str]) -> set[str]:
    """Modules loaded once the destinations of `env` are built and started (no export sent)."""
    code = f"""
import asyncio, sys
from extension.config import from_env
from extension.exporters.factory import build_destinations
from extension.http import client
from extension.stats import Stats

async def main():
    destinations = build_destinations(from_env({env!r}), Stats(), None)
    for d in destinations:
        await d.start()
    for d in destinations:
        await d.shutdown(asyncio.get_running_loop().time() + 1)

asyncio.run(main())
print(" ".join(sorted(sys.modules)), "tls_contexts=%d" % len(client._contexts))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_grpc_is_loaded_only_for_a_grpc_destination() -> None:
    http = loaded_after_start({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318"})
    assert "grpc" not in http and "aiohttp" not in http
    assert "tls_contexts=0" in http, "no TLS context before the first https request"
    grpc = loaded_after_start(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:14317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert "grpc" in grpc
