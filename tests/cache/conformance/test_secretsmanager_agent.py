"""AWS Secrets Manager Agent (https://github.com/aws/aws-secretsmanager-agent) conformance: every
request/response rule its tests assert, against port 2773 of ours served over moto.

Each test names the SMA test it was ported from (`file::test`). Where SMA and the Parameters and
Secrets Lambda extension differ, the endpoint contract (extension/cache/README.md) decides, noted as CHOICE.
Not ported (they test SMA's own command line or TOML file, which we do not have): `main.rs`
`unkown_arg`, `missing_arg`, `help_arg`, `nofile_arg`, `no_token_env`, `port_in_use`,
`test_report`; `config.rs` `test_validate_ssrf_headers`, `test_validate_ssrf_env_variables`,
`test_validate_path_prefix`, log-level and config-file tests.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from emulator.backends.fault_proxy import Fault, FaultProxy
from extension.cache.errors import UpstreamError
from extension.cache.server import Limiter, SecretsEndpoint, guard
from extension.config import ConfigError, from_env
from extension.http.messages import Headers, Request
from extension.stats import Stats
from tests.cache.conftest import TOKEN, Factory, Running

pytestmark = pytest.mark.integration

SECRET = '{"username":"testuser","password":"hunter2"}'


async def raw(running: Running, request: bytes) -> tuple[int, bytes]:
    """One request written as bytes (any method, even CONNECT), answer read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", running.service.secrets_port)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def request(method: str, target: str, *headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


def with_pending(sm: Any, name: str = "MyTest") -> tuple[dict[str, Any], dict[str, Any]]:
    """A secret with an AWSCURRENT and an AWSPENDING version (what SMA's mocks answer)."""
    current = sm.create_secret(Name=name, SecretString=SECRET)
    pending = sm.put_secret_value(
        SecretId=name, SecretString='{"username":"pendinguser"}', VersionStages=["AWSPENDING"]
    )
    return current, pending


def error_of(body: bytes) -> tuple[str, str]:
    doc = json.loads(body)
    return doc["__type"], doc["message"]


# ---- main.rs (unit tests of the HTTP server) ---------------------------------------------------


async def test_ping(start_service: Factory, moto: str) -> None:
    # main.rs::ping_req, main.rs::ping_no_token, configuration.rs::test_ping_endpoint_health_check
    running = await start_service(moto)
    status, _, body = await running.get("/ping")
    assert (status, body) == (200, b"healthy")
    status, _, body = await running.get("/ping", token=None)
    assert (status, body) == (200, b"healthy")


