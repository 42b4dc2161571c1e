"""The Host header the client sends is the one SigV4 signed (moto does not check signatures, so
a mismatch would only show against real AWS endpoints)."""

from __future__ import annotations

import datetime as dt

import pytest

from extension.cache.aws import Credentials, sign
from extension.http.client import build_head, split_url


@pytest.mark.parametrize(
    "url",
    [
        "https://secretsmanager.eu-west-1.amazonaws.com/",
        "https://ssm.us-east-1.amazonaws.com:443/",
        "http://127.0.0.1:5000/",
        "http://[::1]:4566/configuration?token=x",
        "https://vpce-1.ssm.us-east-1.vpce.amazonaws.com:8443/",
    ],
)
def test_sent_host_is_the_signed_host(url: str) -> None:
    signed = sign(
        "POST",
        url,
        {"Content-Type": "application/x-amz-json-1.1"},
        b"{}",
        service="ssm",
        region="us-east-1",
        credentials=Credentials("AKID", "secret"),
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    origin, target = split_url(url)
    head = build_head("POST", target, origin.host_header, signed, 2).decode()
    sent = [line for line in head.split("\r\n") if line.lower().startswith("host:")]
    assert sent == [f"Host: {signed['Host']}"]
