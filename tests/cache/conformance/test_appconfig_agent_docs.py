"""Conformance of port 2772 with the request examples of AWS's AppConfig Agent documentation:
https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-integration-lambda-extensions.html
(retrieving data, the Lambda extension's OpenAPI model, prefetch), the code samples
https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-code-samples-agent-read-configuration.html
and ...-agent-read-feature-flag-with-variants.html, and
https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-integration-containers-agent-retrieving-data.html
(the same HTTP API). Each test names the example it reproduces, served over the AppConfig data
plane test server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from emulator.backends.appconfig_server import AppConfigDataServer
from emulator.backends.fault_proxy import Fault, FaultProxy
from tests.cache.conftest import Factory

pytestmark = pytest.mark.integration

BASE = "/applications/{a}/environments/{e}/configurations/{c}"
FLAGS = {
    "flag_name": {"enabled": True, "attr": "x"},
    "flag_name_one": {"enabled": False},
    "flag_name_two": {"enabled": True, "limit": 5},
}


@pytest.fixture
def appconfig() -> Iterator[AppConfigDataServer]:
    with AppConfigDataServer() as server:
        server.deploy(
            "application_name",
            "environment_name",
            "configuration_name",
            json.dumps(FLAGS),
            version_label="v1",
        )
        server.deploy(
            "MyDemoApp",
            "Beta",
            "MyConfigProfile",
            b"greeting: hello\n",
            content_type="application/x-yaml",
            ids=("abc1234", "def5678", "ghi9012"),
        )
        server.deploy("test-backend/test-service", "prod", "settings", '{"slash":true}')
        yield server


async def test_full_configuration(start_service: Factory, appconfig: AppConfigDataServer) -> None:
    # 'To retrieve the full content of any deployed configuration':
    # curl "http://localhost:2772/applications/application_name/environments/environment_name/configurations/configuration_name"
    # 'The call returns configuration metadata in HTTP headers, including the configuration version,
    # content type, and configuration version label (if applicable).'
    running = await start_service(appconfig.url)
    path = BASE.format(a="application_name", e="environment_name", c="configuration_name")
    status, headers, body = await running.get(path, port="appconfig", token=None)
    assert status == 200 and json.loads(body) == FLAGS
    assert headers["Content-Type"] == "application/json"
    assert headers["Configuration-Version"] == "1" and headers["Version-Label"] == "v1"


async def test_freeform_profile_by_name_and_id(
    start_service: Factory, appconfig: AppConfigDataServer
) -> None:
    # Code sample 'read a freeform configuration profile' (Python: requests.get(
    # "http://localhost:2772/applications/MyDemoApp/environments/Beta/configurations/MyConfigProfile"));
    # OpenAPI model: 'Specify either the application name or the application ID' (same for the others).
    running = await start_service(appconfig.url)
    for a, e, c in (("MyDemoApp", "Beta", "MyConfigProfile"), ("abc1234", "def5678", "ghi9012")):
        status, headers, body = await running.get(BASE.format(a=a, e=e, c=c), port="appconfig", token=None)
        assert status == 200 and body == b"greeting: hello\n"
        assert headers["Content-Type"] == "application/x-yaml"  # raw bytes, the data plane's type
        assert "Version-Label" not in headers  # 'if applicable'


async def test_url_encoded_slash(start_service: Factory, appconfig: AppConfigDataServer) -> None:
    # 'To retrieve configuration data if your application uses a forward slash, for example
    # "test-backend/test-service", you will need to use URL encoding.'
    running = await start_service(appconfig.url)
    path = BASE.format(a="test-backend%2Ftest-service", e="prod", c="settings")
    status, _, body = await running.get(path, port="appconfig", token=None)
    assert status == 200 and json.loads(body) == {"slash": True}


async def test_single_and_multiple_flags(start_service: Factory, appconfig: AppConfigDataServer) -> None:
    # 'To retrieve a single flag and its attributes': ...configuration_name?flag=flag_name
    # 'To access multiple flags and their attributes': ...?flag=flag_name_one&flag=flag_name_two
    running = await start_service(appconfig.url)
    path = BASE.format(a="application_name", e="environment_name", c="configuration_name")
    status, _, body = await running.get(path + "?flag=flag_name", port="appconfig", token=None)
    assert status == 200 and json.loads(body) == FLAGS["flag_name"]
    status, _, body = await running.get(
        path + "?flag=flag_name_one&flag=flag_name_two", port="appconfig", token=None
    )
    assert status == 200
    assert json.loads(body) == {k: FLAGS[k] for k in ("flag_name_one", "flag_name_two")}


async def test_context_headers(start_service: Factory, appconfig: AppConfigDataServer) -> None:
    # Code sample 'retrieve a feature flag with variants': header `Context: country=US`; 'Multiple
    # context values may be passed either across multiple headers or as comma-separated values in
    # a single header'. CHOICE (extension/cache/README.md): variants are not evaluated; the stored flags are
    # served (with one warning), never an error.
    running = await start_service(appconfig.url)
    path = BASE.format(a="application_name", e="environment_name", c="configuration_name")
    for context in ("country=US", "country=US,tier=gold"):
        status, _, body = await running.get(path, port="appconfig", token=None, Context=context)
        assert status == 200 and json.loads(body) == FLAGS


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.error(400, "BadRequestException", "Invalid identifier"), 400),
        (Fault.error(404, "ResourceNotFoundException", "Profile not found"), 404),
        (Fault.server_error(500), 502),
        (Fault.latency(30), 504),
    ],
)
async def test_openapi_error_statuses(
    start_service: Factory, appconfig: AppConfigDataServer, fault: Fault, status: int
) -> None:
    # The OpenAPI model of the Lambda extension: 400 BadRequestException, 404
    # ResourceNotFoundException, 502 BadGateway (upstream failure), 504 GatewayTimeout; errors as text.
    with FaultProxy(appconfig.url) as proxy:
        proxy.always(fault)
        running = await start_service(proxy.url, AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS="300")
        path = BASE.format(a="MyDemoApp", e="Beta", c="MyConfigProfile")
        got, headers, _ = await running.get(path, port="appconfig", token=None)
        proxy.clear()
    assert got == status and headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "prefetch",
    [
        # 'the path would be /applications/my_application/environments/my_environment/configurations/...'
        "/applications/MyDemoApp/environments/Beta/configurations/MyConfigProfile",
        # 'You can specify multiple configuration items by listing them as a comma-separated list'
        "/applications/MyDemoApp/environments/Beta/configurations/MyConfigProfile,"
        "/applications/application_name/environments/environment_name/configurations/configuration_name",
    ],
)
async def test_prefetch_list_forms(
    start_service: Factory, appconfig: AppConfigDataServer, prefetch: str
) -> None:
    # 'Prefetching configuration data' (AWS_APPCONFIG_EXTENSION_PREFETCH_LIST): fetched before the
    # function asks; the read is served from the cache without another data-plane call.
    running = await start_service(appconfig.url, AWS_APPCONFIG_EXTENSION_PREFETCH_LIST=prefetch)
    calls = appconfig.counts["GetLatestConfiguration"]
    assert calls == prefetch.count(",") + 1
    status, headers, _ = await running.get(
        BASE.format(a="MyDemoApp", e="Beta", c="MyConfigProfile"), port="appconfig", token=None
    )
    assert status == 200 and headers["X-Cache"] == "hit"
    assert appconfig.counts["GetLatestConfiguration"] == calls
