"""The cache endpoints on the plain-asyncio server: bytes no client library would send."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from emulator.backends.otlp_receivers import unused_port
from extension.cache.server import MAX_INFLIGHT
from tests.cache.conftest import TOKEN, Factory

WAIT_S = 30.0


async def raw_exchange(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    raw = await asyncio.wait_for(reader.read(), WAIT_S)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _get(path: bytes, *headers: bytes) -> bytes:
    return (
        b"GET "
        + path
        + b" HTTP/1.1\r\nConnection: close\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
    )


async def test_token_that_is_not_utf8_is_403_and_one_counted_rejection(
    start_service: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    svc = await start_service(f"http://127.0.0.1:{unused_port()}")
    port = svc.service.secrets_port
    caplog.set_level(logging.DEBUG, logger="lambda_sidecar")
    status, body = await raw_exchange(
        port,
        _get(b"/secretsmanager/get?secretId=x", b"X-Aws-Parameters-Secrets-Token: \xff\xfe" + TOKEN.encode()),
    )
    assert status == 403 and b"AccessDeniedException" in body
    snap = svc.service._stats.snapshot()
    assert snap.get("cache_rejected{token}") == 1
    assert not any(k.startswith("internal_errors") for k in snap)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not any(r.exc_info for r in caplog.records)


async def test_bytes_that_are_not_utf8_elsewhere_are_never_500(start_service: Factory) -> None:
    svc = await start_service(f"http://127.0.0.1:{unused_port()}", SIDECAR_APPCONFIG_REQUIRE_TOKEN="true")
    token = b"X-Aws-Parameters-Secrets-Token: " + TOKEN.encode()
    answers = {
        "path": await raw_exchange(svc.service.secrets_port, _get(b"/v1/\xff\xfe", token)),
        "query": await raw_exchange(
            svc.service.secrets_port, _get(b"/secretsmanager/get?secretId=\xff", token)
        ),
        "XFF": await raw_exchange(svc.service.secrets_port, _get(b"/v1/x", b"X-Forwarded-For: \xff", token)),
        "2772 token": await raw_exchange(
            svc.service.appconfig_port,
            _get(b"/applications/a/environments/e/configurations/c", b"X-Aws-Parameters-Secrets-Token: \xff"),
        ),
        "2772 Context": await raw_exchange(svc.service.appconfig_port, _get(b"/ping", b"Context: \xff")),
    }
    statuses = {k: status for k, (status, _) in answers.items()}
    assert statuses == {"path": 400, "query": 400, "XFF": 400, "2772 token": 403, "2772 Context": 200}
    assert not any(k.startswith("internal_errors") for k in svc.service._stats.snapshot())


async def test_body_over_the_limit_is_413(start_service: Factory) -> None:
    svc = await start_service(f"http://127.0.0.1:{unused_port()}")
    request = (
        b"POST /sidecar/v1/batch HTTP/1.1\r\nConnection: close\r\nX-Aws-Parameters-Secrets-Token: "
        + TOKEN.encode()
        + b"\r\nContent-Length: 10000000\r\n\r\n{"
    )
    status, _ = await raw_exchange(svc.service.secrets_port, request)
    assert status == 413
    assert svc.service._stats.snapshot().get("cache_rejected{too_large}") == 1


def test_inbound_limit_is_documented_apart_from_max_connections() -> None:
    """PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS is, as AWS documents it, the connection limit
    of the extension's HTTP clients; the local 429 limit is our own constant, documented as such."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = next(
        line
        for line in readme.splitlines()
        if line.startswith("| `PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS`")
    )
    assert "429" not in row and "HTTP client" in row
    assert re.search(rf"at most {MAX_INFLIGHT} requests at\s+once \(429", readme)
