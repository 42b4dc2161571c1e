"""The sample functions import and behave as documented (fake context; the secrets samples talk
to a fake of the extension's local endpoints on loopback)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.layer.conftest import ROOT

SAMPLES = ROOT / "sample_functions"
SECRET_VALUE = '{"username": "demo", "password": "s3cr3t-Value-never-shown"}'
TOKEN = "session-token-for-tests"


@dataclass
class FakeContext:
    remaining_ms: int = 3000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "sample"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sample"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_sample(name: str) -> ModuleType:
    """Import sample_functions/<name>/app.py as a fresh module (module init runs every time)."""
    spec = importlib.util.spec_from_file_location(
        f"sample_{name}_{uuid.uuid4().hex}", SAMPLES / name / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_sample_has_a_documented_handler() -> None:
    names = sorted(p.name for p in SAMPLES.iterdir() if (p / "app.py").is_file())
    assert names == sorted(
        [
            "errors",
            "heavy_logging",
            "instrumented",
            "logging_text_json",
            "minimal",
            "secrets_requests",
            "secrets_urllib",
            "streaming_large",
            "timeout",
        ]
    )
    for name in names:
        source = (SAMPLES / name / "app.py").read_text()
        assert source.startswith('"""'), name
        assert "def handler(event: dict[str, Any], context: Any)" in source, name


def test_minimal() -> None:
    assert load_sample("minimal").handler({}, FakeContext()) == {"ok": True}


def test_errors_raise_plain_and_chained_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_sample("errors")
    with pytest.raises(ValueError, match="sample failure"):
        app.handler({}, FakeContext())
    with pytest.raises(app.OrderRejectedError) as info:
        app.handler({"kind": "chained"}, FakeContext())
    assert isinstance(info.value.__cause__, KeyError)

    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(app.os, "_exit", fake_exit)
    with pytest.raises(SystemExit):
        app.handler({"kind": "crash"}, FakeContext())
    assert exits == [3]


