"""OTLP destination: traces, metrics and logs over `http/protobuf` or `grpc` (grpc.aio).

Each signal has its own endpoint, protocol, headers, timeout, compression and CA certificate (the
standard per-signal `OTEL_EXPORTER_OTLP_<SIGNAL>_*` variables, resolved in config.py). The three
signals of one batch are sent concurrently and their results combined: when one signal fails,
only that signal's records are kept for a retry. grpcio ships in every layer but is imported
only when a signal uses gRPC (it costs far more to import than the HTTP client); should it be
missing, those signals fail permanently with a clear reason while the others still go out.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from extension.config import OtlpSettings, OtlpSignalSettings
from extension.exporters import http_common
from extension.exporters.base import KIND_LOGS, KIND_METRICS, KIND_SPANS, ExportResult, combine
from extension.exporters.otlp_encode import encode_logs, encode_metrics, encode_traces, partial_success
from extension.signals import Resource, Signals

if TYPE_CHECKING:
    from extension.exporters.otlp_grpc import GrpcTransport
    from extension.http.client import HttpClient

SIGNALS = ("traces", "metrics", "logs")
_SIGNAL_OF_KIND = {KIND_SPANS: "traces", KIND_METRICS: "metrics", KIND_LOGS: "logs"}


def encode(signal: str, part: Signals, resource: Resource) -> bytes:
    if signal == "traces":
        return encode_traces(part.spans, resource)
    if signal == "metrics":
        return encode_metrics(part.metrics, resource)
    return encode_logs(part.logs, resource)


def split(signals: Signals) -> list[tuple[str, Signals]]:
    parts: list[tuple[str, Signals]] = []
    if signals.spans:
        parts.append(("traces", Signals(spans=signals.spans)))
    if signals.metrics:
        parts.append(("metrics", Signals(metrics=signals.metrics)))
    if signals.logs:
        parts.append(("logs", Signals(logs=signals.logs)))
    return parts


def rejected_count(signal: str, body: bytes, content_type: str) -> tuple[int, str]:
    """`partial_success` of an OTLP response body: (rejected count, server message)."""
    if not body or "json" in content_type:
        return 0, ""
    try:
        rejected, message = partial_success(body)
    except ValueError:
        return 0, ""
    return rejected, message[:200]


class OtlpExporter:
    """Contract: see `extension.exporters.base.Exporter`."""

    def __init__(
        self, settings: OtlpSettings, name: str = "otlp", *, proxy_for: http_common.ProxyFor | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        # A signal without an endpoint is not sent over OTLP; the destination never queues it.
        self._per_signal: dict[str, OtlpSignalSettings] = settings.configured()
        self.accepts = frozenset(
            kind for kind, signal in _SIGNAL_OF_KIND.items() if signal in self._per_signal
        )
        self._http: HttpClient | None = None
        self._proxy_for = proxy_for
        self._grpc: GrpcTransport | None = None
        self._grpc_error: str | None = None
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        if any(c.protocol == "http/protobuf" for c in self._per_signal.values()):
            self._http = http_common.new_client(self._proxy_for)
        if any(c.protocol == "grpc" for c in self._per_signal.values()):
            try:
                from extension.exporters.otlp_grpc import GrpcTransport
            except ImportError:
                self._grpc_error = "grpc protocol requested but grpcio is not installed in the layer"
            else:
                self._grpc = GrpcTransport()

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        try:
            if not self._started:
                await self.start()
            parts = [(signal, part) for signal, part in split(signals) if signal in self._per_signal]
            if self._grpc is not None:
                await self._grpc.prepare()
            results = await asyncio.gather(
                *(self._export_signal(sig, part, resource, timeout_s) for sig, part in parts)
            )
            return combine(list(zip((p for _, p in parts), results, strict=True)))
        except Exception as exc:  # never raise
            return ExportResult.permanent(f"otlp: unexpected {type(exc).__name__}")

    async def _export_signal(
        self, signal: str, part: Signals, resource: Resource, timeout_s: float
    ) -> ExportResult:
        cfg = self._per_signal[signal]
        timeout = min(timeout_s, cfg.timeout_ms / 1000.0)
        try:
            body = encode(signal, part, resource)
        except Exception as exc:
            return ExportResult.permanent(f"{signal}: encoding failed ({type(exc).__name__})")
        if cfg.protocol == "grpc":
            if self._grpc is None:
                return ExportResult.permanent(f"{signal}: {self._grpc_error or 'grpc transport not started'}")
            result = await self._grpc.export(signal, body, cfg, timeout)
        else:
            result = await self._post(signal, body, cfg, timeout)
        if result.reason and not result.reason.startswith(signal):
            result = ExportResult(
                result.outcome,
                f"{signal}: {result.reason}",
                result.retry_after,
                result.retry,
                result.failed_items,
                result.rejected,
            )
        return result

    async def _post(
        self, signal: str, body: bytes, cfg: OtlpSignalSettings, timeout_s: float
    ) -> ExportResult:
        if self._http is None:
            return ExportResult.permanent("http client not started")
        headers = {"Content-Type": "application/x-protobuf", **dict(cfg.headers)}
        reply = await http_common.post(
            self._http,
            cfg.endpoint,
            body,
            headers,
            timeout_s,
            compression=cfg.compression,
            cafile=cfg.certificate or None,
        )
        if not reply.result.ok:
            return reply.result
        rejected, message = rejected_count(signal, reply.body, reply.content_type)
        return ExportResult.success(rejected=rejected, reason=message)

    async def shutdown(self) -> None:
        client, self._http = self._http, None
        if client is not None:
            await client.close()
        grpc, self._grpc = self._grpc, None
        if grpc is not None:
            await grpc.close()
