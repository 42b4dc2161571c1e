"""OTLP/gRPC transport on `grpc.aio` (imported only when a signal uses gRPC: grpcio ships in the
layer but costs far more to import than the HTTP client).

Requests and responses cross the channel as bytes (no request serializer, no response
deserializer): the request is the Export*ServiceRequest our encoder already serialized, and
the response's `partial_success` is read by the wire decoder of `otlp_encode`, so this module
never needs protobuf's generated types.

Freezes break gRPC connections: while the environment is frozen the server or a NAT drops the
TCP connection, and after the thaw the channel either reports TRANSIENT_FAILURE (and would wait
out its reconnect backoff) or holds a dead socket until a call times out. So a channel is
recreated before the next export when its last call failed with UNAVAILABLE or
DEADLINE_EXCEEDED or when it is in TRANSIENT_FAILURE/SHUTDOWN; channels use a private subchannel
pool (a new channel really gets a new connection), short reconnect backoff, no built-in retries
(Destination owns retries), and keepalive pings only while a call is active (idle pings across
a freeze would only earn GOAWAY "too many pings").
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

# gRPC's C core logs at INFO to stderr by default (e.g. every GOAWAY from a restarting
# collector); those unmarked lines would come back to us as extension logs and reach the user's
# logs. Keep only errors, unless the user chose a level. Must happen before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc
from grpc import aio

from extension.config import OtlpSignalSettings
from extension.exporters.base import ExportResult
from extension.exporters.otlp_encode import partial_success

#: gRPC method path per signal (the collector services of opentelemetry-proto).
METHODS: dict[str, str] = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

#: Retryable status codes per the OTLP specification (RESOURCE_EXHAUSTED included: collectors
#: use it for back-pressure).
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_RECONNECT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_BAD_STATES = frozenset({grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN})

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.enable_retries", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30000),
    ("grpc.keepalive_timeout_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
)

ChannelKey = tuple[str, bool, str | None]


def parse_target(endpoint: str, certificate: str | None) -> ChannelKey:
    """`http(s)://host[:port][/path]` → (host:port, secure, certificate); 4317 when no port."""
    parsed = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
    host = parsed.hostname or "localhost"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parsed.port or 4317
    secure = parsed.scheme == "https" or bool(certificate)
    return f"{host}:{port}", secure, certificate


def retry_after_from(error: Any) -> float | None:
    """RetryInfo.retry_delay from `grpc-status-details-bin`, when googleapis protos are present."""
    try:
        from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        for key, value in error.trailing_metadata() or ():
            if key != "grpc-status-details-bin":
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    info = error_details_pb2.RetryInfo()
                    detail.Unpack(info)
                    return float(info.retry_delay.seconds) + float(info.retry_delay.nanos) / 1e9
    except Exception:
        return None
    return None


class GrpcTransport:
    def __init__(self) -> None:
        self._channels: dict[ChannelKey, Any] = {}
        self._calls: dict[tuple[ChannelKey, str], Any] = {}
        self._stale: set[ChannelKey] = set()

    async def prepare(self) -> None:
        """Before an export (no call in flight): close and forget channels that broke, so the
        next call dials a fresh connection instead of waiting on a dead one."""
        for key, channel in list(self._channels.items()):
            try:
                state = channel.get_state(try_to_connect=False)
            except Exception:
                state = grpc.ChannelConnectivity.SHUTDOWN
            if key in self._stale or state in _BAD_STATES:
                del self._channels[key]
                self._calls = {k: v for k, v in self._calls.items() if k[0] != key}
                await _close(channel)
        self._stale.clear()

    def _channel(self, key: ChannelKey) -> Any:
        channel = self._channels.get(key)
        if channel is None:
            target, secure, cert = key
            if secure:
                root = None
                if cert:
                    with open(cert, "rb") as f:
                        root = f.read()
                creds = grpc.ssl_channel_credentials(root_certificates=root)
                channel = aio.secure_channel(target, creds, options=CHANNEL_OPTIONS)
            else:
                channel = aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            self._channels[key] = channel
        return channel

    def _call(self, key: ChannelKey, signal: str) -> Any:
        call = self._calls.get((key, signal))
        if call is None:
            call = self._channel(key).unary_unary(
                METHODS[signal], request_serializer=None, response_deserializer=None
            )
            self._calls[(key, signal)] = call
        return call

    async def export(
        self, signal: str, body: bytes, cfg: OtlpSignalSettings, timeout_s: float
    ) -> ExportResult:
        try:
            key = parse_target(cfg.endpoint, cfg.certificate)
            call = self._call(key, signal)
        except OSError as exc:
            return ExportResult.permanent(f"cannot read certificate ({type(exc).__name__})")
        except Exception as exc:
            return ExportResult.permanent(f"bad grpc target ({type(exc).__name__})")
        metadata = tuple((k.lower(), v) for k, v in cfg.headers)
        compression = grpc.Compression.Gzip if cfg.compression == "gzip" else grpc.Compression.NoCompression
        try:
            response = await call(
                body, timeout=max(0.001, timeout_s), metadata=metadata, compression=compression
            )
        except aio.AioRpcError as exc:
            code = exc.code()
            if code in _RECONNECT_CODES:
                self._stale.add(key)
            if code in RETRYABLE_CODES:
                return ExportResult.retryable(f"grpc {code.name}", retry_after_from(exc))
            return ExportResult.permanent(f"grpc {code.name}")
        except Exception as exc:
            self._stale.add(key)
            return ExportResult.retryable(f"grpc error ({type(exc).__name__})")
        try:
            rejected, message = partial_success(bytes(response or b""))
        except ValueError:  # not a protobuf message: the data was accepted all the same
            rejected, message = 0, ""
        message = message[:200]
        return ExportResult.success(rejected=rejected, reason=message)

    async def close(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        self._calls.clear()
        for channel in channels:
            await _close(channel)


async def _close(channel: Any) -> None:
    try:
        await channel.close(grace=None)
    except Exception:
        pass
