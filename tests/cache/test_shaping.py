"""Response shaping (AWS agent bodies), flag filtering, key building (pure)."""

from __future__ import annotations

import json

import pytest

from extension.cache.errors import UpstreamError
from extension.cache.flags import filter_flags
from extension.cache.providers.entries import SSM, CacheKey, iso_ms
from extension.cache.providers.secrets_manager import shape_secret
from extension.cache.providers.ssm import request_name, shape_parameter
from extension.cache.server import (
    BadRequest,
    appconfig_status,
    first_selector,
    parameter_key,
    secret_key,
    split_query,
)


def test_secret_body_has_agent_fields_in_order() -> None:
    payload = shape_secret(
        {
            "ARN": "arn:aws:secretsmanager:us-east-1:1:secret:db-x",
            "Name": "db",
            "VersionId": "v1",
            "SecretString": "s",
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 1700000000.5,
        }
    )
    assert list(json.loads(payload.body)) == [
        "ARN",
        "CreatedDate",
        "Name",
        "SecretBinary",
        "SecretString",
        "VersionId",
        "VersionStages",
        "ResultMetadata",
    ]
    assert payload.doc["CreatedDate"] == "2023-11-14T22:13:20.500Z"
    assert payload.doc["SecretBinary"] is None and payload.doc["ResultMetadata"] == {}
    assert payload.version == "v1"


def test_incomplete_secret_is_a_parse_failure() -> None:
    with pytest.raises(UpstreamError) as info:
        shape_secret({"Name": "x"})
    assert info.value.status == 502


def test_parameter_body_shape() -> None:
    payload = shape_parameter(
        {
            "Name": "/a",
            "Type": "String",
            "Value": "v",
            "Version": 3,
            "LastModifiedDate": 0,
            "ARN": "arn",
            "DataType": "text",
        }
    )
    assert json.loads(payload.body) == {
        "Parameter": {
            "ARN": "arn",
            "DataType": "text",
            "LastModifiedDate": "1970-01-01T00:00:00.000Z",
            "Name": "/a",
            "Selector": None,
            "SourceResult": None,
            "Type": "String",
            "Value": "v",
            "Version": 3,
        },
        "ResultMetadata": {},
    }


def test_iso_ms_passes_strings_through() -> None:
    assert iso_ms("2024-01-01T00:00:00.000Z") == "2024-01-01T00:00:00.000Z"
    assert iso_ms(None) is None


def test_parameter_version_wins_over_label() -> None:
    key = parameter_key({"name": "/a", "version": "2", "label": "prod", "withDecryption": "true"})
    assert key == CacheKey(SSM, "/a", "2", "", True)
    assert request_name(key) == "/a:2"
    assert request_name(parameter_key({"name": "/a", "label": "prod"})) == "/a:prod"
    with pytest.raises(BadRequest, match="withDecryption"):
        parameter_key({"name": "/a", "withDecryption": "maybe"})
    with pytest.raises(BadRequest, match="name"):
        parameter_key({})
    with pytest.raises(BadRequest, match="secretId"):
        secret_key("", {})


def test_split_query_keeps_last_and_all() -> None:
    # A repeated parameter: the last one wins, as in the Secrets Manager Agent's parse.rs.
    last, every = split_query("flag=a&flag=b&secretId=x%2Fy&empty=")
    assert last == {"flag": "b", "secretId": "x/y", "empty": ""}
    assert every["flag"] == ["a", "b"]


def test_first_of_version_and_label_wins() -> None:
    assert first_selector("name=/a&label=X&version=1") == "label"
    assert first_selector("name=/a&version=1&label=X") == "version"
    assert first_selector("name=/a") is None
    params = {"name": "/a", "version": "1", "label": "X"}
    assert request_name(parameter_key(params, first_selector("name=/a&label=X&version=1"))) == "/a:X"
    assert request_name(parameter_key(params, first_selector("version=1&name=/a&label=X"))) == "/a:1"


FLAGS = json.dumps(
    {"ui": {"enabled": True}, "beta": {"enabled": False, "level": 2}, "x": {"enabled": True}}
).encode()


def test_filter_flags_one_and_many() -> None:
    assert json.loads(filter_flags(FLAGS, ["beta"])) == {"enabled": False, "level": 2}
    assert json.loads(filter_flags(FLAGS, ["ui", "beta", "ui"])) == {
        "ui": {"enabled": True},
        "beta": {"enabled": False, "level": 2},
    }
    with pytest.raises(KeyError):
        filter_flags(FLAGS, ["ui", "nope"])
    with pytest.raises(ValueError):
        filter_flags(b"plain text", ["ui"])
    with pytest.raises(ValueError):
        filter_flags(b"[1]", ["ui"])


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("BadRequestException", 400, 400),
        ("ResourceNotFoundException", 404, 404),
        ("TimeoutError", 504, 504),
        ("ThrottlingException", 429, 502),
        ("InternalServerException", 500, 502),
        ("ConnectionError", 502, 502),
        ("InternalFailure", 500, 500),
    ],
)
def test_appconfig_error_statuses(code: str, status: int, expected: int) -> None:
    assert appconfig_status(UpstreamError(code, "m", status)) == expected
