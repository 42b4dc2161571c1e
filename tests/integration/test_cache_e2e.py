"""The cache endpoints through the built layer in the emulator, used exactly as AWS documents.

moto serves Secrets Manager and SSM, the AppConfig data-plane test server serves AppConfig, and a
fault proxy sits in front of moto to count and break upstream calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.appconfig_server import AppConfigDataServer
from emulator.backends.fault_proxy import Fault, FaultProxy
from emulator.backends.moto_server import TEST_CREDENTIALS, boto3_client, moto_server
from emulator.backends.otlp_receivers import unused_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SECRET = "demo/db-credentials"
CANARY = "canary-7c1f0d2e-do-not-leak"


@dataclass
class Backends:
    moto: str
    proxy: FaultProxy
    appconfig: AppConfigDataServer


@pytest.fixture
def backends() -> Iterator[Backends]:
    with moto_server() as url, FaultProxy(url) as proxy, AppConfigDataServer() as appconfig:
        sm = boto3_client(url, "secretsmanager")
        sm.create_secret(Name=SECRET, SecretString=json.dumps({"user": "app", "password": CANARY}))
        boto3_client(url, "ssm").put_parameter(Name="/demo/table", Value="orders-v1", Type="String")
        appconfig.deploy("shop", "prod", "flags", json.dumps({"new-checkout": {"enabled": True}}))
        proxy.clear()
        yield Backends(url, proxy, appconfig)


def function_env(b: Backends, **extra: str) -> dict[str, str]:
    return {
        **TEST_CREDENTIALS,
        "AWS_SESSION_TOKEN": "session-token-for-tests",
        "AWS_ENDPOINT_URL": b.proxy.url,
        "AWS_ENDPOINT_URL_APPCONFIGDATA": b.appconfig.url,
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(unused_port()),
        "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(unused_port()),
        "SIDECAR_PREFETCH": f"sm:{SECRET},ssm:/demo/table",
        "AWS_APPCONFIG_EXTENSION_PREFETCH_LIST": "shop:prod:flags",
        "SIDECAR_EXPORTERS": "file",
        "SIDECAR_FILE_PATH": "/dev/null",
        "SECRET_ID": SECRET,
        "PARAMETER_NAME": "/demo/table",
        "APPCONFIG_APPLICATION": "shop",
        "APPCONFIG_ENVIRONMENT": "prod",
        "APPCONFIG_PROFILE": "flags",
        "FEATURE_FLAG": "new-checkout",
        **extra,
    }


@pytest.mark.parametrize("sample", ["secrets_urllib", "secrets_requests"])
def test_aws_usage_patterns_work_unchanged_and_init_read_is_prefetched(
    built_layer: Path, backends: Backends, sample: str
) -> None:
    task = ROOT / "sample_functions" / sample
    with LambdaEnvironment(built_layer, task, "app.handler", env=function_env(backends)) as lam:
        first = lam.invoke({})
        second = lam.invoke({})
        lam.spindown()
        output = "\n".join(line for _, line in lam.output_lines)
    assert first.status == "success", first.response
    body = first.response
    assert body["cold_start_read"] is True  # the read in the function's init code succeeded
    assert body["secret"]["name"] == SECRET and body["secret"]["length"] > len(CANARY)
    assert body["parameter"] == "orders-v1"
    assert body["feature_flag"] == {"name": "new-checkout", "enabled": True}
    assert second.status == "success" and second.response["secret"] == body["secret"]
    # one prefetch call per service; the init read and both invokes were served from it
    counts = backends.proxy.counts
    assert backends.proxy.total("secretsmanager.") == 1, counts
    assert backends.proxy.total("AmazonSSM.") == 1, counts
    assert CANARY not in output, "a secret value reached the function or extension output"


def test_rotated_secret_is_picked_up_within_its_ttl(built_layer: Path, backends: Backends) -> None:
    task = ROOT / "sample_functions" / "secrets_urllib"
    env = function_env(backends, SECRETS_MANAGER_TTL="1")
    with LambdaEnvironment(built_layer, task, "app.handler", env=env, freeze=True) as lam:
        before = lam.invoke({}).response["secret"]["version"]
        boto3_client(backends.moto, "secretsmanager").put_secret_value(
            SecretId=SECRET, SecretString=json.dumps({"user": "app", "password": "rotated"})
        )
        time.sleep(1.5)  # frozen meanwhile: expiry must use the wall clock
        after = lam.invoke({}).response["secret"]["version"]
        lam.spindown()
    assert before != after


def test_throttling_never_reaches_the_function_while_stale_is_allowed(
    built_layer: Path, backends: Backends
) -> None:
    task = ROOT / "sample_functions" / "secrets_urllib"
    env = function_env(backends, SECRETS_MANAGER_TTL="1", SSM_PARAMETER_STORE_TTL="1")
    with LambdaEnvironment(built_layer, task, "app.handler", env=env, freeze=True) as lam:
        fresh = lam.invoke({})
        backends.proxy.always(Fault.throttle())
        time.sleep(1.5)
        results = [lam.invoke({}) for _ in range(3)]
        lam.spindown()
    assert fresh.status == "success"
    assert [r.status for r in results] == ["success"] * 3, [r.response for r in results]
    assert all(r.response["secret"] == fresh.response["secret"] for r in results)
    assert (
        backends.proxy.total("GetSecretValue") + backends.proxy.total("DescribeSecret") >= 1
    )  # it did try AWS


INIT_READER = """
import json, os, time, urllib.request

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _read(url, token):
    headers = {"X-Aws-Parameters-Secrets-Token": os.environ["AWS_SESSION_TOKEN"]} if token else {}
    started = time.monotonic()
    with _opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
        body = response.read()
        return {
            "x_cache": response.headers.get("X-Cache"),
            "ms": (time.monotonic() - started) * 1000,
            "length": len(body),
        }


