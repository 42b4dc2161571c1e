"""The one place that signs and sends AWS calls (SigV4 with stdlib hmac/hashlib, extension.http client).

botocore is not used in the extension: importing it and building three clients costs ~300 ms and
30-50 MB RSS (docs/architecture.md). The APIs we call are small: Secrets Manager and SSM speak
JSON 1.1 (`X-Amz-Target`), AppConfigData speaks REST-JSON. Every attempt is signed afresh (a freeze
can make an old `X-Amz-Date` too old) and bounded by a timeout; a keep-alive connection that died
while the sandbox was frozen is retried once on a new connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from extension.cache.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from extension.config import AwsSettings
from extension.http.client import (
    ConnectionClosedError,
    HttpClient,
    HttpClientError,
    Origin,
    StaleConnectionError,
)

JSON_11 = "application/x-amz-json-1.1"
REST_JSON = "application/json"
ALGORITHM = "AWS4-HMAC-SHA256"
USER_AGENT = "lambda-sidecar"
CREDENTIALS_MARGIN_S = 300.0  # refresh container credentials this long before they expire
CREDENTIALS_TIMEOUT_S = 2.0

#: service id -> (signing name, host prefix)
SERVICES = {
    "secretsmanager": ("secretsmanager", "secretsmanager"),
    "ssm": ("ssm", "ssm"),
    "appconfigdata": ("appconfig", "appconfigdata"),
    "sts": ("sts", "sts"),
}


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class RestResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


def region_from_arn(identifier: str) -> str | None:
    """`arn:partition:service:REGION:account:...` -> REGION; None when not an ARN."""
    if not identifier.startswith("arn:"):
        return None
    parts = identifier.split(":", 5)
    return parts[3] if len(parts) >= 5 and parts[3] else None


def endpoint_for(aws: AwsSettings, service: str, region: str) -> str:
    """`AWS_ENDPOINT_URL_<SERVICE>` > `AWS_ENDPOINT_URL` > the public regional endpoint."""
    specific = {
        "secretsmanager": aws.endpoint_secrets_manager,
        "ssm": aws.endpoint_ssm,
        "appconfigdata": aws.endpoint_appconfigdata,
        "sts": aws.endpoint_sts,
    }[service]
    override = specific or aws.endpoint_url
    if override:
        return override.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICES[service][1]}.{region}.{suffix}"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _canonical_query(query: str) -> str:
    pairs = []
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    credentials: Credentials,
    now: dt.datetime,
) -> dict[str, str]:
    """Return `headers` plus Host, X-Amz-Date, X-Amz-Security-Token and Authorization (SigV4).

    The query string in `url` must already be URI-encoded the way it is sent."""
    amz_date = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    out = dict(headers)
    out["Host"] = _host(url)
    out["X-Amz-Date"] = amz_date
    if credentials.session_token:
        out["X-Amz-Security-Token"] = credentials.session_token
    signed = {k.lower(): " ".join(v.split()) for k, v in out.items() if k.lower() != "user-agent"}
    names = sorted(signed)
    parts = urlsplit(url)
    canonical = "\n".join(
        [
            method.upper(),
            quote(parts.path or "/", safe="/~"),
            _canonical_query(parts.query),
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + credentials.secret_access_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """AWS error code and message from a JSON 1.1 / REST-JSON error response."""
    code = ""
    message = ""
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        doc = {}
    if isinstance(doc, dict):
        code = str(doc.get("__type") or doc.get("code") or doc.get("Code") or "")
        message = str(doc.get("message") or doc.get("Message") or "")
    if not code:
        code = headers.get("x-amzn-ErrorType", "").split(":", 1)[0]
    code = code.rsplit("#", 1)[-1] or ("InternalFailure" if status >= 500 else "UnknownError")
    return UpstreamError(code, message or f"AWS returned HTTP {status}", status)


class AwsClient:
    """Signed calls to Secrets Manager, SSM and AppConfigData over one pooled HTTP client."""

    def __init__(
        self,
        aws: AwsSettings,
        *,
        max_connections: int = 8,
        credentials_provider: Callable[[], Awaitable[Credentials]] | None = None,
        proxy_for: Callable[[Origin], Origin | None] | None = None,
        proxy_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._aws = aws
        #: Replaces the function's own credentials (an assumed role: cache/sts.py).
        self._credentials_provider = credentials_provider
        self._max_connections = max_connections
        self._proxy_for = proxy_for
        self._proxy_headers = proxy_headers
        self._http: HttpClient | None = None
        self._credentials_lock = asyncio.Lock()
        self._container_credentials: tuple[Credentials, float] | None = None
        self.calls = 0  # upstream HTTP attempts, for tests and counters

    @property
    def default_region(self) -> str:
        return self._aws.region

    async def credentials(self) -> Credentials:
        """Static keys from the environment, else the container credentials provider (SnapStart),
        cached until five minutes before they expire; or those of `credentials_provider`."""
        if self._credentials_provider is not None:
            return await self._credentials_provider()
        aws = self._aws
        if aws.access_key_id and aws.secret_access_key:
            return Credentials(aws.access_key_id, aws.secret_access_key, aws.session_token)
        if not aws.container_credentials_uri:
            raise UpstreamError(
                "MissingAuthenticationTokenException",
                "no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
                403,
            )
        async with self._credentials_lock:
            cached = self._container_credentials
            if cached is not None and cached[1] - time.time() > CREDENTIALS_MARGIN_S:
                return cached[0]
            self._container_credentials = await self._fetch_container_credentials(
                aws.container_credentials_uri
            )
            return self._container_credentials[0]

    async def _fetch_container_credentials(self, uri: str) -> tuple[Credentials, float]:
        headers = {}
        if self._aws.container_authorization_token:
            headers["Authorization"] = self._aws.container_authorization_token
        try:
            resp = await self._client().request("GET", uri, headers=headers, timeout_s=CREDENTIALS_TIMEOUT_S)
            data = resp.body
            if resp.status != 200:
                raise UpstreamError("CredentialsError", f"credentials provider answered {resp.status}", 502)
            doc = json.loads(data)
            expires = dt.datetime.fromisoformat(str(doc.get("Expiration", "")).replace("Z", "+00:00"))
            creds = Credentials(
                str(doc["AccessKeyId"]), str(doc["SecretAccessKey"]), doc.get("Token") or None
            )
        except UpstreamError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout("the container credentials provider did not answer") from exc
        except (HttpClientError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UpstreamUnreachable(
                f"cannot get credentials from the container provider: {type(exc).__name__}"
            ) from exc
        return creds, expires.timestamp()

    def _client(self) -> HttpClient:
        if self._http is None or self._http.closed:
            self._http = HttpClient(
                max_connections=self._max_connections,
                proxy_for=self._proxy_for,
                proxy_headers=self._proxy_headers,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None

    async def json_call(
        self, service: str, target: str, payload: Mapping[str, Any], *, region: str | None, timeout_s: float
    ) -> dict[str, Any]:
        """One JSON 1.1 call (`X-Amz-Target: target`); raises UpstreamError."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": JSON_11, "X-Amz-Target": target}
        resp = await self.request(service, "POST", "/", "", headers, body, region=region, timeout_s=timeout_s)
        try:
            doc = json.loads(resp.body) if resp.body else {}
        except ValueError as exc:
            raise UpstreamUnreachable(f"{service} returned a body that is not JSON") from exc
        if not isinstance(doc, dict):
            raise UpstreamUnreachable(f"{service} returned unexpected JSON")
        return doc

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        region: str | None,
        timeout_s: float,
    ) -> RestResponse:
        """Send one signed request; 2xx -> RestResponse, anything else -> UpstreamError."""
        region = region or self._aws.region
        credentials = await self.credentials()
        url = endpoint_for(self._aws, service, region) + path + (f"?{query}" if query else "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        for attempt in (1, 2):
            signed = sign(
                method,
                url,
                headers,
                body,
                service=SERVICES[service][0],
                region=region,
                credentials=credentials,
                now=dt.datetime.now(dt.UTC),
            )
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self.calls += 1
            try:
                resp = await self._client().request(
                    method,
                    url,
                    headers={"User-Agent": USER_AGENT, **signed},
                    body=body,
                    timeout_s=remaining,
                    new_connection=attempt == 2,
                )
            except (StaleConnectionError, ConnectionClosedError) as exc:
                # Typically a pooled connection that died during a freeze (or a reset on the way):
                # one retry on a fresh connection.
                if attempt == 2:
                    raise UpstreamUnreachable(
                        f"connection to {service} failed: {type(exc).__name__}"
                    ) from exc
                continue
            except TimeoutError as exc:
                raise UpstreamTimeout(f"{service} did not answer within {timeout_s:.3g} s") from exc
            except HttpClientError as exc:
                raise UpstreamUnreachable(f"connection to {service} failed: {type(exc).__name__}") from exc
            if 200 <= resp.status < 300:
                return RestResponse(resp.status, resp.headers, resp.body)
            raise parse_error(resp.status, resp.headers, resp.body)
        raise UpstreamTimeout(f"{service} did not answer within {timeout_s:.3g} s")
