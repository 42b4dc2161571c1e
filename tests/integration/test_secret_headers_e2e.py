"""Exporter headers from Secrets Manager, through the built layer in the emulator, against moto.

The OTLP API key lives in Secrets Manager (`x-api-key=${secretsmanager:otlp/key}`). The key is
rotated while the environment runs and the backend refuses the old one (401): the extension
re-resolves the reference, bypassing its cache, and the refused data is delivered with the new
key. The same must work when the local cache endpoints do not serve (turned off, or their
ports taken by something else): the references resolve through the cache service anyway.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.moto_server import TEST_CREDENTIALS, boto3_client, moto_server
from emulator.backends.otlp_receivers import OtlpHttpReceiver, unused_port
from tests.integration.helpers import make_task, sidecar_env
from tests.reliability.support import dropped_by_reason, shutdown_summaries

pytestmark = pytest.mark.integration
SECRET = "otlp/key"
OLD, NEW = "old-key-5f2a", "new-key-9c41"


@pytest.fixture
def moto() -> Iterator[str]:
    with moto_server() as url:
        boto3_client(url, "secretsmanager").create_secret(Name=SECRET, SecretString=OLD)
        yield url


def _taken_port(stack: ExitStack) -> int:
    """A loopback port some other process already listens on."""
    sock = stack.enter_context(socket.socket())
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return int(sock.getsockname()[1])


@pytest.mark.parametrize("endpoints", ["serving", "disabled", "ports-taken"])
def test_a_rotated_secret_header_is_re_resolved_on_401(
    built_layer: Path, tmp_path: Path, moto: str, endpoints: str
) -> None:
    with ExitStack() as stack:
        rx = stack.enter_context(OtlpHttpReceiver())
        ports = {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(unused_port()),
            "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(unused_port()),
        }
        if endpoints == "disabled":
            ports |= {"SIDECAR_SECRETS_PORT_ENABLED": "false", "SIDECAR_APPCONFIG_PORT_ENABLED": "false"}
        elif endpoints == "ports-taken":
            ports = {k: str(_taken_port(stack)) for k in ports}
        env = sidecar_env(
            rx.endpoint,
            tmp_path,
            OTEL_EXPORTER_OTLP_HEADERS=f"x-api-key=${{secretsmanager:{SECRET}}}",
            AWS_ENDPOINT_URL=moto,
            AWS_SESSION_TOKEN="session-token-for-tests",
            **TEST_CREDENTIALS,
            **ports,
        )
        with LambdaEnvironment(built_layer, make_task(tmp_path), "app.handler", env=env, freeze=True) as lam:
            first = lam.invoke({"n": 0})
            assert rx.wait_until(lambda: any(r.accepted for r in rx.requests), timeout=30)
            boto3_client(moto, "secretsmanager").put_secret_value(SecretId=SECRET, SecretString=NEW)
            rx.status(401, times=1)  # the backend now refuses the old key, once
            second = lam.invoke({"n": 1})
            lam.spindown()
            summaries = shutdown_summaries(lam)
            output = "\n".join(line for _, line in lam.output_lines)
        requests = rx.requests
        logs = [str(lr.body.string_value) for lr in rx.logs()]

    assert first.status == "success" and second.status == "success"
    refused = [r for r in requests if not r.accepted]
    assert [r.headers.get("x-api-key") for r in refused] == [OLD]
    keys = [r.headers.get("x-api-key") for r in requests]
    assert NEW in keys
    renewed = requests[keys.index(NEW) :]  # the batch's other signals went out beside the refused one
    assert {r.headers.get("x-api-key") for r in renewed} == {NEW} and all(r.accepted for r in renewed)
    assert renewed[0].signal == refused[0].signal  # the refused part, re-sent at once
    assert any(line.startswith("hello 1 ") for line in logs), logs  # nothing of invoke 1 lost
    assert dropped_by_reason(summaries) == {}
    assert NEW not in output and OLD not in output
