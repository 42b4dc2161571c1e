"""The two local HTTP endpoints: 2773 (AWS Parameters and Secrets extension + SMA compatible) and
2772 (AppConfig agent compatible): handlers for `extension.http.server`, which serves them on the
sockets bound before register.

Routing is done by hand on the raw path: a secret name may contain `/` (and `%2F` in `/v1/...`),
and the order of checks on 2773 is the one of AWS's Secrets Manager Agent
(https://github.com/aws/aws-secretsmanager-agent, `server.rs`): X-Forwarded-For refused (400),
then the token (403), then the method (405), then the path (404), then the query parameters
(400 `unknown parameter: NAME`); `/ping` skips the first two. Every handler answers; nothing
raises out of here, errors never echo the token or a value, and a bug becomes a 500
`InternalFailure` without a traceback in the body.

The token is compared as the bytes received: a token header that is not valid UTF-8 is simply a
wrong token (403, counted), never a decoding failure (issue 18).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from extension.cache.errors import UpstreamError
from extension.cache.flags import filter_flags
from extension.cache.json_key import JsonKeyError, json_key_value
from extension.cache.providers.entries import SECRETS, SSM, CacheKey, ConfigPayload, Payload
from extension.cache.store import Lookup
from extension.config import AppConfigTarget
from extension.http.messages import Request, Response
from extension.log import get_logger
from extension.stats import Stats

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
#: The Secrets Manager Agent's default alternate token header (its `ssrf_headers` setting).
ALT_TOKEN_HEADER = "X-Vault-Token"
#: Requests handled at once per port; beyond it the endpoint answers 429 TooManyRequestsException.
#: A fixed inbound limit of ours: PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS is, as AWS documents
#: it, the connection limit of the HTTP clients that call AWS (see `CacheService`), not this.
MAX_INFLIGHT = 128
#: Largest request body accepted (only the batch POST has one); beyond it, 413.
MAX_BODY = 256 * 1024
MAX_BATCH_ITEMS = 50
VERSION = "lambda-sidecar/0.1.0"

_log = get_logger("cache")
_CONFIG_PATH = re.compile(r"^/applications/([^/]+)/environments/([^/]+)/configurations/([^/]+)/?$")
_PARAM_PATHS = ("/systemsmanager/parameters/get", "/systemsmanager/parameters/get/")
_BOOLS = {"true": True, "1": True, "false": False, "0": False}
#: Query parameters each 2773 route accepts (names case-sensitive, as the AWS agents read them);
#: any other is refused with 400 `unknown parameter: NAME`, as the Secrets Manager Agent does
#: (`parse.rs`), so a typo such as `versionstage=` fails loudly. `jsonKey` is our addition.
SECRET_QUERY_PARAMS = frozenset({"secretId", "versionId", "versionStage", "refreshNow", "jsonKey"})
SECRET_PATH_PARAMS = frozenset({"versionId", "versionStage", "refreshNow", "jsonKey"})
PARAMETER_PARAMS = frozenset({"name", "version", "label", "withDecryption", "refreshNow"})
BATCH_PARAMS = frozenset({"secretId", "name", "withDecryption"})
#: Every parameter some 2773 route reads.
KNOWN_PARAMS = SECRET_QUERY_PARAMS | PARAMETER_PARAMS | BATCH_PARAMS


class Backend(Protocol):
    """What the endpoints need from the cache service."""

    async def lookup(self, key: CacheKey, *, force: bool) -> Lookup[Payload]: ...

    async def lookup_config(self, target: AppConfigTarget, *, force: bool) -> Lookup[ConfigPayload]: ...


class BadRequest(Exception):
    """A request we answer with 400 (message is safe to echo: parameter names only)."""


def json_response(status: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
    return Response.json(doc, status, headers)


def error_response(status: int, code: str, message: str) -> Response:
    return json_response(status, {"__type": code, "message": message})


def cache_headers(found: Lookup[Any]) -> dict[str, str]:
    return {"X-Cache": found.status, "Age": str(int(found.age_s))}


def parse_bool(params: dict[str, str], name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    value = _BOOLS.get(raw.lower())
    if value is None:
        raise BadRequest(f"invalid {name} value")
    return value


def split_query(query_string: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The last value of each parameter (a repeated parameter: the last one wins, as in the
    Secrets Manager Agent's `parse.rs`) and all values in order."""
    last: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        last[name] = value
        every.setdefault(name, []).append(value)
    return last, every


def check_known(every: dict[str, list[str]], known: frozenset[str]) -> None:
    """400 `unknown parameter: NAME` for the first parameter the route does not read."""
    for name in every:
        if name not in known:
            raise BadRequest(f"unknown parameter: {name[:100]}")


def first_selector(query_string: str) -> str | None:
    """`version` or `label`, whichever comes first in the URL: AWS's Parameters and Secrets
    extension reads the first of the two (the parameter selector of GetParameter,
    https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-integration-lambda-extensions.html)."""
    for name, _ in parse_qsl(query_string, keep_blank_values=True):
        if name in ("version", "label"):
            return name
    return None


