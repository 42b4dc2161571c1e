"""Builds the destinations named in `settings.exporters.names` (the composition of exporters).

Construction does no I/O. A destination whose headers contain secret references gets a
`DeferredExporter`: at `start()` it resolves the references through `resolve_secret` (the cache),
then builds and starts the real exporter. If resolution fails, the destination is disabled with
one log line naming the reference (never a value) and counted; the extension carries on. When
the backend later answers 401/403 (the key was rotated), the references are resolved again,
bypassing the cache, at most once per secrets TTL, and the request is retried with the new value.

Each exporter module is imported only when its destination is configured: the HTTP client, the
OTLP encoder and the JSON renderer cost start-up CPU that a configuration without them never
needs to pay (every cold start pays every import).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from extension.config import HttpJsonSettings, OtlpSettings, OtlpSignalSettings, Settings
from extension.exporters.base import Exporter, ExporterDisabledError, ExportResult, Outcome
from extension.exporters.destination import Destination
from extension.exporters.queue import item_count
from extension.exporters.secret_refs import CachingResolver, Resolver, SecretRefError, has_refs
from extension.log import get_logger
from extension.signals import Resource, Signals
from extension.stats import Stats

log = get_logger("exporters")

#: Bound on resolving every secret reference of one destination at start.
RESOLVE_TIMEOUT_S = 5.0
#: How the exporters name an authentication failure in a result's reason (OTLP/HTTP and HTTP
#: JSON: the status; gRPC: the status code name).
_AUTH_FAILURE = re.compile(r"\b(?:http 40[13]|grpc (?:UNAUTHENTICATED|PERMISSION_DENIED))\b")

#: `prepare(fresh)` resolves the references (fresh: bypassing the cache) and builds the exporter.
Prepare = Callable[[bool], Awaitable[Exporter]]


def is_auth_failure(result: ExportResult) -> bool:
    """The backend refused our credentials (401/403): a rotated secret, not bad data."""
    return not result.ok and bool(_AUTH_FAILURE.search(result.reason))


def _after_retry(first: ExportResult, again: Signals, second: ExportResult) -> ExportResult:
    """The result of a batch whose `again` part failed in `first` and was re-sent as `second`
    (the rest of the batch went through in `first`)."""
    rejected = first.rejected + second.rejected
    if second.outcome is Outcome.SUCCESS:
        return ExportResult.success(rejected=rejected, reason=second.reason)
    if second.outcome is Outcome.RETRYABLE:
        keep = second.retry if second.retry is not None else again
        return ExportResult(
            Outcome.RETRYABLE, second.reason, second.retry_after, keep, second.failed_items, rejected
        )
    failed = item_count(again) if second.failed_items is None else second.failed_items
    return ExportResult(
        Outcome.PERMANENT,
        second.reason,
        failed_items=failed,
        rejected=rejected,
        failed=second.failed or again,
    )


class DeferredExporter:
    """An exporter built at `start()`, once its secret header references are resolved, and
    rebuilt with freshly resolved references when the backend rejects the credentials."""

    def __init__(
        self,
        name: str,
        accepts: frozenset[str],
        prepare: Prepare,
        refresh_interval_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.accepts = accepts
        self._prepare = prepare
        self._refresh_interval_s = refresh_interval_s
        self._clock = clock  # wall clock: the interval spans frozen time
        self._refreshed_at = float("-inf")
        self.inner: Exporter | None = None

    async def start(self) -> None:
        if self.inner is not None:
            return
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                inner = await self._prepare(False)
        except TimeoutError:
            raise ExporterDisabledError(
                f"resolving secret header references timed out ({self.name})"
            ) from None
        except SecretRefError as exc:
            raise ExporterDisabledError(f"secret header reference not resolved: {exc}") from None
        await inner.start()
        self.inner = inner

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        if self.inner is None:
            return ExportResult.retryable("not started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        result = await self.inner.export(signals, resource, timeout_s)
        if not is_auth_failure(result) or not await self._refresh(result, deadline - loop.time()):
            return result
        if result.outcome is not Outcome.PERMANENT:  # mixed with a retryable part: kept for later
            return result
        again = result.failed if result.failed is not None else signals
        remaining = deadline - loop.time()
        if remaining <= 0:
            return ExportResult.retryable("secret headers re-resolved; no time left", retry=again)
        return _after_retry(result, again, await self.inner.export(again, resource, remaining))

    async def _refresh(self, result: ExportResult, remaining: float) -> bool:
        """Resolve the references again, bypassing the cache, at most once per interval; True
        when the exporter was rebuilt with the new values."""
        now = self._clock()
        if now - self._refreshed_at < self._refresh_interval_s or remaining <= 0:
            return False
        self._refreshed_at = now
        try:
            async with asyncio.timeout(min(RESOLVE_TIMEOUT_S, remaining)):
                fresh = await self._prepare(True)
            await fresh.start()
        except (TimeoutError, SecretRefError) as exc:
            log.warning("destination %s: re-resolving secret headers failed: %s", self.name, exc or "timeout")
            return False
        old, self.inner = self.inner, fresh
        if old is not None:
            await old.shutdown()
        log.info("destination %s: %s; secret headers re-resolved, retrying", self.name, result.reason)
        return True

    async def shutdown(self) -> None:
        if self.inner is not None:
            await self.inner.shutdown()


async def resolve_otlp(settings: OtlpSettings, resolver: CachingResolver) -> OtlpSettings:
    async def resolved(cfg: OtlpSignalSettings | None) -> OtlpSignalSettings | None:
        return None if cfg is None else replace(cfg, headers=await resolver.headers(cfg.headers))

    return OtlpSettings(
        traces=await resolved(settings.traces),
        metrics=await resolved(settings.metrics),
        logs=await resolved(settings.logs),
    )


async def resolve_http_json(settings: HttpJsonSettings, resolver: CachingResolver) -> HttpJsonSettings:
    return replace(settings, headers=await resolver.headers(settings.headers))


async def _no_resolver(service: str, name: str, *, fresh: bool = False) -> str:
    raise SecretRefError(f"${{{service}:{name}}}: no secret resolver (is the cache disabled?)")


def build_exporter(name: str, settings: Settings, resolve_secret: Resolver | None) -> Exporter | None:
    """The exporter for one destination name; None when it is not configured."""
    ex = settings.exporters
    resolver_fn = resolve_secret or _no_resolver
    refresh_s = min(settings.cache.secrets_ttl_s, settings.cache.ssm_ttl_s)
    if name == "otlp" and ex.otlp is not None:
        from extension.exporters.otlp import OtlpExporter
        from extension.http.proxy import proxy_rules

        otlp, proxy = ex.otlp, proxy_rules(settings.proxy)
        if any(has_refs(s.headers) for s in otlp.configured().values()):

            async def prepare_otlp(fresh: bool) -> Exporter:
                resolved = await resolve_otlp(otlp, CachingResolver(resolver_fn, fresh=fresh))
                return OtlpExporter(resolved, proxy_for=proxy)

            return DeferredExporter("otlp", OtlpExporter(otlp).accepts, prepare_otlp, refresh_s)
        return OtlpExporter(otlp, proxy_for=proxy)
    if name == "http_json" and ex.http_json is not None:
        from extension.exporters.http_json import HttpJsonExporter
        from extension.http.proxy import proxy_rules

        hj, proxy = ex.http_json, proxy_rules(settings.proxy)
        if has_refs(hj.headers):

            async def prepare_http(fresh: bool) -> Exporter:
                resolved = await resolve_http_json(hj, CachingResolver(resolver_fn, fresh=fresh))
                return HttpJsonExporter(resolved, proxy_for=proxy)

            return DeferredExporter("http_json", HttpJsonExporter(hj).accepts, prepare_http, refresh_s)
        return HttpJsonExporter(hj, proxy_for=proxy)
    if name == "stdout":
        from extension.exporters.stdout import StdoutExporter

        return StdoutExporter(ex.stdout.signals, ex.stdout.emf_namespace)
    if name == "file":
        from extension.exporters.file import FileExporter

        return FileExporter(ex.file.path, ex.file.max_bytes)
    return None


def build_destinations(
    settings: Settings,
    stats: Stats,
    resolve_secret: Resolver | None,
    resource: Resource | None = None,
) -> list[Destination]:
    """One `Destination` per configured exporter name, in the configured order (no I/O)."""
    destinations: list[Destination] = []
    for name in settings.exporters.names:
        exporter = build_exporter(name, settings, resolve_secret)
        if exporter is None:  # config.py reports a missing endpoint/URL; never crash here
            stats.add("destination_disabled", 1, name)
            continue
        destinations.append(
            Destination(exporter, settings.pipeline, settings.exporters.retry, stats, name, resource=resource)
        )
    return destinations
