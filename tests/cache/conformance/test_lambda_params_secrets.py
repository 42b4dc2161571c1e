"""Conformance with AWS's Parameters and Secrets Lambda extension, from the answers captured from
the real extension in https://github.com/fedonev/lambda-params-secrets (`data/test-responses.json`,
keyed there by request path; each test cites the keys it reproduces). Our 2773 endpoint answers the
same requests over moto; values differ (other account, dates), the shapes, key order, selectors
and statuses must not. Not reproduced: the binary secret read through the parameter route with
`label=AWSPREVIOUS` (moto's SSM answers HTTP 500 to a label on an `/aws/reference/` name).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from emulator.backends.fault_proxy import Fault, FaultProxy
from tests.cache.conftest import Factory

pytestmark = pytest.mark.integration

PARAMETER_KEYS = [
    "ARN",
    "DataType",
    "LastModifiedDate",
    "Name",
    "Selector",
    "SourceResult",
    "Type",
    "Value",
    "Version",
]
SECRET_KEYS = [
    "ARN",
    "CreatedDate",
    "Name",
    "SecretBinary",
    "SecretString",
    "VersionId",
    "VersionStages",
    "ResultMetadata",
]
BINARY_V1 = b"a string secret value to be saved as binary"
BINARY_V2 = b"a string secret value to be saved as binary updatedVersion!"


def iso_ms(value: str) -> bool:
    """`2022-11-16T08:22:40.362Z`: ISO-8601 UTC with milliseconds, as the extension answers."""
    return len(value) == 24 and value[10] == "T" and value[19] == "." and value.endswith("Z")


@pytest.fixture
def seeded(sm: Any, ssm: Any) -> dict[str, Any]:
    """The fixture of lambda-params-secrets' CDK stack (cdk/lib/*), recreated on moto."""
    prefix = "/lambda-ext-test-param"
    ssm.put_parameter(Name=f"{prefix}/dummy-string", Value="my-string-param-value", Type="String")
    ssm.put_parameter(
        Name=f"{prefix}/dummy-string-list", Value="listval-0,listval-1,listval-2", Type="StringList"
    )
    ssm.put_parameter(
        Name=f"{prefix}/dummy-secure-string", Value="my-secure-string-value", Type="SecureString"
    )
    ssm.label_parameter_version(Name=f"{prefix}/dummy-secure-string", ParameterVersion=1, Labels=["Dev"])
    ssm.put_parameter(
        Name=f"{prefix}/dummy-secure-string",
        Value="my-secure-string-value - 2",
        Type="SecureString",
        Overwrite=True,
    )
    string_secret = sm.create_secret(
        Name="dummy-string-secret", SecretString="an-insecure-string-secret-value"
    )
    first = sm.create_secret(Name="dummy-binary-secret", SecretBinary=BINARY_V1)
    second = sm.put_secret_value(SecretId="dummy-binary-secret", SecretBinary=BINARY_V2)
    return {"string_secret": string_secret, "binary_v1": first, "binary_v2": second}


async def get_doc(running: Any, target: str) -> tuple[int, Any]:
    status, headers, body = await running.get(target)
    if status == 200:
        assert headers["Content-Type"].startswith("application/json")
    return status, json.loads(body)


async def test_string_and_string_list_parameters(start_service: Factory, moto: str, seeded: Any) -> None:
    running = await start_service(moto)
    # "/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2Fdummy-string"
    status, doc = await get_doc(
        running, "/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2Fdummy-string"
    )
    assert status == 200 and list(doc) == ["Parameter", "ResultMetadata"] and doc["ResultMetadata"] == {}
    param = doc["Parameter"]
    assert list(param) == PARAMETER_KEYS
    assert param["Name"] == "/lambda-ext-test-param/dummy-string"
    assert param["ARN"].endswith(":parameter/lambda-ext-test-param/dummy-string")
    assert (param["Type"], param["Value"], param["Version"]) == ("String", "my-string-param-value", 1)
    assert param["DataType"] == "text" and param["Selector"] is None and param["SourceResult"] is None
    assert iso_ms(param["LastModifiedDate"])
    # "/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2Fdummy-string-list"
    status, doc = await get_doc(
        running, "/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2Fdummy-string-list"
    )
    assert status == 200
    assert (doc["Parameter"]["Type"], doc["Parameter"]["Value"]) == (
        "StringList",
        "listval-0,listval-1,listval-2",
    )
    # "...dummy-string-list&version=1" and "...dummy-string&version=1": the selector is echoed
    for name in ("dummy-string-list", "dummy-string"):
        status, doc = await get_doc(
            running, f"/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2F{name}&version=1"
        )
        assert status == 200 and doc["Parameter"]["Selector"] == ":1" and doc["Parameter"]["Version"] == 1


async def test_secure_string_decryption_versions_and_labels(
    start_service: Factory, moto: str, seeded: Any
) -> None:
    running = await start_service(moto)
    base = "/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2Fdummy-secure-string"
    # "...dummy-secure-string&withDecryption=true": the latest version, decrypted
    status, doc = await get_doc(running, base + "&withDecryption=true")
    param = doc["Parameter"]
    assert status == 200 and (param["Type"], param["Value"], param["Version"]) == (
        "SecureString",
        "my-secure-string-value - 2",
        2,
    )
    # "...dummy-secure-string&version=1": without withDecryption the value stays encrypted
    status, doc = await get_doc(running, base + "&version=1")
    assert status == 200 and doc["Parameter"]["Selector"] == ":1"
    assert doc["Parameter"]["Value"] != "my-secure-string-value"  # moto's "ciphertext" embeds it
    # "...dummy-secure-string&label=Dev&withDecryption=true"
    status, doc = await get_doc(running, base + "&label=Dev&withDecryption=true")
    param = doc["Parameter"]
    assert status == 200 and (param["Selector"], param["Value"], param["Version"]) == (
        ":Dev",
        "my-secure-string-value",
        1,
    )


