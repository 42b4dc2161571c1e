"""The cache component: stores, providers and both endpoints on the sockets bound before register.

Lifecycle: construction does no I/O; `start()` serves at once and prefetches in the background (a
request for a key being prefetched waits for that fetch, bounded by the service timeout);
`on_invoke()` starts refresh-ahead fetches, which may be cut off by a freeze and are then cancelled
and retried on a later invoke; `shutdown()` is idempotent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from extension.cache.aws import AwsClient
from extension.cache.errors import UpstreamError, UpstreamUnreachable
from extension.cache.json_key import JsonKeyError, json_key_value
from extension.cache.providers.appconfig import AppConfigProvider
from extension.cache.providers.entries import SECRETS, SSM, CacheKey, ConfigPayload, Payload
from extension.cache.providers.secrets_manager import SecretsManagerProvider
from extension.cache.providers.ssm import SsmProvider
from extension.cache.server import (
    MAX_BODY,
    MAX_INFLIGHT,
    AppConfigEndpoint,
    Limiter,
    SecretsEndpoint,
    guard,
)
from extension.cache.sockets import BoundSockets
from extension.cache.store import CacheStore, Lookup, StoreLimits
from extension.cache.sts import AssumedRoleCredentials
from extension.config import AppConfigTarget, Settings
from extension.http.client import Origin
from extension.http.proxy import ProxyRules, proxy_rules
from extension.http.server import HttpServer
from extension.log import get_logger
from extension.stats import Stats

WAIT_MARGIN_S = 0.25  # a waiting request outlives the fetch's own timeout, so that error wins
STUCK_FACTOR = 3.0  # a fetch older than this many timeouts (wall time) was cut off by a freeze
#: Closing never takes more of the SHUTDOWN budget than this, whatever the deadline: the cache
#: holds nothing that must be saved, and the exporters' final flush needs the time more. Requests
#: in progress get this long to be answered; connections still open then are closed.
SHUTDOWN_LIMIT_S = 0.2
_log = get_logger("cache")


class ReferenceResolutionError(Exception):
    """An exporter header reference could not be resolved (message names the reference, no value)."""


class CacheService:
    def __init__(
        self,
        settings: Settings,
        stats: Stats,
        sockets: BoundSockets,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cache = settings.cache
        self._settings = settings
        self._stats = stats
        self._sockets = sockets
        self._clock = clock
        self._timeouts = {SECRETS: cache.secrets_timeout_ms / 1000, SSM: cache.ssm_timeout_ms / 1000}
        self._ttls = {SECRETS: cache.secrets_ttl_s, SSM: cache.ssm_ttl_s}
        limits = StoreLimits(
            max_items=cache.max_items if cache.enabled else 0,
            max_bytes=cache.max_bytes,
            max_stale_s=cache.max_stale_s,
            refresh_fraction=cache.refresh_ahead_fraction,
            negative_ttl_s=cache.negative_ttl_s,
        )
        # PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS / AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS:
        # as AWS documents them, the connection limit of the HTTP clients that call AWS (the
        # endpoints' own inbound limit is server.MAX_INFLIGHT).
        proxy = proxy_rules(settings.proxy)
        self.client = AwsClient(settings.aws, max_connections=max(cache.max_connections, 2), proxy_for=proxy)
        # AWS_APPCONFIG_EXTENSION_PROXY_URL: AppConfig's own proxy (with its headers) replaces
        # HTTPS_PROXY/HTTP_PROXY for the AppConfig calls and the role's AssumeRole.
        appconfig_proxy = proxy
        if cache.appconfig_proxy is not None:
            through = Origin("http", *cache.appconfig_proxy)
            appconfig_proxy = ProxyRules(http=through, https=through)
        proxy_headers = dict(cache.appconfig_proxy_headers) if cache.appconfig_proxy is not None else None
        # AWS_APPCONFIG_EXTENSION_ROLE_ARN: AppConfig is read with the assumed role's credentials
        # only (another account); STS is called with the function's own (cache/sts.py).
        self.sts_client: AwsClient | None = None
        self.assumed_role: AssumedRoleCredentials | None = None
        if cache.appconfig_role is not None:
            self.sts_client = AwsClient(
                settings.aws, max_connections=2, proxy_for=appconfig_proxy, proxy_headers=proxy_headers
            )
            self.assumed_role = AssumedRoleCredentials(
                self.sts_client, cache.appconfig_role, region=cache.appconfig_region, clock=clock
            )
        self.appconfig_client = AwsClient(
            settings.aws,
            max_connections=max(cache.appconfig_max_connections, 2),
            credentials_provider=self.assumed_role.get if self.assumed_role is not None else None,
            proxy_for=appconfig_proxy,
            proxy_headers=proxy_headers,
        )
        self.secrets = SecretsManagerProvider(self.client, self._timeouts[SECRETS])
        self.ssm = SsmProvider(self.client, self._timeouts[SSM])
        self.appconfig = AppConfigProvider(
            self.appconfig_client,
            region=cache.appconfig_region,
            poll_interval_s=cache.appconfig_poll_interval_s,
            timeout_s=cache.appconfig_poll_timeout_ms / 1000,
            clock=clock,
        )
        self.values: CacheStore[CacheKey, Payload] = CacheStore(
            self._fetch_value,
            ttl=lambda k: self._ttls[k.service],
            size=lambda p: p.size,
            limits=limits,
            clock=clock,
        )
        self.configs: CacheStore[AppConfigTarget, ConfigPayload] = CacheStore(
            self.appconfig.fetch, ttl=self.appconfig.ttl, size=lambda p: p.size, limits=limits, clock=clock
        )
        self._snap_start = settings.function.initialization_type == "snap-start"
        self._servers: list[HttpServer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._invokes = 0
        self._started = False
        self._closed = False
        self.prefetched: asyncio.Event | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on the pre-bound sockets now; prefetch in the background."""
        if self._started or self._closed:
            return
        self._started = True
        self.prefetched = asyncio.Event()
        cache = self._settings.cache
        token = _resolve_token(cache.token)
        if token is None and self._sockets.secrets is not None:
            _log.warning(
                "no AWS_TOKEN/AWS_SESSION_TOKEN/AWS_CONTAINER_AUTHORIZATION_TOKEN: port 2773 answers 403"
            )
        endpoints = [
            (
                "secrets",
                self._sockets.secrets,
                SecretsEndpoint(self, token, self._stats).handle,
            ),
            (
                "appconfig",
                self._sockets.appconfig,
                AppConfigEndpoint(self, token, cache.appconfig_require_token, self._stats).handle,
            ),
        ]
        ports = []
        for name, sock, handler in endpoints:
            if sock is None:
                continue
            server = HttpServer(
                guard(Limiter(MAX_INFLIGHT), self._stats, name, handler),
                name=f"cache_{name}",
                stats=self._stats,
                counter="cache_rejected",
                max_body=MAX_BODY,
            )
            await server.start(sock)
            self._servers.append(server)
            ports.append(f"{name}={sock.getsockname()[1]}")
        if ports:
            _log.info(
                "cache endpoints ready (%s); TTL secrets %gs, parameters %gs",
                ", ".join(ports),
                self._ttls[SECRETS],
                self._ttls[SSM],
            )
        self._spawn(self._prefetch(skip_secrets=self._snap_start))

    @property
    def prefetch_limit_s(self) -> float:
        """How long a prefetch can take at most: each of its calls is bounded by its own timeout."""
        return max([*self._timeouts.values(), self.appconfig.timeout_s]) + WAIT_MARGIN_S

    async def wait_prefetched(self, limit_s: float | None = None) -> bool:
        """Wait (bounded by `limit_s`, at most `prefetch_limit_s`) until every prefetch entry is
        fetched or has failed; False when the bound passed first (the rest is still in flight,
        and a read joins it)."""
        if self.prefetched is None:
            return False
        bound = self.prefetch_limit_s if limit_s is None else min(limit_s, self.prefetch_limit_s)
        try:
            await asyncio.wait_for(self.prefetched.wait(), bound)
        except TimeoutError:
            return False
        return True

    def on_invoke(self) -> None:
        """Refresh-ahead: background fetches for entries read since their last fetch and past the
        refresh fraction of their TTL. Fetches cut off by a freeze are cancelled here and retried."""
        if not self._started or self._closed:
            return
        self._invokes += 1
        if self._invokes == 1 and self._snap_start:
            # First invoke after a SnapStart restore: snapshot values may be old; secrets skipped
            # during the snapshot init are prefetched now.
            self.values.expire_all()
            self.configs.expire_all()
            self._spawn(self._prefetch(skip_secrets=False, only_secrets=True))
        max_timeout = max([*self._timeouts.values(), self.appconfig.timeout_s])
        reaped = self.values.reap_stuck(STUCK_FACTOR * max_timeout) + self.configs.reap_stuck(
            STUCK_FACTOR * max_timeout
        )
        if reaped:
            self._stats.add("cache_refresh_reaped", reaped)
        started = sum(self.values.refresh(k) for k in self.values.due_for_refresh())
        started += sum(self.configs.refresh(t) for t in self.configs.due_for_refresh())
        if started:
            self._stats.add("cache_refresh_ahead", started)

    async def settle(self, limit_s: float) -> None:
        """Let background prefetches finish (bounded) before the extension calls /event/next: the
        environment may freeze right after, and a request frozen mid-flight resumes minutes later
        against a dead connection. Refresh-ahead fetches are instead cut off and retried."""
        if self._tasks and limit_s > 0:
            await asyncio.wait(list(self._tasks), timeout=limit_s)

    async def shutdown(self, deadline: float) -> None:
        """Close by `deadline` (loop time) and within `SHUTDOWN_LIMIT_S`. Idempotent; closes the
        sockets even when `start` never ran."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        end = min(deadline, loop.time() + SHUTDOWN_LIMIT_S)
        try:
            # Not under the timeout below: each server closes every connection still open at `end`.
            await asyncio.gather(*(server.shutdown(end) for server in self._servers))
            await asyncio.wait_for(self._close(), max(0.01, end - loop.time()))
        except TimeoutError:
            self._stats.add("internal_errors", label="cache_shutdown_timeout")
        finally:
            self._sockets.close()

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.values.close()
        await self.configs.close()
        await self.client.close()
        await self.appconfig_client.close()
        if self.sts_client is not None:
            await self.sts_client.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- Backend (used by the endpoints) ---------------------------------------------------

    async def lookup(self, key: CacheKey, *, force: bool) -> Lookup[Payload]:
        try:
            found = await self.values.get(
                key, force=force, wait_s=self._timeouts[key.service] + WAIT_MARGIN_S
            )
        except UpstreamError as err:
            self._stats.add("cache_errors", label=err.kind)
            raise
        self._stats.add("cache_requests", label=found.status)
        return found

    async def lookup_config(self, target: AppConfigTarget, *, force: bool) -> Lookup[ConfigPayload]:
        try:
            found = await self.configs.get(
                target, force=force, wait_s=self.appconfig.timeout_s + WAIT_MARGIN_S
            )
        except UpstreamError as err:
            self._stats.add("cache_errors", label=err.kind)
            raise
        self._stats.add("cache_requests", label=found.status)
        return found

    async def _fetch_value(self, key: CacheKey, previous: Payload | None) -> Payload:
        provider = self.secrets if key.service == SECRETS else self.ssm
        return await provider.fetch(key, previous)

    # ---- prefetch --------------------------------------------------------------------------

    async def _prefetch(self, *, skip_secrets: bool, only_secrets: bool = False) -> None:
        started = time.monotonic()
        items = self._settings.cache.prefetch
        secrets = [CacheKey(SECRETS, i.name) for i in items if i.service == SECRETS and not skip_secrets]
        params = (
            []
            if only_secrets
            else [CacheKey(SSM, i.name, decrypt=i.with_decryption) for i in items if i.service == SSM]
        )
        targets = [] if only_secrets else list(self._settings.cache.appconfig_prefetch)
        results = await asyncio.gather(
            self._prefetch_batch(secrets, self.secrets.fetch_batch),
            self._prefetch_batch(params, self.ssm.fetch_batch),
            *(self._prefetch_config(t) for t in targets),
        )
        ok = sum(r[0] for r in results)
        failed = sum(r[1] for r in results)
        if ok or failed:
            self._stats.add("cache_prefetched", ok)
            _log.info(
                "cache prefetch: %d ok, %d failed in %.0f ms", ok, failed, (time.monotonic() - started) * 1000
            )
        if self.prefetched is not None:
            self.prefetched.set()

    async def _prefetch_batch(
        self,
        keys: list[CacheKey],
        fetch_batch: Callable[[list[CacheKey]], Awaitable[dict[CacheKey, Payload | UpstreamError]]],
    ) -> tuple[int, int]:
        owned = self.values.begin_external(keys) if keys else []
        ok = failed = 0
        try:
            if owned:
                results = await fetch_batch(owned)
                for key in owned:
                    result = results.get(key) or UpstreamUnreachable("missing from the batch answer")
                    if isinstance(result, UpstreamError):
                        failed += 1
                        self.values.fail(key, result)
                    else:
                        ok += 1
                        self.values.complete(key, result)
        except Exception as exc:
            if not isinstance(exc, UpstreamError):
                _log.exception("cache prefetch failed unexpectedly")
        finally:
            for key in owned:
                if self.values.in_flight(key):
                    failed += 1
                    self.values.fail(key, UpstreamUnreachable("prefetch did not complete"))
        return ok, failed

    async def _prefetch_config(self, target: AppConfigTarget) -> tuple[int, int]:
        try:
            await self.configs.get(target)
        except UpstreamError:
            return 0, 1
        return 1, 0

    # ---- exporter references ---------------------------------------------------------------

    async def resolve_reference(self, service: str, name: str, *, fresh: bool = False) -> str:
        """Value of `${secretsmanager:NAME[#jsonKey]}` / `${ssm:NAME[#jsonKey]}` header references,
        through the cache (`fresh`: fetched now, as `refreshNow=true` does, e.g. after the
        destination rejected the cached value). Works whether or not the endpoints serve.
        Raises ReferenceResolutionError (never with the value in the message)."""
        ident, _, json_key = name.partition("#")
        if service in ("secretsmanager", "sm"):
            key = CacheKey(SECRETS, ident)
        elif service == "ssm":
            key = CacheKey(SSM, ident, decrypt=True)
        else:
            raise ReferenceResolutionError(f"unknown reference service {service!r}")
        try:
            doc = (await self.lookup(key, force=fresh)).value.doc
        except UpstreamError as err:
            raise ReferenceResolutionError(f"{service}:{ident}: {err.code}: {err.message}") from None
        if key.service == SECRETS:
            raw = doc.get("SecretString")
            if raw is None and isinstance(doc.get("SecretBinary"), str):
                raw = base64.b64decode(doc["SecretBinary"]).decode("utf-8", "replace")
        else:
            raw = (doc.get("Parameter") or {}).get("Value")
        if not isinstance(raw, str):
            raise ReferenceResolutionError(f"{service}:{ident} has no string value")
        if not json_key:
            return raw
        try:
            value = json_key_value(raw, json_key)
        except JsonKeyError:
            raise ReferenceResolutionError(f"{service}:{ident} has no JSON key {json_key!r}") from None
        return value if isinstance(value, str) else json.dumps(value)

    # ---- introspection: the ports actually bound (tests, and callers given port 0) ----------

    @property
    def secrets_port(self) -> int | None:
        return self._sockets.secrets.getsockname()[1] if self._sockets.secrets else None

    @property
    def appconfig_port(self) -> int | None:
        return self._sockets.appconfig.getsockname()[1] if self._sockets.appconfig else None


def _resolve_token(token: str | None) -> str | None:
    """`AWS_TOKEN=file:///path` reads the token from a file (SMA)."""
    if token is None or not token.startswith("file://"):
        return token
    try:
        value = Path(token[len("file://") :]).read_text().strip()
    except OSError as exc:
        _log.error("cannot read the token file named by AWS_TOKEN (%s): port 2773 answers 403", exc.strerror)
        return None
    return value or None