async def test_unknown_path_is_404(start_service: Factory, moto: str) -> None:
    # main.rs::pong_req
    running = await start_service(moto)
    assert (await running.get("/pong"))[0] == 404
    # CHOICE (extension/cache/README.md): `/ping/` is not the health route, so it needs the token and is 404.
    assert (await running.get("/ping/"))[0] == 404
    assert (await running.get("/ping/", token=None))[0] == 403


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/secretsmanager/get", "missing parameter secretId"),  # main.rs::missing_id
        ("/v1/", "missing secret ID"),  # main.rs::missing_path_id
        # main.rs::missing_query_parameter
        ("/secretsmanager/get?versionStage=AWSPENDING", "missing parameter secretId"),
        # parse.rs::parse_query_missing_secret_id
        ("/secretsmanager/get?&versionId=myversion&versionStage=dev", "missing parameter secretId"),
        # parse.rs::parse_query_path_missing_secret_id (the missing id is reported before `abc`)
        ("/v1/?versionId=myversion&versionStage=dev&abc=123", "missing secret ID"),
        # main.rs::bad_query_parameter
        (
            "/secretsmanager/get?secretId=MyTest&versionStage=AWSPENDING&abc=XXXXXXXXXXXX",
            "unknown parameter: abc",
        ),
        # main.rs::path_bad_query_parameter
        ("/v1/MyTest?versionStage=AWSPENDING&abc=XXXXXXXXXXXX", "unknown parameter: abc"),
        # parse.rs::parse_query_invalid_parameter
        (
            "/secretsmanager/get?secretId=MyTest&versionId=myversion&versionStage=dev&abc=123",
            "unknown parameter: abc",
        ),
        # parse.rs::parse_query_path_invalid_parameter
        ("/v1/MyTest?versionId=myversion&versionStage=dev&abc=123", "unknown parameter: abc"),
        # parse.rs::parse_refresh_invalid_parameter
        (
            "/secretsmanager/get?secretId=MyTest&versionId=myversion&versionStage=dev&refreshNow=123",
            "invalid refreshNow value",
        ),
        # parse.rs (try_from_query: names are case-sensitive; the typo the issue names)
        ("/secretsmanager/get?secretId=MyTest&versionstage=AWSPENDING", "unknown parameter: versionstage"),
        # parse.rs (try_from_path_query has no secretId parameter)
        ("/v1/MyTest?secretId=other", "unknown parameter: secretId"),
        # parse.rs::parse_refresh_value (an empty value is none of true/false/1/0)
        ("/secretsmanager/get?secretId=MyTest&refreshNow=", "invalid refreshNow value"),
    ],
)
async def test_query_validation(
    start_service: Factory, moto: str, sm: Any, target: str, message: str
) -> None:
    # CHOICE: SMA answers these as text/plain; extension/cache/README.md keeps the JSON error shape of the
    # Parameters and Secrets extension, with SMA's message.
    sm.create_secret(Name="MyTest", SecretString=SECRET)
    running = await start_service(moto)
    status, _, body = await running.get(target)
    assert status == 400
    assert error_of(body) == ("InvalidRequestException", message)


async def test_secret_fields(start_service: Factory, moto: str, sm: Any) -> None:
    # main.rs::basic_success (validate_response), parse.rs::parse_query
    created = sm.create_secret(Name="MyTest", SecretString=SECRET)
    running = await start_service(moto)
    status, _, body = await running.get("/secretsmanager/get?secretId=MyTest")
    doc = json.loads(body)
    assert status == 200
    assert (doc["Name"], doc["ARN"], doc["VersionId"]) == ("MyTest", created["ARN"], created["VersionId"])
    assert doc["SecretString"] == SECRET and doc["VersionStages"] == ["AWSCURRENT"]
    # CHOICE: SMA answers CreatedDate as epoch seconds ("1569534789.046"); the Parameters and
    # Secrets extension (and extension/cache/README.md) as ISO-8601 UTC with milliseconds.
    assert doc["CreatedDate"].endswith("Z") and doc["CreatedDate"][10] == "T"


@pytest.mark.parametrize("refresh", ["1", "true", "0", "FALSE", "True"])
async def test_refresh_now_values(start_service: Factory, moto: str, sm: Any, refresh: str) -> None:
    # main.rs::basic_refresh_success, parse.rs::parse_query_refresh, parse_query_refresh_false,
    # parse_refresh_case_insensitive
    sm.create_secret(Name="MyTest", SecretString=SECRET)
    running = await start_service(moto)
    status, _, body = await running.get(f"/secretsmanager/get?secretId=MyTest&refreshNow={refresh}")
    assert status == 200 and json.loads(body)["Name"] == "MyTest"


