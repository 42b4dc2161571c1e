"""Port 2773 end to end: CacheService on loopback against a real moto server (Secrets Manager, SSM)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import pytest

from emulator.backends.fault_proxy import Fault, FaultProxy
from extension.cache.providers.entries import CacheKey
from tests.cache.conftest import TOKEN, Factory

pytestmark = pytest.mark.integration


async def test_secret_by_name_arn_and_v1_path(start_service: Factory, moto: str, sm: Any) -> None:
    created = sm.create_secret(Name="prod/db", SecretString='{"user":"admin","password":"pw"}')
    running = await start_service(moto)
    status, headers, body = await running.get("/secretsmanager/get?secretId=prod/db")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    doc = json.loads(body)
    assert (
        doc["Name"] == "prod/db"
        and doc["ARN"] == created["ARN"]
        and doc["SecretString"] == '{"user":"admin","password":"pw"}'
    )
    assert (
        doc["VersionStages"] == ["AWSCURRENT"]
        and doc["CreatedDate"].endswith("Z")
        and doc["ResultMetadata"] == {}
    )
    assert headers["X-Cache"] == "miss" and headers["Age"] == "0"
    status, headers, _ = await running.get("/secretsmanager/get?secretId=prod/db")
    assert (status, headers["X-Cache"]) == (200, "hit")
    status, _, body = await running.get(f"/secretsmanager/get?secretId={quote(created['ARN'], safe='')}")
    assert status == 200 and json.loads(body)["Name"] == "prod/db"
    status, _, body = await running.get("/v1/" + quote("prod/db", safe=""))
    assert status == 200 and json.loads(body)["VersionId"] == created["VersionId"]
    status, _, body = await running.get("/secretsmanager/get?secretId=prod/db&jsonKey=user")
    assert (status, body) == (200, b"admin")
    status, _, body = await running.get("/secretsmanager/get?secretId=prod/db&jsonKey=nope")
    assert status == 404 and b"pw" not in body and b"admin" not in body


async def test_versions_stages_and_rotation_after_ttl(start_service: Factory, moto: str, sm: Any) -> None:
    first = sm.create_secret(Name="rotating", SecretString="one")
    running = await start_service(moto, SECRETS_MANAGER_TTL="60")
    _, headers, body = await running.get("/secretsmanager/get?secretId=rotating")
    assert json.loads(body)["SecretString"] == "one"
    second = sm.put_secret_value(SecretId="rotating", SecretString="two")
    _, headers, body = await running.get("/secretsmanager/get?secretId=rotating")
    assert json.loads(body)["SecretString"] == "one" and headers["X-Cache"] == "hit"  # within TTL
    running.clock.now += 61
    _, headers, body = await running.get("/secretsmanager/get?secretId=rotating")
    assert json.loads(body)["SecretString"] == "two" and headers["X-Cache"] == "refresh"
    _, _, body = await running.get("/secretsmanager/get?secretId=rotating&versionStage=AWSPREVIOUS")
    assert json.loads(body)["SecretString"] == "one" and json.loads(body)["VersionStages"] == ["AWSPREVIOUS"]
    _, _, body = await running.get(f"/secretsmanager/get?secretId=rotating&versionId={first['VersionId']}")
    assert json.loads(body)["SecretString"] == "one"
    _, _, body = await running.get(f"/v1/rotating?versionId={second['VersionId']}")
    assert json.loads(body)["SecretString"] == "two"


async def test_unchanged_secret_is_kept_after_describe(
    start_service: Factory, proxy: FaultProxy, sm: Any
) -> None:
    sm.create_secret(Name="stable", SecretString="same")
    running = await start_service(proxy.url, SECRETS_MANAGER_TTL="10")
    await running.get("/secretsmanager/get?secretId=stable")
    running.clock.now += 11
    _, headers, body = await running.get("/secretsmanager/get?secretId=stable")
    assert headers["X-Cache"] == "refresh" and json.loads(body)["SecretString"] == "same"
    assert proxy.counts["secretsmanager.GetSecretValue"] == 1
    assert proxy.counts["secretsmanager.DescribeSecret"] == 1


async def test_refresh_now_forces_a_call(start_service: Factory, proxy: FaultProxy, sm: Any) -> None:
    sm.create_secret(Name="s", SecretString="a")
    running = await start_service(proxy.url)
    await running.get("/secretsmanager/get?secretId=s")
    sm.put_secret_value(SecretId="s", SecretString="b")
    _, headers, body = await running.get("/secretsmanager/get?secretId=s&refreshNow=true")
    assert json.loads(body)["SecretString"] == "b" and headers["X-Cache"] == "refresh"
    status, _, _ = await running.get("/secretsmanager/get?secretId=s&refreshNow=perhaps")
    assert status == 400


async def test_parameters_string_securestring_versions_and_labels(
    start_service: Factory, moto: str, ssm: Any
) -> None:
    ssm.put_parameter(Name="/app/plain", Value="v1", Type="String")
    ssm.put_parameter(Name="/app/plain", Value="v2", Type="String", Overwrite=True)
    ssm.label_parameter_version(Name="/app/plain", ParameterVersion=1, Labels=["old"])
    ssm.put_parameter(Name="/app/secure", Value="s3cr3t", Type="SecureString")
    running = await start_service(moto)
    status, headers, body = await running.get("/systemsmanager/parameters/get?name=/app/plain")
    param = json.loads(body)["Parameter"]
    assert status == 200 and param["Value"] == "v2" and param["Version"] == 2 and headers["X-Cache"] == "miss"
    assert set(json.loads(body)) == {"Parameter", "ResultMetadata"}
    _, _, body = await running.get("/systemsmanager/parameters/get/?name=/app/plain&version=1")
    assert json.loads(body)["Parameter"]["Value"] == "v1"
    _, _, body = await running.get("/systemsmanager/parameters/get?name=/app/plain&label=old")
    assert json.loads(body)["Parameter"]["Value"] == "v1"
    _, _, body = await running.get("/systemsmanager/parameters/get?name=/app/secure&withDecryption=true")
    assert (
        json.loads(body)["Parameter"]["Value"] == "s3cr3t"
        and json.loads(body)["Parameter"]["Type"] == "SecureString"
    )
    _, _, body = await running.get("/systemsmanager/parameters/get?name=/app/secure")
    assert json.loads(body)["Parameter"]["Value"] != "s3cr3t"


async def test_reference_passthrough_and_not_found(start_service: Factory, moto: str, sm: Any) -> None:
    sm.create_secret(Name="via-ssm", SecretString="ref-value")
    running = await start_service(moto)
    status, _, body = await running.get(
        "/systemsmanager/parameters/get?name=/aws/reference/secretsmanager/via-ssm&withDecryption=true"
    )
    assert status == 200 and json.loads(body)["Parameter"]["Value"] == "ref-value"
    status, _, body = await running.get("/secretsmanager/get?secretId=missing")
    error = json.loads(body)
    assert status in (400, 404) and error["__type"] == "ResourceNotFoundException" and error["message"]
    status, _, body = await running.get("/systemsmanager/parameters/get?name=/missing")
    assert status == 400 and json.loads(body)["__type"] == "ParameterNotFound"


async def test_access_denied_passed_through(start_service: Factory, proxy: FaultProxy, sm: Any) -> None:
    proxy.always(
        Fault.error(
            400, "AccessDeniedException", "User is not authorized to perform secretsmanager:GetSecretValue"
        )
    )
    running = await start_service(proxy.url)
    status, _, body = await running.get("/secretsmanager/get?secretId=anything")
    assert status == 400
    assert json.loads(body) == {
        "__type": "AccessDeniedException",
        "message": "User is not authorized to perform secretsmanager:GetSecretValue",
    }


@pytest.mark.parametrize(
    ("path", "headers", "method", "status"),
    [
        ("/secretsmanager/get?secretId=x", {}, "GET", 403),
        ("/secretsmanager/get?secretId=x", {"X-Aws-Parameters-Secrets-Token": "wrong"}, "GET", 403),
        (
            "/secretsmanager/get?secretId=x",
            {"x-aws-parameters-secrets-token": TOKEN, "X-Forwarded-For": "1.2.3.4"},
            "GET",
            400,
        ),
        ("/secretsmanager/get", {"x-aws-parameters-secrets-token": TOKEN}, "GET", 400),
        ("/systemsmanager/parameters/get", {"x-aws-parameters-secrets-token": TOKEN}, "GET", 400),
        ("/secretsmanager/get?secretId=x", {"x-aws-parameters-secrets-token": TOKEN}, "POST", 405),
        ("/nope", {"x-aws-parameters-secrets-token": TOKEN}, "GET", 404),
        ("/ping", {}, "GET", 200),
    ],
)
async def test_request_rules(
    start_service: Factory, moto: str, path: str, headers: dict[str, str], method: str, status: int
) -> None:
    running = await start_service(moto)
    url = f"http://127.0.0.1:{running.service.secrets_port}{path}"
    async with running.http.request(method, url, headers=headers) as resp:
        body = await resp.read()
        assert resp.status == status
        assert TOKEN.encode() not in body
        if status == 403:
            assert json.loads(body)["__type"] == "AccessDeniedException"
        if status == 400 and "X-Forwarded-For" not in headers:
            assert b"secretId" in body or b"name" in body


async def test_token_from_file(start_service: Factory, moto: str, sm: Any, tmp_path: Any) -> None:
    sm.create_secret(Name="f", SecretString="x")
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    running = await start_service(moto, AWS_TOKEN=f"file://{token_file}")
    assert (await running.get("/secretsmanager/get?secretId=f"))[0] == 403
    assert (await running.get("/secretsmanager/get?secretId=f", token="from-file"))[0] == 200


async def test_prefetch_batches_and_serves_first_read(
    start_service: Factory, proxy: FaultProxy, sm: Any, ssm: Any
) -> None:
    for i in range(3):
        sm.create_secret(Name=f"pre/{i}", SecretString=f"value-{i}")
    for i in range(12):
        ssm.put_parameter(Name=f"/pre/{i}", Value=f"p{i}", Type="SecureString")
    prefetch = ",".join(
        [f"sm:pre/{i}" for i in range(3)] + [f"ssm:/pre/{i}?withDecryption=true" for i in range(12)]
    )
    proxy.latency_s = 0.2  # the first read arrives while the prefetch is still in flight
    running = await start_service(proxy.url, wait_prefetch=False, SIDECAR_PREFETCH=prefetch)
    status, headers, body = await running.get("/secretsmanager/get?secretId=pre/1")
    assert status == 200 and json.loads(body)["SecretString"] == "value-1" and headers["X-Cache"] == "miss"
    assert running.service.prefetched is not None
    await running.service.prefetched.wait()
    assert proxy.counts["secretsmanager.BatchGetSecretValue"] == 1
    assert proxy.counts["secretsmanager.GetSecretValue"] == 0  # the read joined the prefetch
    assert proxy.counts["AmazonSSM.GetParameters"] == 2  # 12 names: 10 + 2
    assert proxy.counts["AmazonSSM.GetParameter"] == 0
    _, headers, body = await running.get("/systemsmanager/parameters/get?name=/pre/11&withDecryption=true")
    assert headers["X-Cache"] == "hit" and json.loads(body)["Parameter"]["Value"] == "p11"


async def test_batch_endpoint_get_and_post(start_service: Factory, moto: str, sm: Any, ssm: Any) -> None:
    sm.create_secret(Name="b1", SecretString="one")
    ssm.put_parameter(Name="/b/p", Value="pv", Type="String")
    running = await start_service(moto)
    status, _, body = await running.get("/sidecar/v1/batch?secretId=b1&secretId=missing&name=/b/p")
    doc = json.loads(body)
    assert status == 200
    assert doc["secrets"]["b1"]["SecretString"] == "one"
    assert doc["parameters"]["/b/p"]["Parameter"]["Value"] == "pv"
    assert doc["errors"]["secrets"]["missing"]["__type"] == "ResourceNotFoundException"
    payload = {"secrets": [{"secretId": "b1", "versionStage": "AWSCURRENT"}], "parameters": ["/b/p"]}
    status, _, body = await running.post("/sidecar/v1/batch", json.dumps(payload).encode())
    assert status == 200 and json.loads(body)["secrets"]["b1"]["SecretString"] == "one"
    assert (await running.post("/sidecar/v1/batch", b"not json"))[0] == 400
    assert (await running.get("/sidecar/v1/batch"))[0] == 400


async def test_resolve_reference(start_service: Factory, moto: str, sm: Any, ssm: Any) -> None:
    from extension.cache.service import ReferenceResolutionError

    sm.create_secret(Name="api", SecretString='{"key":"k-123","n":5}')
    ssm.put_parameter(Name="/api/key", Value="pk", Type="SecureString")
    running = await start_service(moto)
    service = running.service
    assert await service.resolve_reference("secretsmanager", "api") == '{"key":"k-123","n":5}'
    assert await service.resolve_reference("secretsmanager", "api#key") == "k-123"
    assert await service.resolve_reference("secretsmanager", "api#n") == "5"
    assert await service.resolve_reference("ssm", "/api/key") == "pk"
    with pytest.raises(ReferenceResolutionError) as info:
        await service.resolve_reference("secretsmanager", "api#absent")
    assert "k-123" not in str(info.value)
    with pytest.raises(ReferenceResolutionError):
        await service.resolve_reference("secretsmanager", "nope")


async def test_snap_start_skips_secret_prefetch_and_expires_on_first_invoke(
    start_service: Factory, proxy: FaultProxy, sm: Any, ssm: Any
) -> None:
    sm.create_secret(Name="snap", SecretString="s")
    ssm.put_parameter(Name="/snap/p", Value="p", Type="String")
    running = await start_service(
        proxy.url, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start", SIDECAR_PREFETCH="sm:snap,ssm:/snap/p"
    )
    assert proxy.total("secretsmanager.") == 0 and proxy.total("AmazonSSM.") == 1
    running.service.on_invoke()  # first invoke after restore: parameters expire, secrets prefetched now
    for _ in range(1500):  # up to 30 s: a condition, polled
        if running.service.values.peek(CacheKey("secretsmanager", "snap")) is not None:
            break
        await asyncio.sleep(0.02)
    _, headers, _ = await running.get("/secretsmanager/get?secretId=snap")
    assert headers["X-Cache"] == "hit"
    _, headers, _ = await running.get("/systemsmanager/parameters/get?name=/snap/p")
    assert headers["X-Cache"] == "refresh"


async def test_bounded_wait_for_the_prefetch_then_reads_join_it(
    start_service: Factory, proxy: FaultProxy, sm: Any
) -> None:
    # What the fast path does before /register with a prefetch list (app.start_cache): wait for the
    # prefetch at most a bound; past it the fetch stays in flight and a read joins it.
    sm.create_secret(Name="held", SecretString="v")
    proxy.latency_s = 1.5  # every upstream call takes longer than the bound below
    running = await start_service(proxy.url, wait_prefetch=False, SIDECAR_PREFETCH="sm:held")
    assert await running.service.wait_prefetched(0.1) is False
    status, headers, body = await running.get("/secretsmanager/get?secretId=held")
    assert status == 200 and json.loads(body)["SecretString"] == "v" and headers["X-Cache"] == "miss"
    assert proxy.total("secretsmanager.") == 1, proxy.counts  # the read made no call of its own
    assert await running.service.wait_prefetched() is True
