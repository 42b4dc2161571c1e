"""Credentials of an assumed role (STS AssumeRole), for reading AppConfig of another account.

The AWS AppConfig agent reads another account's configuration with the role named in
`AWS_APPCONFIG_EXTENSION_ROLE_ARN` (optionally `..._ROLE_EXTERNAL_ID`, `..._ROLE_SESSION_NAME`),
and with a role set reads only that account
(https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-integration-lambda-extensions-config.html):
so a failed AssumeRole is an error, never a fallback to the function's own credentials.

AssumeRole speaks the AWS Query protocol (form-encoded request, XML answer,
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html); the call is signed with
the function's own credentials by `AwsClient` (our SigV4 signer), and the answer parsed with the
standard library's XML parser. The credentials are kept until `REFRESH_MARGIN_S` before they
expire, then assumed again on the next call that needs them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlencode

from extension.cache.aws import AwsClient, Credentials
from extension.cache.errors import UpstreamError, UpstreamUnreachable
from extension.config import AssumedRole

STS_VERSION = "2011-06-15"
DURATION_S = 3600  # AssumeRole's default; every role allows at least this
REFRESH_MARGIN_S = 300.0  # assume again this long before the credentials expire
TIMEOUT_S = 3.0
_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def parse_assume_role(body: bytes) -> tuple[Credentials, float]:
    """(credentials, expiry as epoch seconds) from an AssumeRole answer."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise UpstreamUnreachable("STS returned an answer that is not XML") from exc
    creds = root.find(f"{_NS}AssumeRoleResult/{_NS}Credentials")
    if creds is None:  # some emulators answer without the namespace
        creds = root.find("AssumeRoleResult/Credentials")
        ns = ""
    else:
        ns = _NS
    if creds is None:
        raise UpstreamUnreachable("STS answer has no Credentials")
    fields = {
        name: creds.findtext(f"{ns}{name}")
        for name in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    }
    key, secret, token, expiration = (
        fields[n] for n in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    )
    if not key or not secret or not expiration:
        raise UpstreamUnreachable("STS answer has incomplete Credentials")
    try:
        expires = dt.datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise UpstreamUnreachable("STS answer has an unreadable Expiration") from exc
    return Credentials(key, secret, token or None), expires


class AssumedRoleCredentials:
    """`get()` -> the role's credentials, assumed with `sts_client` (the function's own
    credentials) when there are none yet or they expire within REFRESH_MARGIN_S."""

    def __init__(
        self,
        sts_client: AwsClient,
        role: AssumedRole,
        *,
        region: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sts = sts_client
        self._role = role
        self._region = region
        self._clock = clock
        self._lock = asyncio.Lock()
        self._current: tuple[Credentials, float] | None = None
        self.assumed = 0  # AssumeRole calls that succeeded, for tests and counters

    async def get(self) -> Credentials:
        async with self._lock:
            current = self._current
            if current is not None and current[1] - self._clock() > REFRESH_MARGIN_S:
                return current[0]
            self._current = await self._assume()
            self.assumed += 1
            return self._current[0]

    async def _assume(self) -> tuple[Credentials, float]:
        form = {
            "Action": "AssumeRole",
            "Version": STS_VERSION,
            "RoleArn": self._role.arn,
            "RoleSessionName": self._role.session_name,
            "DurationSeconds": str(DURATION_S),
        }
        if self._role.external_id:
            form["ExternalId"] = self._role.external_id
        try:
            resp = await self._sts.request(
                "sts",
                "POST",
                "/",
                "",
                {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                urlencode(form).encode(),
                region=self._region,
                timeout_s=TIMEOUT_S,
            )
        except UpstreamError as err:
            # Query-protocol errors are XML: keep the status, say which role could not be assumed.
            raise UpstreamError(
                "AssumeRoleFailed",
                f"cannot assume AWS_APPCONFIG_EXTENSION_ROLE_ARN {self._role.arn}: "
                f"{err.code} (HTTP {err.status})",
                err.status if err.status < 500 else 502,
            ) from None
        return parse_assume_role(resp.body)