async def test_stage_version_and_all_args(start_service: Factory, moto: str, sm: Any) -> None:
    # main.rs::pending_success, version_success, all_args_success, path_pending_success,
    # path_refresh_success, path_version_success, path_all_args_success, parse.rs::parse_path_query
    current, pending = with_pending(sm, "My/Test")
    running = await start_service(moto)
    cases = [
        ("/secretsmanager/get?secretId=My/Test&versionStage=AWSPENDING", pending, "AWSPENDING"),
        (f"/secretsmanager/get?secretId=My/Test&versionId={current['VersionId']}", current, "AWSCURRENT"),
        (
            f"/secretsmanager/get?secretId=My/Test&versionStage=AWSPENDING&versionId={pending['VersionId']}"
            "&refreshNow=true",
            pending,
            "AWSPENDING",
        ),
        ("/v1/My/Test?versionStage=AWSPENDING", pending, "AWSPENDING"),
        ("/v1/My/Test?versionStage=AWSPENDING&refreshNow=0", pending, "AWSPENDING"),
        (f"/v1/My/Test?versionId={current['VersionId']}", current, "AWSCURRENT"),
        (
            f"/v1/My/Test?versionStage=AWSPENDING&versionId={pending['VersionId']}&refreshNow=true",
            pending,
            "AWSPENDING",
        ),
    ]
    for target, version, stage in cases:
        status, _, body = await running.get(target)
        doc = json.loads(body)
        assert status == 200, target
        assert doc["Name"] == "My/Test" and doc["VersionId"] == version["VersionId"], target
        assert doc["VersionStages"] == [stage], target


async def test_repeated_parameter_last_wins(start_service: Factory, moto: str, sm: Any) -> None:
    # parse.rs::try_from_query (a later pair overwrites an earlier one)
    _, pending = with_pending(sm)
    running = await start_service(moto)
    _, _, body = await running.get(
        "/secretsmanager/get?secretId=nope&secretId=MyTest&versionStage=AWSPENDING"
    )
    assert json.loads(body)["VersionId"] == pending["VersionId"]


async def test_upstream_errors_pass_through(start_service: Factory, proxy: FaultProxy) -> None:
    # main.rs::access_denied_test, main.rs::other_error_test
    running = await start_service(proxy.url)
    proxy.inject(Fault.error(400, "AccessDeniedException", "Access to KMS is not allowed"))
    status, _, body = await running.get("/secretsmanager/get?secretId=KMSACCESSDENIEDTest")
    assert (status, error_of(body)) == (400, ("AccessDeniedException", "Access to KMS is not allowed"))
    message = "The request signature we calculated does not match ..."
    proxy.inject(Fault.error(400, "InvalidSignatureException", message))
    status, _, body = await running.get("/secretsmanager/get?secretId=OTHERERRORTest")
    assert (status, error_of(body)) == (400, ("InvalidSignatureException", message))


async def test_refresh_now_bypasses_the_cache(start_service: Factory, moto: str, sm: Any) -> None:
    # main.rs::refresh_now_test, cache_behavior.rs::test_refresh_now_on_updated_secret_succeeds
    sm.create_secret(Name="REFRESHNOWtestsecret", SecretString=SECRET)
    running = await start_service(moto)
    first = json.loads((await running.get("/secretsmanager/get?secretId=REFRESHNOWtestsecret"))[2])
    updated = sm.update_secret(SecretId="REFRESHNOWtestsecret", SecretString='{"username":"rotateduser"}')
    second = json.loads((await running.get("/secretsmanager/get?secretId=REFRESHNOWtestsecret"))[2])
    third = json.loads(
        (await running.get("/secretsmanager/get?secretId=REFRESHNOWtestsecret&refreshNow=true"))[2]
    )
    assert first["SecretString"] == second["SecretString"] != third["SecretString"]
    assert third["VersionId"] == updated["VersionId"] and "AWSCURRENT" in third["VersionStages"]
    assert "rotateduser" in third["SecretString"]


@pytest.mark.parametrize("header", ["X-Vault-Token", "x-vault-token", "X-Aws-Parameters-Secrets-Token"])
async def test_token_headers(start_service: Factory, moto: str, sm: Any, header: str) -> None:
    # main.rs::path_success (X-Vault-Token is SMA's default alternate header),
    # configuration.rs::test_path_based_requests (path and query forms answer the same)
    sm.create_secret(Name="MyTest", SecretString=SECRET)
    running = await start_service(moto)
    status, body = await raw(running, request("GET", "/v1/MyTest", f"{header}: {TOKEN}"))
    assert status == 200 and json.loads(body)["Name"] == "MyTest"
    _, _, by_query = await running.get("/secretsmanager/get?secretId=MyTest")
    assert json.loads(by_query)["SecretString"] == json.loads(body)["SecretString"]
    assert json.loads(by_query)["VersionId"] == json.loads(body)["VersionId"]


