"""Credentials: static keys, or the container credentials provider used by SnapStart functions."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp import web

from extension.cache.aws import AwsClient
from extension.cache.errors import UpstreamError
from extension.config import from_env


async def test_container_credentials_fetched_with_token_and_cached() -> None:
    seen: list[str | None] = []
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def provider(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response(
            {"AccessKeyId": "ASIA1", "SecretAccessKey": "sk", "Token": "st", "Expiration": expires}
        )

    app = web.Application()
    app.router.add_get("/creds", provider)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = from_env(
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{port}/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token",
        }
    )
    client = AwsClient(settings.aws)
    try:
        first = await client.credentials()
        second = await client.credentials()
        assert (first.access_key_id, first.secret_access_key, first.session_token) == ("ASIA1", "sk", "st")
        assert second == first and seen == ["container-token"]
    finally:
        await client.close()
        await runner.cleanup()


async def test_no_credentials_is_a_clear_error() -> None:
    client = AwsClient(from_env({}).aws._replace(access_key_id=None, secret_access_key=None))
    with pytest.raises(UpstreamError) as info:
        await client.credentials()
    assert info.value.code == "MissingAuthenticationTokenException"
    assert "AWS_ACCESS_KEY_ID" in info.value.message
