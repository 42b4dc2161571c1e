"""AppConfig of another account (AWS_APPCONFIG_EXTENSION_ROLE_*) and region
(AWS_APPCONFIG_EXTENSION_SERVICE_REGION): STS AssumeRole against moto's STS, signed by our own
signer; the AppConfig data-plane test server records which credentials and region signed each call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

import boto3
import pytest

from emulator.backends.appconfig_server import AppConfigDataServer
from emulator.backends.background_http import BackgroundHttpServer
from emulator.backends.fault_proxy import Fault, FaultProxy
from emulator.backends.moto_server import TEST_CREDENTIALS
from extension.cache.sts import REFRESH_MARGIN_S, parse_assume_role
from tests.cache.conftest import Factory

pytestmark = pytest.mark.integration

PATH = "/applications/shop/environments/prod/configurations/flags"
ROLE = "arn:aws:iam::222222222222:role/appconfig-reader"


@pytest.fixture
def appconfig() -> Iterator[AppConfigDataServer]:
    with AppConfigDataServer() as server:
        server.deploy("shop", "prod", "flags", '{"f":{"enabled":true}}')
        yield server


def role_env(appconfig: AppConfigDataServer, moto: str, **extra: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_APPCONFIGDATA": appconfig.url,
        "AWS_ENDPOINT_URL_STS": moto,
        "AWS_APPCONFIG_EXTENSION_ROLE_ARN": ROLE,
        "AWS_APPCONFIG_EXTENSION_ROLE_SESSION_NAME": "reader-session",
        "AWS_APPCONFIG_EXTENSION_ROLE_EXTERNAL_ID": "ext-123",
        **extra,
    }


def caller_arn(moto: str, access_key: str, secret: str, token: str | None) -> str:
    sts = boto3.client(
        "sts",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )
    arn: str = sts.get_caller_identity()["Arn"]
    return arn


async def test_appconfig_is_read_with_the_assumed_role_only(
    start_service: Factory, moto: str, appconfig: AppConfigDataServer
) -> None:
    running = await start_service(moto, **role_env(appconfig, moto))
    status, _, body = await running.get(PATH, port="appconfig", token=None)
    assert status == 200 and json.loads(body) == {"f": {"enabled": True}}
    role = running.service.assumed_role
    assert role is not None and role.assumed == 1
    creds = await role.get()
    assert creds.access_key_id != TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    # every AppConfig call was signed with the role's key, none with the function's own
    assert appconfig.signed_with and all(
        c.startswith(creds.access_key_id + "/") for c in appconfig.signed_with
    )
    # the session is the role's, with the configured session name (moto's GetCallerIdentity)
    arn = caller_arn(moto, creds.access_key_id, creds.secret_access_key, creds.session_token)
    assert arn.endswith(":assumed-role/appconfig-reader/reader-session"), arn
    # Secrets Manager and SSM keep the function's own credentials
    assert running.service.client._credentials_provider is None


async def test_role_credentials_are_refreshed_before_expiry(
    start_service: Factory, moto: str, appconfig: AppConfigDataServer
) -> None:
    running = await start_service(moto, **role_env(appconfig, moto))
    await running.get(PATH, port="appconfig", token=None)
    role = running.service.assumed_role
    assert role is not None
    first = await role.get()
    running.clock.now += 3600 - REFRESH_MARGIN_S - 60  # still valid for more than the margin
    assert (await role.get()) == first and role.assumed == 1
    running.clock.now += 120  # now within the margin: the next AppConfig poll assumes again
    status, _, _ = await running.get(PATH, port="appconfig", token=None)
    assert status == 200 and role.assumed == 2
    # moto dates the new credentials by the real clock, so they are not read back through `get()`
    # here (the fake clock would find them inside the margin again)
    assert not appconfig.signed_with[-1].startswith(first.access_key_id + "/")
    assert appconfig.signed_with[-1].startswith("ASIA")  # an STS-issued key, not the function's


async def test_failed_assume_role_never_falls_back_to_own_credentials(
    start_service: Factory, moto: str, appconfig: AppConfigDataServer
) -> None:
    with FaultProxy(moto) as sts:
        sts.always(Fault.error(403, "AccessDenied", "not authorized to perform sts:AssumeRole"))
        running = await start_service(moto, **role_env(appconfig, moto, AWS_ENDPOINT_URL_STS=sts.url))
        status, headers, body = await running.get(PATH, port="appconfig", token=None)
    assert status == 502 and headers["Content-Type"].startswith("text/plain")
    assert ROLE.encode() in body and b"ext-123" not in body
    assert appconfig.counts == {}  # AppConfig was never called, with any credentials


async def test_service_region_signs_and_routes_appconfig(
    start_service: Factory, moto: str, appconfig: AppConfigDataServer
) -> None:
    running = await start_service(
        moto,
        AWS_ENDPOINT_URL_APPCONFIGDATA=appconfig.url,
        AWS_APPCONFIG_EXTENSION_SERVICE_REGION="eu-west-1",
    )
    assert (await running.get(PATH, port="appconfig", token=None))[0] == 200
    assert appconfig.signed_with and all("/eu-west-1/appconfig/" in c for c in appconfig.signed_with)


def test_parse_assume_role_answer() -> None:
    body = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
      <AssumeRoleResult><Credentials>
        <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey>
        <SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>
      </Credentials></AssumeRoleResult></AssumeRoleResponse>"""
    creds, expires = parse_assume_role(body)
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == ("ASIAEXAMPLE", "s", "t")
    assert expires == 1893456000.0