@pytest.mark.parametrize(
    ("target", "headers", "status"),
    [
        ("/secretsmanager/get?secretId=MyTest", (), 403),  # main.rs::no_token_fail
        ("/v1/MyTest", (), 403),  # main.rs::path_no_token_fail
        ("/secretsmanager/get?secretId=MyTest", ("X-Vault-Token: click slipers",), 403),  # main.rs::bad_token
        # main.rs::xff_fail, security.rs::test_x_forwarded_for_rejection
        (
            "/secretsmanager/get?secretId=MyTest",
            (f"X-Vault-Token: {TOKEN}", "X-Forwarded-For: 54.239.28.85"),
            400,
        ),
        # security.rs::test_ssrf_token_validation (refreshNow does not skip the token check)
        ("/secretsmanager/get?secretId=MyTest&refreshNow=true", (), 403),
        # server.rs::validate_token: a wrong primary header does not hide a right alternate one
        (
            "/secretsmanager/get?secretId=MyTest",
            ("X-Aws-Parameters-Secrets-Token: wrong", f"X-Vault-Token: {TOKEN}"),
            200,
        ),
        # server.rs::get_result order: X-Forwarded-For (400) before the token (403)
        ("/secretsmanager/get?secretId=MyTest", ("X-Forwarded-For: 10.0.0.1",), 400),
        # server.rs::validate_token: /ping skips the forwarding and token checks
        ("/ping", ("X-Forwarded-For: 10.0.0.1",), 200),
    ],
)
async def test_token_and_forwarding(
    start_service: Factory, moto: str, sm: Any, target: str, headers: tuple[str, ...], status: int
) -> None:
    sm.create_secret(Name="MyTest", SecretString=SECRET)
    running = await start_service(moto)
    got, body = await raw(running, request("GET", target, *headers))
    assert got == status
    if status != 200:
        assert TOKEN.encode() not in body and b"hunter2" not in body


@pytest.mark.parametrize("verb", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "CONNECT", "OPTIONS", "TRACE"])
async def test_get_only(start_service: Factory, moto: str, sm: Any, verb: str) -> None:
    # main.rs::get_only (every route, /ping included)
    sm.create_secret(Name="MyTest", SecretString=SECRET)
    running = await start_service(moto)
    for target in ("/secretsmanager/get?secretId=MyTest", "/v1/MyTest", "/ping"):
        status, _ = await raw(running, request(verb, target, f"X-Aws-Parameters-Secrets-Token: {TOKEN}"))
        assert status == 405, (verb, target)
    # server.rs::get_result order: the token (403) before the method (405), the method before
    # the route (404)
    assert (await raw(running, request(verb, "/v1/MyTest")))[0] == 403
    unknown = request(verb, "/nowhere", f"X-Aws-Parameters-Secrets-Token: {TOKEN}")
    assert (await raw(running, unknown))[0] == 405


async def test_timeout_is_504(start_service: Factory, proxy: FaultProxy) -> None:
    # main.rs::timeout_test (a call that never answers ends in 504)
    proxy.always(Fault.latency(30))
    running = await start_service(proxy.url, SECRETS_MANAGER_TIMEOUT_MILLIS="300")
    status, _, body = await running.get("/secretsmanager/get?secretId=SleepyTest")
    assert status == 504 and error_of(body)[0] == "TimeoutError"
    proxy.clear()


# ---- integration-tests/tests/*.rs (against a real account there, moto here) ---------------------


