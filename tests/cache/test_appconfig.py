"""Port 2772 against the AppConfig data-plane test server (itself checked with boto3's client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.backends.appconfig_server import AppConfigDataServer
from emulator.backends.fault_proxy import Fault, FaultProxy
from tests.cache.conftest import TOKEN, Factory

pytestmark = pytest.mark.integration

FLAGS = {"ui_refresh": {"enabled": True}, "beta": {"enabled": False, "tier": "gold"}}
PATH = "/applications/shop/environments/prod/configurations/flags"


@pytest.fixture
def appconfig() -> Iterator[AppConfigDataServer]:
    with AppConfigDataServer() as server:
        server.deploy("shop", "prod", "flags", json.dumps(FLAGS), version_label="v1", ids=("a1", "e1", "p1"))
        yield server


def _client(url: str) -> Any:
    return boto3.client(
        "appconfigdata",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )


def test_server_speaks_the_botocore_model(appconfig: AppConfigDataServer) -> None:
    client = _client(appconfig.url)
    token = client.start_configuration_session(
        ApplicationIdentifier="a1", EnvironmentIdentifier="prod", ConfigurationProfileIdentifier="flags"
    )["InitialConfigurationToken"]
    first = client.get_latest_configuration(ConfigurationToken=token)
    assert json.loads(first["Configuration"].read()) == FLAGS
    assert first["VersionLabel"] == "v1" and first["ContentType"] == "application/json"
    assert first["NextPollIntervalInSeconds"] == 60
    second = client.get_latest_configuration(ConfigurationToken=first["NextPollConfigurationToken"])
    assert second["Configuration"].read() == b""  # unchanged since this session's last poll
    with pytest.raises(ClientError) as info:
        client.get_latest_configuration(ConfigurationToken=token)  # single-use
    assert info.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as info:
        client.start_configuration_session(
            ApplicationIdentifier="nope", EnvironmentIdentifier="prod", ConfigurationProfileIdentifier="flags"
        )
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    appconfig.expire_all_tokens()
    with pytest.raises(ClientError) as info:
        client.get_latest_configuration(ConfigurationToken=second["NextPollConfigurationToken"])
    assert info.value.response["Error"]["Code"] == "BadRequestException"


async def test_configuration_served_cached_and_kept_when_poll_is_empty(
    start_service: Factory, appconfig: AppConfigDataServer
) -> None:
    running = await start_service(appconfig.url)
    status, headers, body = await running.get(PATH, port="appconfig", token=None)
    assert status == 200 and json.loads(body) == FLAGS
    assert headers["Content-Type"] == "application/json" and headers["X-Cache"] == "miss"
    assert headers["Configuration-Version"] == "1" and headers["Version-Label"] == "v1"
    assert (await running.get(PATH, port="appconfig", token=None))[1]["X-Cache"] == "hit"
    running.clock.now += 46  # past the 45 s poll interval: the poll returns an empty body
    status, headers, body = await running.get(PATH, port="appconfig", token=None)
    assert status == 200 and json.loads(body) == FLAGS and headers["X-Cache"] == "refresh"
    assert appconfig.counts == {"StartConfigurationSession": 1, "GetLatestConfiguration": 2}
    appconfig.deploy("shop", "prod", "flags", '{"ui_refresh":{"enabled":false}}', version_label="v2")
    running.clock.now += 46
    _, headers, body = await running.get(PATH, port="appconfig", token=None)
    assert json.loads(body) == {"ui_refresh": {"enabled": False}} and headers["Version-Label"] == "v2"


async def test_flag_filtering(start_service: Factory, appconfig: AppConfigDataServer) -> None:
    running = await start_service(appconfig.url)
    status, _, body = await running.get(PATH + "?flag=beta", port="appconfig", token=None)
    assert status == 200 and json.loads(body) == {"enabled": False, "tier": "gold"}
    status, _, body = await running.get(PATH + "?flag=beta&flag=ui_refresh", port="appconfig", token=None)
    assert json.loads(body) == FLAGS
    status, headers, body = await running.get(PATH + "?flag=nope", port="appconfig", token=None)
    assert status == 404 and headers["Content-Type"].startswith("text/plain") and b"nope" in body


async def test_ids_unknown_profile_ping_and_methods(
    start_service: Factory, appconfig: AppConfigDataServer
) -> None:
    running = await start_service(appconfig.url)
    status, _, body = await running.get(
        "/applications/a1/environments/e1/configurations/p1", port="appconfig", token=None
    )
    assert status == 200 and json.loads(body) == FLAGS
    status, headers, _ = await running.get(
        "/applications/shop/environments/prod/configurations/other", port="appconfig", token=None
    )
    assert status == 404 and headers["Content-Type"].startswith("text/plain")
    status, _, body = await running.get("/ping", port="appconfig", token=None)
    assert status == 200 and body.startswith(b"lambda-sidecar")
    assert (await running.get("/elsewhere", port="appconfig", token=None))[0] == 404
    url = f"http://127.0.0.1:{running.service.appconfig_port}{PATH}"
    async with running.http.post(url) as resp:
        assert resp.status == 405


async def test_expired_session_token_restarts_the_session(
    start_service: Factory, appconfig: AppConfigDataServer
) -> None:
    running = await start_service(appconfig.url)
    await running.get(PATH, port="appconfig", token=None)
    appconfig.expire_all_tokens()
    running.clock.now += 46
    status, _, body = await running.get(PATH, port="appconfig", token=None)
    assert status == 200 and json.loads(body) == FLAGS
    assert appconfig.counts["StartConfigurationSession"] == 2
    assert running.service.appconfig.sessions_started == 2


async def test_prefetch_list_and_optional_token(
    start_service: Factory, appconfig: AppConfigDataServer
) -> None:
    running = await start_service(
        appconfig.url,
        AWS_APPCONFIG_EXTENSION_PREFETCH_LIST="shop:prod:flags",
        SIDECAR_APPCONFIG_REQUIRE_TOKEN="true",
    )
    assert appconfig.counts["GetLatestConfiguration"] == 1
    assert (await running.get(PATH, port="appconfig", token=None))[0] == 403
    status, headers, _ = await running.get(PATH, port="appconfig", token=TOKEN)
    assert status == 200 and headers["X-Cache"] == "hit"


async def test_upstream_failures_map_to_agent_statuses(
    start_service: Factory, appconfig: AppConfigDataServer
) -> None:
    with FaultProxy(appconfig.url) as proxy:
        running = await start_service(proxy.url, AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS="300ms")
        proxy.inject(Fault.server_error(500))
        status, headers, _ = await running.get(PATH, port="appconfig", token=None)
        assert status == 502 and headers["Content-Type"].startswith("text/plain")
        running.clock.now += 60  # past the backoff
        proxy.inject(Fault.latency(1.0))
        status, _, _ = await running.get(PATH, port="appconfig", token=None)
        assert status == 504
        running.clock.now += 60
        proxy.clear()
        assert (await running.get(PATH, port="appconfig", token=None))[0] == 200
        running.clock.now += 46
        proxy.inject(Fault.throttle(429))
        status, headers, body = await running.get(PATH, port="appconfig", token=None)
        assert status == 200 and headers["X-Cache"] == "stale" and json.loads(body) == FLAGS