@pytest.mark.parametrize(
    "body",
    [b"not xml", b"<AssumeRoleResponse/>", b"<a><AssumeRoleResult><Credentials/></AssumeRoleResult></a>"],
)
def test_parse_assume_role_rejects_bad_answers(body: bytes) -> None:
    from extension.cache.errors import UpstreamError

    with pytest.raises(UpstreamError):
        parse_assume_role(body)


class RecordingSts(BackgroundHttpServer):
    """Answers AssumeRole as STS documents it and records each request's form and signature."""

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.authorizations: list[str] = []
        super().__init__()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.forms.append(parse_qs(body.decode()))
                server.authorizations.append(self.headers.get("Authorization", ""))
                answer = (
                    b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
                    b"<Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
                    b"<SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
                    b"</Credentials></AssumeRoleResult></AssumeRoleResponse>"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler


async def test_assume_role_request_carries_role_session_and_external_id(
    start_service: Factory, moto: str, appconfig: AppConfigDataServer
) -> None:
    with RecordingSts() as sts:
        running = await start_service(
            moto,
            **role_env(
                appconfig,
                moto,
                AWS_ENDPOINT_URL_STS=sts.url,
                AWS_APPCONFIG_EXTENSION_SERVICE_REGION="eu-west-1",
            ),
        )
        assert (await running.get(PATH, port="appconfig", token=None))[0] == 200
    form = sts.forms[0]
    assert form["Action"] == ["AssumeRole"] and form["Version"] == ["2011-06-15"]
    assert form["RoleArn"] == [ROLE] and form["RoleSessionName"] == ["reader-session"]
    assert form["ExternalId"] == ["ext-123"] and form["DurationSeconds"] == ["3600"]
    own_key = TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    assert f"Credential={own_key}/" in sts.authorizations[0] and "/eu-west-1/sts/" in sts.authorizations[0]
    assert all(c.startswith("ASIAROLE/") for c in appconfig.signed_with)


def test_session_name_defaults_to_the_function_name() -> None:
    from extension.config import from_env

    role = from_env(
        {"AWS_APPCONFIG_EXTENSION_ROLE_ARN": ROLE, "AWS_LAMBDA_FUNCTION_NAME": "my function"}
    ).cache.appconfig_role
    assert role is not None and role.session_name == "my-function" and role.external_id is None
    assert from_env({}).cache.appconfig_role is None