async def test_retrieval_by_name_arn_binary_and_large(start_service: Factory, moto: str, sm: Any) -> None:
    # secret_retrieval.rs::test_secret_retrieval_by_name, test_secret_retrieval_by_arn,
    # test_binary_secret_retrieval, test_large_secret_retrieval
    created = sm.create_secret(Name="basic", SecretString=SECRET)
    sm.create_secret(Name="binary", SecretBinary=b"\x00\x01binary")
    large = json.dumps({"size": "60KB", "data": "x" * 60000})
    sm.create_secret(Name="large", SecretString=large)
    running = await start_service(moto)
    doc = json.loads((await running.get("/secretsmanager/get?secretId=basic"))[2])
    assert doc["Name"] == "basic" and "testuser" in doc["SecretString"] and isinstance(doc["VersionId"], str)
    doc = json.loads((await running.get(f"/secretsmanager/get?secretId={created['ARN']}"))[2])
    assert doc["ARN"] == created["ARN"] and "testuser" in doc["SecretString"]
    doc = json.loads((await running.get("/secretsmanager/get?secretId=binary"))[2])
    assert doc["Name"] == "binary" and isinstance(doc["SecretBinary"], str) and doc["SecretString"] is None
    doc = json.loads((await running.get("/secretsmanager/get?secretId=large"))[2])
    data = json.loads(doc["SecretString"])
    assert data["size"] == "60KB" and data["data"] == "x" * 60000


async def test_versions_by_stage_and_id_and_promotion(start_service: Factory, moto: str, sm: Any) -> None:
    # secret_retrieval.rs::test_version_stage_retrieval, test_version_id_retrieval,
    # version_management.rs::test_version_stage_transitions
    current, pending = with_pending(sm, "versioned")
    running = await start_service(moto)
    base = "/secretsmanager/get?secretId=versioned"
    doc = json.loads((await running.get(base + "&versionStage=AWSCURRENT"))[2])
    assert doc["VersionId"] == current["VersionId"] and "AWSCURRENT" in doc["VersionStages"]
    doc = json.loads((await running.get(base + "&versionStage=AWSPENDING"))[2])
    assert doc["VersionId"] == pending["VersionId"] and "pendinguser" in doc["SecretString"]
    doc = json.loads((await running.get(base + f"&versionId={pending['VersionId']}"))[2])
    assert doc["VersionId"] == pending["VersionId"]
    sm.update_secret_version_stage(
        SecretId="versioned",
        VersionStage="AWSCURRENT",
        MoveToVersionId=pending["VersionId"],
        RemoveFromVersionId=current["VersionId"],
    )
    doc = json.loads((await running.get(base + "&versionStage=AWSCURRENT&refreshNow=true"))[2])
    assert doc["VersionId"] == pending["VersionId"] and "AWSCURRENT" in doc["VersionStages"]
    doc = json.loads((await running.get(base + f"&versionId={current['VersionId']}&refreshNow=true"))[2])
    assert doc["VersionId"] == current["VersionId"] and "AWSCURRENT" not in doc["VersionStages"]


async def test_ttl_expiry_and_ttl_zero(start_service: Factory, moto: str, sm: Any) -> None:
    # cache_behavior.rs::test_cache_expiration_and_refresh, test_ttl_zero_disables_caching
    sm.create_secret(Name="ttl", SecretString=SECRET)
    running = await start_service(moto, SECRETS_MANAGER_TTL="5")
    first = json.loads((await running.get("/secretsmanager/get?secretId=ttl"))[2])
    updated = sm.update_secret(SecretId="ttl", SecretString='{"username":"expireduser"}')
    assert (
        json.loads((await running.get("/secretsmanager/get?secretId=ttl"))[2])["VersionId"]
        == first["VersionId"]
    )
    running.clock.now += 6
    doc = json.loads((await running.get("/secretsmanager/get?secretId=ttl"))[2])
    assert doc["VersionId"] == updated["VersionId"] and "expireduser" in doc["SecretString"]

    sm.create_secret(Name="nocache", SecretString=SECRET)
    uncached = await start_service(moto, SECRETS_MANAGER_TTL="0")
    await uncached.get("/secretsmanager/get?secretId=nocache")
    updated = sm.update_secret(SecretId="nocache", SecretString='{"username":"nocacheuser"}')
    doc = json.loads((await uncached.get("/secretsmanager/get?secretId=nocache"))[2])
    assert doc["VersionId"] == updated["VersionId"] and "nocacheuser" in doc["SecretString"]