def test_timeout_sleeps_past_the_remaining_time(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_sample("timeout")
    slept: list[float] = []
    monkeypatch.setattr(app.time, "sleep", slept.append)
    app.handler({}, FakeContext(remaining_ms=2500))
    assert slept == [3.5]
    assert app.handler({"sleep_s": 0.01}, FakeContext()) == {"slept_s": 0.01}


def test_streaming_large_returns_about_a_megabyte_with_a_checksum() -> None:
    app = load_sample("streaming_large")
    result = app.handler({}, FakeContext())
    assert result["bytes"] == len(result["data"]) == 1_000_000
    assert result["sha256"] == hashlib.sha256(result["data"].encode()).hexdigest()
    assert len(json.dumps(result)) < 6 * 1024 * 1024
    assert app.handler({"bytes": 10**9}, FakeContext())["bytes"] == app.MAX_BYTES


def test_heavy_logging_prints_numbered_lines(capsys: pytest.CaptureFixture[str]) -> None:
    context = FakeContext()
    result = load_sample("heavy_logging").handler({"lines": 250, "width": 120}, context)
    lines = capsys.readouterr().out.splitlines()
    assert result == {"lines": 250, "width": 120, "via": "print"}
    assert [ln.split()[3] for ln in lines] == [f"{i}/250" for i in range(1, 251)]
    assert all(context.aws_request_id in ln and len(ln) == 120 for ln in lines)


def test_heavy_logging_through_the_logging_module(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="heavy"):
        load_sample("heavy_logging").handler({"lines": 5, "via": "logging"}, FakeContext())
    assert [r.getMessage().split()[3] for r in caplog.records] == [f"{i}/5" for i in range(1, 6)]


def test_logging_sample_logs_every_level_json_print_and_stderr(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    app = load_sample("logging_text_json")
    context = FakeContext()
    with caplog.at_level(logging.DEBUG, logger="orders"):
        result = app.handler({"order_id": "o-7"}, context)
    assert result["order_id"] == "o-7"
    levels = [r.levelname for r in caplog.records]
    assert levels == ["DEBUG", "INFO", "WARNING", "ERROR", "ERROR"]
    assert caplog.records[-1].exc_info is not None
    assert all("o-7" in r.getMessage() for r in caplog.records)
    captured = capsys.readouterr()
    structured = json.loads(captured.out.splitlines()[0])
    assert structured["order_id"] == "o-7" and structured["requestId"] == context.aws_request_id
    assert "plain print: order o-7 done" in captured.out
    assert "stderr line for order o-7" in captured.err


# ------------------------------------------------------------- the secrets samples (2773/2772) ---


class FakeLocalEndpoints:
    """The extension's two local endpoints, as the samples see them."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.connections: set[int] = set()
        endpoints = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                endpoints.requests.append(self.path)
                endpoints.connections.add(self.client_address[1])
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, body = endpoints.answer(
                    url.path, query, self.headers.get("X-Aws-Parameters-Secrets-Token")
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def answer(self, path: str, query: dict[str, str], token: str | None) -> tuple[int, Any]:
        if path.startswith("/applications/"):
            if path != "/applications/app-1/environments/env-1/configurations/flags-1":
                return 404, {"message": "not found"}
            return 200, {"enabled": True} if query.get("flag") == "new_checkout" else {}
        if token != TOKEN:
            return 403, {"__type": "AccessDeniedException", "message": "missing or invalid token"}
        if path == "/secretsmanager/get" and query.get("secretId") == "demo/api-key":
            return 200, {
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/api-key-AbCdEf",
                "Name": "demo/api-key",
                "SecretString": SECRET_VALUE,
                "VersionId": "v-1",
                "VersionStages": ["AWSCURRENT"],
            }
        if path == "/systemsmanager/parameters/get" and query.get("name") == "/demo/greeting":
            return 200, {"Parameter": {"Name": "/demo/greeting", "Value": "hello", "Type": "String"}}
        return 400, {"__type": "ResourceNotFoundException", "message": "not found"}


@pytest.fixture
def local_endpoints(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLocalEndpoints]:
    endpoints = FakeLocalEndpoints()
    thread = threading.Thread(target=endpoints.server.serve_forever, daemon=True)
    thread.start()
    for key, value in {
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(endpoints.port),
        "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(endpoints.port),
        "AWS_SESSION_TOKEN": TOKEN,
        "SECRET_ID": "demo/api-key",
        "PARAMETER_NAME": "/demo/greeting",
        "APPCONFIG_APPLICATION": "app-1",
        "APPCONFIG_ENVIRONMENT": "env-1",
        "APPCONFIG_PROFILE": "flags-1",
        "FEATURE_FLAG": "new_checkout",
        # A proxy that does not exist: the samples must never send the token through a proxy.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield endpoints
    endpoints.server.shutdown()
    endpoints.server.server_close()


@pytest.mark.integration
@pytest.mark.parametrize("sample", ["secrets_urllib", "secrets_requests"])
def test_secrets_samples_read_at_cold_start_and_per_invoke_without_leaking(
    sample: str,
    local_endpoints: FakeLocalEndpoints,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level(logging.DEBUG):
        app = load_sample(sample)
        assert app.COLD_START_CONFIG is not None  # read during module init
        assert len(local_endpoints.requests) == 3
        result = app.handler({}, FakeContext())
    assert result == {
        "secret": {"name": "demo/api-key", "version": "v-1", "length": len(SECRET_VALUE)},
        "parameter": "hello",
        "feature_flag": {"name": "new_checkout", "enabled": True},
        "cold_start_read": True,
    }
    assert len(local_endpoints.requests) == 6
    assert local_endpoints.requests[-1].startswith("/systemsmanager/parameters/get?name=%2Fdemo%2Fgreeting")
    captured = capsys.readouterr()
    everything = json.dumps(result) + caplog.text + captured.out + captured.err
    assert "s3cr3t" not in everything and TOKEN not in everything


@pytest.mark.integration
def test_requests_sample_keeps_its_connection_alive(local_endpoints: FakeLocalEndpoints) -> None:
    app = load_sample("secrets_requests")
    for _ in range(3):
        app.handler({}, FakeContext())
    assert len(local_endpoints.requests) == 12
    assert len(local_endpoints.connections) == 1


@pytest.mark.integration
def test_secrets_sample_survives_a_failed_cold_start_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "9")  # nothing listens there
    monkeypatch.setenv("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "9")
    monkeypatch.setenv("SECRET_ID", "demo/api-key")
    app = load_sample("secrets_urllib")
    assert app.COLD_START_CONFIG is None
    with pytest.raises(OSError):
        app.handler({}, FakeContext())
