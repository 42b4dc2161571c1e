"""Our SigV4 signer against botocore's (the reference implementation), at a fixed time."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from extension.cache.aws import Credentials, endpoint_for, parse_error, region_from_arn, sign
from extension.config import AwsSettings

NOW = dt.datetime(2024, 5, 17, 12, 34, 56, tzinfo=dt.UTC)


def botocore_authorization(
    method: str, url: str, headers: dict[str, str], body: bytes, service: str, region: str, token: str | None
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    auth = SigV4Auth(
        BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), service, region
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        auth.add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEXAMPLE//session+token="])
@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "service", "region"),
    [
        (
            "POST",
            "https://secretsmanager.eu-west-1.amazonaws.com/",
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"},
            b'{"SecretId":"prod/db"}',
            "secretsmanager",
            "eu-west-1",
        ),
        (
            "POST",
            "http://127.0.0.1:5123/",
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter"},
            b'{"Name":"/a/b","WithDecryption":true}',
            "ssm",
            "us-east-1",
        ),
        (
            "GET",
            "https://appconfigdata.us-west-2.amazonaws.com/configuration?configuration_token=AYADe%2Fabc%3D%3D",
            {},
            b"",
            "appconfig",
            "us-west-2",
        ),
        (
            "POST",
            "https://appconfigdata.us-west-2.amazonaws.com/configurationsessions",
            {"Content-Type": "application/json"},
            b'{"ApplicationIdentifier":"app"}',
            "appconfig",
            "us-west-2",
        ),
    ],
)
def test_signature_matches_botocore(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    service: str,
    region: str,
    token: str | None,
) -> None:
    ours = sign(
        method,
        url,
        headers,
        body,
        service=service,
        region=region,
        credentials=Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
        now=NOW,
    )
    reference = botocore_authorization(
        method, url, {**headers, "Host": ours["Host"]}, body, service, region, token
    )
    assert ours["Authorization"] == reference["Authorization"]
    assert ours["X-Amz-Date"] == reference["X-Amz-Date"] == "20240517T123456Z"
    assert ours.get("X-Amz-Security-Token") == reference.get("X-Amz-Security-Token")


def test_signature_changes_with_body_and_key() -> None:
    creds = Credentials("AKID", "secret")
    base = sign(
        "POST", "https://x.example/", {}, b"a", service="ssm", region="us-east-1", credentials=creds, now=NOW
    )
    other_body = sign(
        "POST", "https://x.example/", {}, b"b", service="ssm", region="us-east-1", credentials=creds, now=NOW
    )
    other_key = sign(
        "POST",
        "https://x.example/",
        {},
        b"a",
        service="ssm",
        region="us-east-1",
        credentials=Credentials("AKID", "s2"),
        now=NOW,
    )
    assert len({base["Authorization"], other_body["Authorization"], other_key["Authorization"]}) == 3


def _aws(**overrides: str | None) -> AwsSettings:
    values: dict[str, str | None] = {
        "region": "us-east-1",
        "access_key_id": "a",
        "secret_access_key": "b",
        "session_token": None,
        "endpoint_url": None,
        "endpoint_secrets_manager": None,
        "endpoint_ssm": None,
        "endpoint_appconfigdata": None,
    }
    values.update(overrides)
    return AwsSettings(**values)  # type: ignore[arg-type]


def test_endpoint_precedence_and_region_from_arn() -> None:
    assert (
        endpoint_for(_aws(), "appconfigdata", "eu-central-1")
        == "https://appconfigdata.eu-central-1.amazonaws.com"
    )
    assert (
        endpoint_for(_aws(), "secretsmanager", "cn-north-1")
        == "https://secretsmanager.cn-north-1.amazonaws.com.cn"
    )
    assert endpoint_for(_aws(endpoint_url="http://g:1/"), "ssm", "x") == "http://g:1"
    assert (
        endpoint_for(_aws(endpoint_url="http://g:1", endpoint_ssm="http://s:2"), "ssm", "x") == "http://s:2"
    )
    assert (
        endpoint_for(_aws(endpoint_url="http://g:1", endpoint_ssm="http://s:2"), "secretsmanager", "x")
        == "http://g:1"
    )
    assert region_from_arn("arn:aws:secretsmanager:eu-west-3:123456789012:secret:db-AbCdEf") == "eu-west-3"
    assert region_from_arn("arn:aws:ssm:ap-south-1:123456789012:parameter/a/b") == "ap-south-1"
    assert region_from_arn("prod/db") is None


def test_error_parsing_forms() -> None:
    err = parse_error(400, {}, b'{"__type":"com.amazonaws.x#ResourceNotFoundException","Message":"gone"}')
    assert (err.code, err.message, err.status, err.not_found, err.retryable) == (
        "ResourceNotFoundException",
        "gone",
        400,
        True,
        False,
    )
    err = parse_error(429, {"x-amzn-ErrorType": "ThrottlingException:http://internal"}, b"")
    assert err.code == "ThrottlingException" and err.retryable and err.kind == "throttled"
    err = parse_error(503, {}, b"<html>")
    assert err.code == "InternalFailure" and err.retryable