SECRETS = "http://localhost:" + os.environ["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]
APPCONFIG = "http://localhost:" + os.environ["AWS_APPCONFIG_EXTENSION_HTTP_PORT"]
INIT_READS = {
    "secret": _read(SECRETS + "/secretsmanager/get?secretId=" + os.environ["SECRET_ID"], True),
    "appconfig": _read(APPCONFIG + "/applications/shop/environments/prod/configurations/flags", False),
}


def handler(event, context):
    return INIT_READS
"""


def test_reads_in_init_are_served_by_the_prefetch(
    built_layer: Path, backends: Backends, tmp_path: Path
) -> None:
    """Both prefetch lists are fetched before the runtime starts the function's init: with every
    upstream call held 0.5 s, a read in init still finds the value cached (`hit`), and no read
    makes an AWS call of its own. Before, the prefetch started after our imports, so a slow
    backend left the init read waiting on it (`miss`)."""
    (tmp_path / "app.py").write_text(INIT_READER)
    backends.proxy.latency_s = 0.5
    with FaultProxy(backends.appconfig.url) as appconfig_proxy:
        appconfig_proxy.latency_s = 0.5
        env = function_env(backends, AWS_ENDPOINT_URL_APPCONFIGDATA=appconfig_proxy.url)
        with LambdaEnvironment(built_layer, tmp_path, "app.handler", env=env) as lam:
            first = lam.invoke({})
            lam.spindown()
    assert first.status == "success", first.response
    reads = first.response
    assert reads["secret"]["x_cache"] == "hit" and reads["secret"]["length"] > len(CANARY), reads
    assert reads["appconfig"]["x_cache"] == "hit" and reads["appconfig"]["length"] > 0, reads
    assert backends.proxy.total("secretsmanager.") == 1, backends.proxy.counts
    assert backends.appconfig.counts["StartConfigurationSession"] == 1, backends.appconfig.counts
    assert backends.appconfig.counts["GetLatestConfiguration"] == 1, backends.appconfig.counts


def test_appconfig_of_another_account_and_region(
    built_layer: Path, backends: Backends, tmp_path: Path
) -> None:
    """AWS_APPCONFIG_EXTENSION_ROLE_ARN and _SERVICE_REGION through the built layer: the role is
    assumed at moto's STS, and every AppConfig call is signed with its key in that region."""
    (tmp_path / "app.py").write_text(INIT_READER)
    env = function_env(
        backends,
        AWS_APPCONFIG_EXTENSION_ROLE_ARN="arn:aws:iam::222222222222:role/appconfig-reader",
        AWS_APPCONFIG_EXTENSION_SERVICE_REGION="eu-west-1",
    )
    with LambdaEnvironment(built_layer, tmp_path, "app.handler", env=env) as lam:
        first = lam.invoke({})
        lam.spindown()
    assert first.status == "success", first.response
    assert first.response["appconfig"]["length"] > 0
    signed = backends.appconfig.signed_with
    own_key = TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    assert signed and all(c.startswith("ASIA") and not c.startswith(own_key) for c in signed), signed
    assert all("/eu-west-1/appconfig/" in c for c in signed), signed


class ThreadedForwardProxy:
    """The forwarding proxy of tests/cache/test_outbound_proxy.py on its own loop in a thread
    (the emulator is driven synchronously)."""

    def __init__(self) -> None:
        import asyncio
        import threading

        from tests.cache.test_outbound_proxy import ForwardProxy

        self.proxy = ForwardProxy()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def start() -> None:
            self.proxy._server = await asyncio.start_server(self.proxy._serve, "127.0.0.1", 0)
            ready.set()

        self._thread = threading.Thread(
            target=lambda: (self._loop.run_until_complete(start()), self._loop.run_forever()), daemon=True
        )
        self._thread.start()
        assert ready.wait(10)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_outbound_proxies_through_the_built_layer(
    built_layer: Path, backends: Backends, tmp_path: Path
) -> None:
    """HTTP_PROXY carries the extension's AWS calls and AWS_APPCONFIG_EXTENSION_PROXY_URL (with its
    headers) the AppConfig calls; the `*.test` endpoint names resolve only inside the proxy."""
    from urllib.parse import urlsplit

    (tmp_path / "app.py").write_text(INIT_READER)
    forward = ThreadedForwardProxy()
    try:
        proxy_url = forward.proxy.url
        env = function_env(
            backends,
            AWS_ENDPOINT_URL=f"http://aws.test:{urlsplit(backends.proxy.url).port}",
            AWS_ENDPOINT_URL_APPCONFIGDATA=f"http://appconfigdata.test:{urlsplit(backends.appconfig.url).port}",
            HTTP_PROXY=proxy_url,
            AWS_APPCONFIG_EXTENSION_PROXY_URL=proxy_url,
            AWS_APPCONFIG_EXTENSION_PROXY_HEADERS="Proxy-Authorization=Basic dXNlcjpwdw==",
        )
        with LambdaEnvironment(built_layer, tmp_path, "app.handler", env=env) as lam:
            first = lam.invoke({})
            lam.spindown()
    finally:
        forward.close()
    assert first.status == "success", first.response
    assert first.response["secret"]["x_cache"] == "hit" and first.response["appconfig"]["x_cache"] == "hit"
    aws_calls = forward.proxy.targets("aws.test")
    appconfig_calls = forward.proxy.targets("appconfigdata.test")
    assert aws_calls and appconfig_calls
    assert all("Proxy-Authorization" not in h for _, h in aws_calls)
    assert all(h.get("Proxy-Authorization") == "Basic dXNlcjpwdw==" for _, h in appconfig_calls)
