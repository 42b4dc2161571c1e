"""HTTP JSON destination: POST JSON arrays of events to any URL (the "custom destination").

`format=raw` sends the Telemetry API events exactly as Lambda delivered them (what AWS's own
samples forward); `format=otel` sends our span/log/metric records as OTLP/JSON-like objects (see
`jsonify`), each with its `resource`. A batch larger than `max_batch` items becomes several POSTs,
sent in order; when one fails with a retryable error, it and the ones after it are kept for a
retry while those before it count as delivered. Status handling is the same as OTLP/HTTP.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from extension.config import HttpJsonSettings
from extension.exporters import http_common
from extension.exporters.base import KIND_RAW, OTEL_KINDS, ExportResult, Outcome, combine
from extension.exporters.jsonify import dumps, log_dict, metric_dict, span_dict
from extension.signals import Resource, Signals

if TYPE_CHECKING:
    from extension.http.client import HttpClient


def chunks(signals: Signals, size: int, raw: bool) -> list[Signals]:
    """Split into parts of at most `size` records (raw events, or spans+logs+metrics)."""
    size = max(1, size)
    if raw:
        events = signals.raw_events
        return [Signals(raw_events=events[i : i + size]) for i in range(0, len(events), size)]
    items: list[tuple[int, Any]] = [(0, s) for s in signals.spans]
    items += [(1, rec) for rec in signals.logs]
    items += [(2, m) for m in signals.metrics]
    parts: list[Signals] = []
    for i in range(0, len(items), size):
        groups: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
        for kind, item in items[i : i + size]:
            groups[kind].append(item)
        parts.append(Signals(tuple(groups[0]), tuple(groups[1]), tuple(groups[2])))
    return parts


def render(part: Signals, resource: Resource, raw: bool) -> bytes:
    if raw:
        return dumps(list(part.raw_events)).encode()
    res = dict(resource.attributes)
    out: list[dict[str, Any]] = []
    out.extend({**span_dict(s), "resource": res} for s in part.spans)
    out.extend({**log_dict(rec), "resource": res} for rec in part.logs)
    out.extend({**metric_dict(m), "resource": res} for m in part.metrics)
    return dumps(out).encode()


class HttpJsonExporter:
    """Contract: see `extension.exporters.base.Exporter`."""

    def __init__(
        self,
        settings: HttpJsonSettings,
        name: str = "http_json",
        *,
        proxy_for: http_common.ProxyFor | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.raw = settings.format == "raw"
        self.accepts = frozenset({KIND_RAW}) if self.raw else OTEL_KINDS
        self._http: HttpClient | None = None
        self._proxy_for = proxy_for

    async def start(self) -> None:
        if self._http is None:
            self._http = http_common.new_client(self._proxy_for)

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        try:
            return await self._export(signals, resource, timeout_s)
        except Exception as exc:  # never raise
            return ExportResult.permanent(f"http_json: unexpected {type(exc).__name__}")

    async def _export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        if self._http is None:
            await self.start()
        assert self._http is not None
        cfg = self.settings
        deadline = asyncio.get_running_loop().time() + min(timeout_s, cfg.timeout_ms / 1000.0)
        results: list[tuple[Signals, ExportResult]] = []
        parts = chunks(signals, cfg.max_batch, self.raw)
        for index, part in enumerate(parts):
            headers = {"Content-Type": "application/json", **dict(cfg.headers)}
            remaining = deadline - asyncio.get_running_loop().time()
            reply = await http_common.post(
                self._http,
                cfg.url,
                render(part, resource, self.raw),
                headers,
                remaining,
                compression=cfg.compression,
            )
            results.append((part, reply.result))
            if reply.result.outcome is Outcome.RETRYABLE:
                results.extend((rest, reply.result) for rest in parts[index + 1 :])
                break
        return combine(results)

    async def shutdown(self) -> None:
        client, self._http = self._http, None
        if client is not None:
            await client.close()