def secret_key(
    secret_id: str, params: dict[str, str], missing: str = "missing parameter secretId"
) -> CacheKey:
    if not secret_id:
        raise BadRequest(missing)
    return CacheKey(SECRETS, secret_id, params.get("versionId", ""), params.get("versionStage", ""))


def parameter_key(params: dict[str, str], selector: str | None = None) -> CacheKey:
    """`selector` names which of `version` / `label` the request uses (the first in its URL);
    None: `version` when present, else `label`."""
    name = params.get("name", "")
    if not name:
        raise BadRequest("missing parameter name")
    if selector is None:
        selector = "version" if params.get("version") else "label"
    version = params.get("version", "") if selector == "version" else ""
    label = params.get("label", "") if selector == "label" else ""
    return CacheKey(SSM, name, version, label, parse_bool(params, "withDecryption"))


def extract_json_key(payload: Payload, json_key: str) -> Response:
    """`jsonKey=`: just one key of a JSON SecretString (strings as text/plain, others as JSON)."""
    try:
        value = json_key_value(payload.doc.get("SecretString"), json_key)
    except JsonKeyError as err:
        if err.missing:
            return error_response(404, "JsonKeyNotFound", "the secret has no such JSON key")
        return error_response(400, "InvalidRequestException", "the secret is not a JSON object")
    if isinstance(value, str):
        return Response.text(value)
    return json_response(200, value)


