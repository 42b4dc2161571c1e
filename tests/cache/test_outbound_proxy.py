"""Outbound proxies for the cache's AWS calls, through a real forwarding proxy on loopback:
HTTP_PROXY for every AWS call, and AppConfig's own AWS_APPCONFIG_EXTENSION_PROXY_URL /
_PROXY_HEADERS for the AppConfig calls (and the AssumeRole of _ROLE_ARN). The AWS endpoints are
given as `*.test` names that never resolve: only the proxy maps them to the loopback backends, so
a call can only succeed through it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from emulator.backends.appconfig_server import AppConfigDataServer
from tests.cache.conftest import Factory

pytestmark = pytest.mark.integration

PATH = "/applications/shop/environments/prod/configurations/flags"


class ForwardProxy:
    """A plain-http forwarding proxy (absolute-form requests, RFC 9112 §3.2.2) that records each
    request's target and headers and maps `*.test` names to 127.0.0.1."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                self.seen.append((target, headers))
                body = await reader.readexactly(int(headers.get("Content-Length", "0")))
                url = urlsplit(target)
                host = "127.0.0.1" if (url.hostname or "").endswith(".test") else url.hostname or ""
                up_reader, up_writer = await asyncio.open_connection(host, url.port or 80)
                forwarded = {k: v for k, v in headers.items() if not k.lower().startswith("proxy-")}
                path = url.path + (f"?{url.query}" if url.query else "")
                request = f"{method} {path} {version}\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in forwarded.items()
                )
                up_writer.write(request.encode("latin-1") + b"\r\n" + body)
                await up_writer.drain()
                answer = await up_reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(x.split(b":")[1])
                        for x in answer.split(b"\r\n")
                        if x.lower().startswith(b"content-length")
                    ),
                    0,
                )
                answer += await up_reader.readexactly(length)
                up_writer.close()
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def targets(self, host: str) -> list[tuple[str, dict[str, str]]]:
        return [(t, h) for t, h in self.seen if urlsplit(t).hostname == host]


@pytest.fixture
async def forward_proxy() -> AsyncIterator[ForwardProxy]:
    proxy = ForwardProxy()
    proxy._server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
    yield proxy
    proxy._server.close()


@pytest.fixture
def appconfig() -> Iterator[AppConfigDataServer]:
    with AppConfigDataServer() as server:
        server.deploy("shop", "prod", "flags", '{"f":{"enabled":true}}')
        yield server


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


async def test_http_proxy_carries_every_aws_call(
    start_service: Factory, moto: str, sm: Any, appconfig: AppConfigDataServer, forward_proxy: ForwardProxy
) -> None:
    sm.create_secret(Name="via-proxy", SecretString="v")
    running = await start_service(
        f"http://aws.test:{port_of(moto)}",
        AWS_ENDPOINT_URL_APPCONFIGDATA=f"http://appconfigdata.test:{port_of(appconfig.url)}",
        HTTP_PROXY=forward_proxy.url,
    )
    status, _, body = await running.get("/secretsmanager/get?secretId=via-proxy")
    assert status == 200 and json.loads(body)["SecretString"] == "v"
    status, _, _ = await running.get(PATH, port="appconfig", token=None)
    assert status == 200
    assert forward_proxy.targets("aws.test") and forward_proxy.targets("appconfigdata.test")
    assert all("Proxy-Authorization" not in h for _, h in forward_proxy.seen)


async def test_appconfig_proxy_url_and_headers(
    start_service: Factory, moto: str, sm: Any, appconfig: AppConfigDataServer, forward_proxy: ForwardProxy
) -> None:
    sm.create_secret(Name="direct", SecretString="v")
    running = await start_service(
        moto,  # Secrets Manager on loopback, no HTTP_PROXY: direct
        AWS_ENDPOINT_URL_APPCONFIGDATA=f"http://appconfigdata.test:{port_of(appconfig.url)}",
        AWS_ENDPOINT_URL_STS=f"http://sts.test:{port_of(moto)}",
        AWS_APPCONFIG_EXTENSION_ROLE_ARN="arn:aws:iam::222222222222:role/appconfig-reader",
        AWS_APPCONFIG_EXTENSION_PROXY_URL=forward_proxy.url,
        AWS_APPCONFIG_EXTENSION_PROXY_HEADERS="Proxy-Authorization=Basic dXNlcjpwdw==,X-Proxy-Tag=lambda",
    )
    status, _, body = await running.get(PATH, port="appconfig", token=None)
    assert status == 200 and json.loads(body) == {"f": {"enabled": True}}
    assert (await running.get("/secretsmanager/get?secretId=direct"))[0] == 200
    appconfig_calls = forward_proxy.targets("appconfigdata.test")
    sts_calls = forward_proxy.targets("sts.test")
    assert {urlsplit(t).path for t, _ in appconfig_calls} == {"/configurationsessions", "/configuration"}
    assert len(sts_calls) == 1  # the AssumeRole went through AppConfig's proxy too
    for _, headers in appconfig_calls + sts_calls:
        assert headers["Proxy-Authorization"] == "Basic dXNlcjpwdw==" and headers["X-Proxy-Tag"] == "lambda"
    assert len(forward_proxy.seen) == len(appconfig_calls) + len(sts_calls)  # Secrets Manager: direct
    assert appconfig.signed_with and all(c.startswith("ASIA") for c in appconfig.signed_with)


async def test_proxy_headers_go_in_the_connect_request() -> None:
    # https origins go through a CONNECT tunnel: the proxy's headers belong to the CONNECT request
    # (RFC 9110 §9.3.6), never to the request inside the tunnel. This proxy records and refuses.
    from extension.http.client import HttpClient, Origin, ProxyError

    heads: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    through = Origin("http", "127.0.0.1", server.sockets[0].getsockname()[1])
    client = HttpClient(proxy_for=lambda _: through, proxy_headers={"Proxy-Authorization": "Basic abc"})
    try:
        with pytest.raises(ProxyError) as info:
            await client.request(
                "GET", "https://appconfigdata.eu-west-1.amazonaws.com/configuration", timeout_s=10
            )
    finally:
        await client.close()
        server.close()
    assert info.value.status == 407
    assert heads and heads[0].startswith(b"CONNECT appconfigdata.eu-west-1.amazonaws.com:443 HTTP/1.1\r\n")
    assert b"\r\nProxy-Authorization: Basic abc\r\n" in heads[0]
