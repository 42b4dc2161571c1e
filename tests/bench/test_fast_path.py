"""The start-up fast path (extension/__main__.py before /register) stays lean and reads settings
exactly as extension.config does.

`early_settings` reads the seven variables that decide what to bind and which events to register
for through the same declarations (`extension.variables`) as `config.from_env`; these tests pin
that agreement over generated environments, check that the fast path imports nothing heavy, and
exercise registration's raw-socket HTTP client (`extension.http.blocking`) against a scripted
server. No timing is asserted.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extension.__main__ import early_settings
from extension.config import ConfigError, from_env
from extension.lifecycle.registration import ExtensionsApiError, Registration, register, report_error

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "SIDECAR_DISABLED",
    "SIDECAR_TELEMETRY_ENABLED",
    "SIDECAR_TELEMETRY_PORT",
    "SIDECAR_SECRETS_PORT_ENABLED",
    "SIDECAR_APPCONFIG_PORT_ENABLED",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
    "PARAMETERS_AND_SECRETS_EXTENSION_HTTP_PORT",
    "AWS_APPCONFIG_EXTENSION_HTTP_PORT",
)
VALUES = (
    "", " ", "1", "0", "true", "TRUE", " yes ", "on", "Off", "no", "false", "maybe", "2773", " 3773 ",
    "+5", "65535", "65536", "1_000", "\u0663", "-1", "abc", "0x10", "1.5", "true!",
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES) | st.text(max_size=6)))
def test_early_settings_agree_with_the_full_configuration(env: dict[str, str]) -> None:
    early = early_settings(env)
    try:
        full = from_env(env)
    except ConfigError:
        assert early is None, "the fast path accepted a value the configuration rejects"
        return
    assert early is not None, "the fast path rejected a value the configuration accepts"
    assert early.disabled == full.disabled
    assert (early.telemetry.enabled, early.telemetry.port) == (full.telemetry.enabled, full.telemetry.port)
    c = full.cache
    assert (c.secrets_port_enabled, c.secrets_port, c.appconfig_port_enabled, c.appconfig_port) == (
        early.cache.secrets_port_enabled,
        early.cache.secrets_port,
        early.cache.appconfig_port_enabled,
        early.cache.appconfig_port,
    )


def test_canonical_values_take_the_fast_path() -> None:
    early = early_settings(
        {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "3773", "SIDECAR_TELEMETRY_ENABLED": "false"}
    )
    assert early is not None and early.cache.secrets_port == 3773 and not early.telemetry.enabled
    assert early_settings({"SIDECAR_DISABLED": "perhaps"}) is None
    # values the old hand-written reader deferred (and so parsed everything before /register)
    odd = early_settings(
        {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "+3773", "SIDECAR_TELEMETRY_PORT": "1_000"}
    )
    assert odd is not None and odd.cache.secrets_port == 3773 and odd.telemetry.port == 1000


def test_fast_path_imports_nothing_heavy() -> None:
    code = "import sys, extension.__main__; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-E", "-S", "-B", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = {"http.client", "email", "ssl", "dataclasses", "json", "re", "typing", "logging", "extension.config",
             "asyncio", "aiohttp", "google.protobuf", "urllib.parse",
             "extension.config_docs"}  # fmt: skip
    assert heavy.isdisjoint(out), sorted(heavy.intersection(out))


# ---- registration over the raw-socket HTTP client (extension.http.blocking) ------------------


@contextmanager
def scripted_api(*answers: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A one-connection-per-answer server: records each request, sends the canned bytes, closes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    seen: list[bytes] = []

    def serve() -> None:
        for answer in answers:
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(body) < length:
                    body += conn.recv(65536)
                seen.append(head + b"\r\n\r\n" + body)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", seen
    finally:
        thread.join(5)
        server.close()


OK_BODY = json.dumps(
    {"functionName": "f", "functionVersion": "$LATEST", "handler": "app.h", "accountId": "123"}
)


def test_register_sends_the_documented_request_and_parses_the_answer() -> None:
    answer = (
        f"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: ext-1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(OK_BODY)}\r\n\r\n{OK_BODY}"
    ).encode()
    with scripted_api(answer) as (api, seen):
        reg = register(api, "lambda-sidecar", ["INVOKE", "SHUTDOWN"])
    assert reg == Registration("ext-1", "f", "$LATEST", "app.h", "123")
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /2020-01-01/extension/register HTTP/1.1"
    assert "Lambda-Extension-Name: lambda-sidecar" in lines
    assert "Lambda-Extension-Accept-Feature: accountId" in lines
    assert json.loads(body) == {"events": ["INVOKE", "SHUTDOWN"]}
    with pytest.raises(AttributeError):
        reg.extension_id = "other"  # type: ignore[misc]


def test_chunked_answer_and_refusal() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: ext-2\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(OK_BODY[:10]):x}\r\n{OK_BODY[:10]}\r\n{len(OK_BODY[10:]):x}\r\n{OK_BODY[10:]}\r\n0\r\n\r\n".encode()
    )
    refused = b'HTTP/1.1 403 Forbidden\r\nContent-Length: 32\r\n\r\n{"errorType":"Extension.Invalid"}'[:-1]
    with scripted_api(chunked, refused) as (api, _):
        assert register(api, "x", ["SHUTDOWN"]).account_id == "123"
        with pytest.raises(ExtensionsApiError) as err:
            register(api, "x", ["SHUTDOWN"])
    assert err.value.status == 403


def test_malformed_answer_is_an_oserror_and_error_report_escapes_json() -> None:
    with scripted_api(b"garbage\r\n\r\n", b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n") as (
        api,
        seen,
    ):
        with pytest.raises(OSError):
            register(api, "x", ["SHUTDOWN"])
        message = 'bad "value"\n\u00e9 \U0001f600'
        assert report_error(api, "ext-1", "init", "Extension.ConfigInvalid", message) == 202
    body = seen[1].partition(b"\r\n\r\n")[2]
    assert json.loads(body) == {"errorMessage": message, "errorType": "Extension.ConfigInvalid"}
