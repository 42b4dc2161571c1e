"""Builds the destinations named in `settings.exporters.names` (the composition of exporters).

Construction does no I/O. A destination whose headers contain secret references gets a
`DeferredExporter`: at `start()` it resolves the references through `resolve_secret` (the cache),
then builds and starts the real exporter. If resolution fails, the destination is disabled with
one log line naming the reference (never a value) and counted; the extension carries on.

Each exporter module is imported only when its destination is configured: the HTTP client, the
OTLP encoder and the JSON renderer cost start-up CPU that a configuration without them never
needs to pay (every cold start pays every import).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from extension.config import HttpJsonSettings, OtlpSettings, OtlpSignalSettings, Settings
from extension.exporters.base import Exporter, ExporterDisabledError, ExportResult
from extension.exporters.destination import Destination
from extension.exporters.secret_refs import CachingResolver, Resolver, SecretRefError, has_refs
from extension.signals import Resource, Signals
from extension.stats import Stats

#: Bound on resolving every secret reference of one destination at start.
RESOLVE_TIMEOUT_S = 5.0


class DeferredExporter:
    """An exporter built at `start()`, once its secret header references are resolved."""

    def __init__(
        self, name: str, accepts: frozenset[str], prepare: Callable[[], Awaitable[Exporter]]
    ) -> None:
        self.name = name
        self.accepts = accepts
        self._prepare = prepare
        self.inner: Exporter | None = None

    async def start(self) -> None:
        if self.inner is not None:
            return
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                inner = await self._prepare()
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
        return await self.inner.export(signals, resource, timeout_s)

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


async def _no_resolver(service: str, name: str) -> str:
    raise SecretRefError(f"${{{service}:{name}}}: no secret resolver (is the cache disabled?)")


def build_exporter(name: str, settings: Settings, resolve_secret: Resolver | None) -> Exporter | None:
    """The exporter for one destination name; None when it is not configured."""
    ex = settings.exporters
    resolver_fn = resolve_secret or _no_resolver
    if name == "otlp" and ex.otlp is not None:
        from extension.exporters.otlp import OtlpExporter
        from extension.http.proxy import proxy_rules

        otlp, proxy = ex.otlp, proxy_rules(settings.proxy)
        if any(has_refs(s.headers) for s in otlp.configured().values()):

            async def prepare_otlp() -> Exporter:
                resolved = await resolve_otlp(otlp, CachingResolver(resolver_fn))
                return OtlpExporter(resolved, proxy_for=proxy)

            return DeferredExporter("otlp", OtlpExporter(otlp).accepts, prepare_otlp)
        return OtlpExporter(otlp, proxy_for=proxy)
    if name == "http_json" and ex.http_json is not None:
        from extension.exporters.http_json import HttpJsonExporter
        from extension.http.proxy import proxy_rules

        hj, proxy = ex.http_json, proxy_rules(settings.proxy)
        if has_refs(hj.headers):

            async def prepare_http() -> Exporter:
                resolved = await resolve_http_json(hj, CachingResolver(resolver_fn))
                return HttpJsonExporter(resolved, proxy_for=proxy)

            return DeferredExporter("http_json", HttpJsonExporter(hj).accepts, prepare_http)
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
