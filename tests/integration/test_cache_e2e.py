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