async def test_nonexistent_secret_is_400(start_service: Factory, proxy: FaultProxy) -> None:
    # secret_retrieval.rs::test_real_nonexistent_secret. moto answers ResourceNotFoundException
    # with HTTP 404, Secrets Manager with 400 (what SMA's test sees): the proxy gives AWS's answer.
    proxy.always(
        Fault.error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
    )
    running = await start_service(proxy.url)
    for query in ("", "&refreshNow=true"):
        status, _, body = await running.get(f"/secretsmanager/get?secretId=nonexistent-secret-1{query}")
        assert status == 400 and body and error_of(body)[0] == "ResourceNotFoundException"


# ---- config.rs (the same limits, on our environment variables) ----------------------------------


def test_config_defaults() -> None:
    # config.rs::test_default_config (port 2773, TTL 300 s), test_config_empty_config_file
    cache = from_env({}).cache
    assert (cache.secrets_port, cache.secrets_ttl_s, cache.max_items) == (2773, 300.0, 1000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRETS_MANAGER_TTL", "-1"),  # config.rs::test_validate_ttl_seconds_invalid_values
        ("SECRETS_MANAGER_TTL", "3601"),
        ("SECRETS_MANAGER_TTL", "not a number"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "-1"),  # test_validate_cache_size_invalid_values
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "1001"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "not a number"),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "-1"),  # test_validate_config_http_port_invalid_values
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "65536"),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "not a number"),
    ],
)
def test_config_rejects_out_of_range(name: str, value: str) -> None:
    # CHOICE: SMA also refuses port 1023 and below and a cache size of 0; the Parameters and
    # Secrets extension's variables (extension/cache/README.md) allow those (0 = no caching), so we do.
    with pytest.raises(ConfigError):
        from_env({name: value})


def test_config_accepts_sma_ttl_range() -> None:
    # config.rs::test_config_overrides (a TTL up to SMA's maximum of 3600 s is accepted)
    assert from_env({"SECRETS_MANAGER_TTL": "3600"}).cache.secrets_ttl_s == 3600.0


# ---- main.rs max_conn_test / ping_max_conn (the inbound cap, forced with a cap of 1) ------------


class HeldBackend:
    """A backend whose lookups wait until released: the cap is reached without any race."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()

    async def lookup(self, key: Any, *, force: bool) -> Any:
        self.waiting.set()
        await self.release.wait()
        raise UpstreamError("ResourceNotFoundException", "not found", 400)

    async def lookup_config(self, target: Any, *, force: bool) -> Any:
        raise AssertionError("not used")


def _request(path: str, query: str = "") -> Request:
    return Request("GET", path, query, Headers([("x-aws-parameters-secrets-token", TOKEN.encode())]), b"")


async def test_cap_refuses_with_429_but_never_ping() -> None:
    # main.rs::max_conn_test (a request over the cap is 429 while the first is in progress; after
    # it completes requests are served again), main.rs::ping_max_conn (health checks exceed it)
    backend = HeldBackend()
    handler = guard(Limiter(1), Stats(), "secrets", SecretsEndpoint(backend, TOKEN, Stats()).handle)
    first = asyncio.ensure_future(handler(_request("/secretsmanager/get", "secretId=SleepyTest")))
    await asyncio.wait_for(backend.waiting.wait(), 10)
    assert (await handler(_request("/secretsmanager/get", "secretId=MyTest"))).status == 429
    assert (await handler(_request("/ping"))).status == 200
    backend.release.set()
    assert (await first).status == 400
    assert (await handler(_request("/secretsmanager/get", "secretId=MyTest"))).status == 400  # served