async def test_version_and_label_first_in_the_url_wins(
    start_service: Factory, moto: str, seeded: Any
) -> None:
    # AWS documents that the extension uses the first of `version` and `label` in the URL
    # (https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-integration-lambda-extensions.html).
    running = await start_service(moto)
    base = "/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2Fdummy-secure-string"
    _, doc = await get_doc(running, base + "&label=Dev&version=2&withDecryption=true")
    assert (doc["Parameter"]["Selector"], doc["Parameter"]["Version"]) == (":Dev", 1)
    _, doc = await get_doc(running, base + "&version=2&label=Dev&withDecryption=true")
    assert (doc["Parameter"]["Selector"], doc["Parameter"]["Version"]) == (":2", 2)


async def test_string_secret(start_service: Factory, moto: str, seeded: Any) -> None:
    running = await start_service(moto)
    created = seeded["string_secret"]
    # "/secretsmanager/get?secretId=dummy-string-secret" and "...&versionStage=AWSCURRENT"
    for target in (
        "/secretsmanager/get?secretId=dummy-string-secret",
        "/secretsmanager/get?secretId=dummy-string-secret&versionStage=AWSCURRENT",
    ):
        status, doc = await get_doc(running, target)
        assert status == 200 and list(doc) == SECRET_KEYS
        assert (doc["ARN"], doc["Name"], doc["VersionId"]) == (
            created["ARN"],
            "dummy-string-secret",
            created["VersionId"],
        )
        assert doc["SecretString"] == "an-insecure-string-secret-value" and doc["SecretBinary"] is None
        assert doc["VersionStages"] == ["AWSCURRENT"] and doc["ResultMetadata"] == {}
        assert iso_ms(doc["CreatedDate"])


async def test_binary_secret_stage_and_version(start_service: Factory, moto: str, seeded: Any) -> None:
    running = await start_service(moto)
    v1, v2 = seeded["binary_v1"], seeded["binary_v2"]
    cases = [
        # "/secretsmanager/get?secretId=dummy-binary-secret"
        ("/secretsmanager/get?secretId=dummy-binary-secret", v2, BINARY_V2, ["AWSCURRENT"]),
        # "/secretsmanager/get?secretId=dummy-binary-secret&versionStage=AWSPREVIOUS"
        (
            "/secretsmanager/get?secretId=dummy-binary-secret&versionStage=AWSPREVIOUS",
            v1,
            BINARY_V1,
            ["AWSPREVIOUS"],
        ),
        # "/secretsmanager/get?secretId=dummy-binary-secret&versionId=5ce2760a-..."
        (
            f"/secretsmanager/get?secretId=dummy-binary-secret&versionId={v2['VersionId']}",
            v2,
            BINARY_V2,
            ["AWSCURRENT"],
        ),
    ]
    for target, version, value, stages in cases:
        status, doc = await get_doc(running, target)
        assert status == 200 and list(doc) == SECRET_KEYS, target
        assert doc["SecretString"] is None and base64.b64decode(doc["SecretBinary"]) == value, target
        assert doc["VersionId"] == version["VersionId"] and doc["VersionStages"] == stages, target


async def test_secret_through_the_parameter_route(start_service: Factory, moto: str, seeded: Any) -> None:
    # "/systemsmanager/parameters/get?name=%2Faws%2Freference%2Fsecretsmanager%2Fdummy-string-secret&withDecryption=true"
    running = await start_service(moto)
    status, doc = await get_doc(
        running,
        "/systemsmanager/parameters/get?name=%2Faws%2Freference%2Fsecretsmanager%2Fdummy-string-secret"
        "&withDecryption=true",
    )
    param = doc["Parameter"]
    assert status == 200 and list(param) == PARAMETER_KEYS
    # SSM answers the reference path as Name (as captured); moto answers the secret's name. Both
    # are passed through as SSM gives them.
    assert param["Name"] in ("/aws/reference/secretsmanager/dummy-string-secret", "dummy-string-secret")
    assert param["Value"] == "an-insecure-string-secret-value" and param["Type"] == "SecureString"
    # ARN: the secret's (captured), moto gives a parameter ARN; passed through either way.
    assert param["ARN"] in (
        seeded["string_secret"]["ARN"],
        param["ARN"].split(":parameter/")[0] + ":parameter/dummy-string-secret",
    )


@pytest.mark.parametrize(
    "target",
    [
        "/systemsmanager/parameters/get?name=does-not-exist",
        "/systemsmanager/parameters/get?name=%2Flambda-ext-test-param%2Fdummy-string-list&version=0",
        "/secretsmanager/get?secretId=dummy-string-secret&versionStage=DOESNOTEXIST",
    ],
)
async def test_errors_are_400(start_service: Factory, proxy: FaultProxy, seeded: Any, target: str) -> None:
    # The three error keys of test-responses.json: the extension answers 400. CHOICE
    # (extension/cache/README.md): our body is `{"__type", "message"}` with the AWS error, where the extension
    # answers a generic text; the status is the same.
    running = await start_service(proxy.url)
    if "secretsmanager" in target:
        # moto answers 404 where Secrets Manager answers 400: the proxy gives AWS's answer.
        proxy.always(
            Fault.error(
                400,
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret value for staging label: DOESNOTEXIST",
            )
        )
    status, _, body = await running.get(target)
    doc = json.loads(body)
    assert status == 400 and doc["__type"] and doc["message"]