class Limiter:
    """Counts requests in progress on one port; over the cap the caller answers 429."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.active = 0


Handler = Callable[[Request], Awaitable[Response]]


def guard(limiter: Limiter, stats: Stats, port: str, inner: Handler) -> Handler:
    """The concurrency limit (429) and the last line of defence (500 InternalFailure, one log line;
    the traceback only at debug level, as our log lines come back to us as telemetry)."""

    async def handle(request: Request) -> Response:
        # Health checks are never refused for load (the Secrets Manager Agent's `ping_max_conn`).
        if limiter.active >= limiter.cap and request.path != "/ping":
            stats.add("cache_rejected", label="concurrency")
            return error_response(429, "TooManyRequestsException", "too many concurrent requests")
        limiter.active += 1
        try:
            return await inner(request)
        except Exception as exc:
            stats.add("internal_errors", label=f"cache_{port}")
            _log.error("cache endpoint failed on an unexpected error (%s)", type(exc).__name__)
            _log.debug("cache endpoint failure", exc_info=True)
            return error_response(500, "InternalFailure", "internal error in lambda-sidecar")
        finally:
            limiter.active -= 1

    return handle


def _token_ok(request: Request, token: str | None) -> bool:
    """Either header carrying the right token is enough (the Secrets Manager Agent accepts any of
    its `ssrf_headers`, `X-Aws-Parameters-Secrets-Token` and `X-Vault-Token` by default)."""
    if token is None:
        return False
    expected = token.encode()
    ok = False
    for header in (TOKEN_HEADER, ALT_TOKEN_HEADER):
        given = request.headers.raw(header)
        if given is not None:
            ok |= hmac.compare_digest(given, expected)
    return ok


class SecretsEndpoint:
    """Port 2773."""

    def __init__(self, backend: Backend, token: str | None, stats: Stats) -> None:
        self._backend = backend
        self._token = token
        self._stats = stats

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/ping":
            if request.method != "GET":
                return error_response(405, "MethodNotAllowed", "only GET is supported")
            return Response.text("healthy")
        if "X-Forwarded-For" in request.headers:
            return error_response(400, "InvalidRequestException", "forwarded requests are not accepted")
        if not _token_ok(request, self._token):
            self._stats.add("cache_rejected", label="token")
            return error_response(
                403, "AccessDeniedException", "missing or invalid X-Aws-Parameters-Secrets-Token"
            )
        is_batch = path == "/sidecar/v1/batch"
        if request.method != "GET" and not (is_batch and request.method == "POST"):
            return error_response(405, "MethodNotAllowed", "only GET is supported")
        known = path == "/secretsmanager/get" or path in _PARAM_PATHS or path.startswith("/v1/") or is_batch
        if not known:
            return error_response(404, "NotFound", "unknown path")
        params, every = split_query(request.query_string)
        try:
            if is_batch:
                check_known(every, BATCH_PARAMS)
                return await self._batch(request)
            if path in _PARAM_PATHS:
                check_known(every, PARAMETER_PARAMS)
                key = parameter_key(params, first_selector(request.query_string))
            elif path == "/secretsmanager/get":
                check_known(every, SECRET_QUERY_PARAMS)
                key = secret_key(params.get("secretId", ""), params)
            else:  # the missing id is reported before any parameter (SMA's `parse.rs`)
                secret_id = unquote(path[4:])
                secret_key(secret_id, params, "missing secret ID")
                check_known(every, SECRET_PATH_PARAMS)
                key = secret_key(secret_id, params)
            force = parse_bool(params, "refreshNow")
        except BadRequest as exc:
            return error_response(400, "InvalidRequestException", str(exc))
        try:
            found = await self._backend.lookup(key, force=force)
        except UpstreamError as err:
            return error_response(err.status, err.code, err.message)
        json_key = params.get("jsonKey")
        if json_key is not None and key.service == SECRETS:
            response = extract_json_key(found.value, json_key)
            response.headers.update(cache_headers(found))
            return response
        return Response(200, found.value.body, "application/json", cache_headers(found))

    async def _batch(self, request: Request) -> Response:
        """Several secrets and parameters in one local call (GET: repeated `secretId=`/`name=`, POST:
        JSON `{"secrets": [...], "parameters": [...]}`); per-item errors inside a 200 answer."""
        keys = await batch_keys(request)
        if len(keys) > MAX_BATCH_ITEMS:
            raise BadRequest(f"at most {MAX_BATCH_ITEMS} items per batch")
        out: dict[str, Any] = {"secrets": {}, "parameters": {}, "errors": {"secrets": {}, "parameters": {}}}
        for label, key in keys:
            kind = "secrets" if key.service == SECRETS else "parameters"
            try:
                found = await self._backend.lookup(key, force=False)
            except UpstreamError as err:
                out["errors"][kind][label] = {
                    "__type": err.code,
                    "message": err.message,
                    "status": err.status,
                }
            else:
                out[kind][label] = found.value.doc
        return json_response(200, out)


async def batch_keys(request: Request) -> list[tuple[str, CacheKey]]:
    params, every = split_query(request.query_string)
    keys: list[tuple[str, CacheKey]] = []
    if request.method == "GET":
        decrypt = parse_bool(params, "withDecryption")
        keys += [(s, secret_key(s, {})) for s in every.get("secretId", [])]
        keys += [
            (n, parameter_key({"name": n, "withDecryption": str(decrypt)})) for n in every.get("name", [])
        ]
    else:
        try:
            doc = json.loads(request.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise BadRequest("the body is not JSON") from exc
        if not isinstance(doc, dict):
            raise BadRequest("the body must be a JSON object")
        for item in _items(doc, "secrets"):
            spec = {"secretId": item} if isinstance(item, str) else _str_fields(item)
            keys.append((spec.get("secretId", ""), secret_key(spec.get("secretId", ""), spec)))
        for item in _items(doc, "parameters"):
            spec = {"name": item} if isinstance(item, str) else _str_fields(item)
            keys.append((spec.get("name", ""), parameter_key(spec)))
    if not keys:
        raise BadRequest("missing required parameter secretId or name")
    return keys


def _items(doc: dict[str, Any], field: str) -> list[Any]:
    items = doc.get(field, [])
    if not isinstance(items, list) or not all(isinstance(i, str | dict) for i in items):
        raise BadRequest(f"{field} must be a list of strings or objects")
    return items


def _str_fields(item: dict[str, Any]) -> dict[str, str]:
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in item.items()}


class AppConfigEndpoint:
    """Port 2772: errors are text/plain with the AppConfig agent's statuses."""

    def __init__(self, backend: Backend, token: str | None, require_token: bool, stats: Stats) -> None:
        self._backend = backend
        self._token = token
        self._require_token = require_token
        self._stats = stats

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/ping":
            return Response.text(VERSION)
        if "X-Forwarded-For" in request.headers:
            return Response.text("forwarded requests are not accepted", 400)
        if self._require_token and not _token_ok(request, self._token):
            self._stats.add("cache_rejected", label="token")
            return Response.text("missing or invalid X-Aws-Parameters-Secrets-Token", 403)
        match = _CONFIG_PATH.match(path)
        if match is None:
            return Response.text("unknown path", 404)
        if request.method != "GET":
            return Response.text("only GET is supported", 405)
        if "Context" in request.headers and self._stats.first_time("appconfig_context"):
            _log.warning("Context headers are not evaluated (multi-variant flags): serving stored values")
        target = AppConfigTarget(*(unquote(g) for g in match.groups()))
        _, every = split_query(request.query_string)
        try:
            found = await self._backend.lookup_config(target, force=False)
        except UpstreamError as err:
            return Response.text(err.message or err.code, appconfig_status(err))
        value = found.value
        headers = cache_headers(found)
        if value.configuration_version or value.version_label:
            headers["Configuration-Version"] = value.configuration_version or value.version_label or ""
        if value.version_label:
            headers["Version-Label"] = value.version_label
        flags = [f for f in every.get("flag", []) if f]
        if not flags:
            return Response(200, value.body, value.content_type, headers)
        try:
            body = filter_flags(value.body, flags)
        except KeyError as exc:
            return Response.text(f"flag not found: {exc.args[0]}", 404)
        except ValueError:
            return Response.text("configuration is not a feature flag JSON document", 400)
        return Response(200, body, "application/json", headers)


def appconfig_status(err: UpstreamError) -> int:
    """AppConfig agent statuses: 400/404 from the data plane as they are, 504 when the poll timed
    out with nothing cached, 502 for every other upstream failure."""
    if err.status in (400, 404):
        return err.status
    if err.code == "TimeoutError":
        return 504
    if err.code == "InternalFailure":
        return 500
    return 502
