"""OTLP/gRPC intake on 127.0.0.1:4317, through the socket bound before `/register`.

A `grpc.aio` server binds its own ports when it starts and cannot take over a socket bound earlier,
and importing grpcio costs every cold start time and memory a function that never exports over
gRPC should not pay. So the port is bound on the fast path like the others (connections made
during the function's init wait in its backlog), and the gRPC server is started only when the
first connection arrives, on an ephemeral loopback port; each connection to 4317 is then relayed
byte for byte to it (HTTP/2 is never parsed here, grpcio does that). Connections are long-lived
(one per exporter channel), so the relay costs one extra loopback hop per request.

The three `Export` methods (collector/{trace,metrics,logs}/v1/*_service.proto) take and return
raw bytes and go through `OtlpReceiver.intake`, like OTLP/HTTP: malformed requests are answered
INVALID_ARGUMENT, requests over the limit RESOURCE_EXHAUSTED (by grpcio), UNAVAILABLE while
starting or shutting down; every refusal counted. Without grpcio in the layer, a connection is
closed at once and counted (`receiver_rejected{grpc_unavailable}`): the function's exporter
reports the failure, and OTLP/HTTP on 4318 still works.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from extension.log import get_logger
from extension.sources.otlp_receiver.server import OtlpReceiver
from extension.stats import Stats

log = get_logger("receiver")

SERVICES = {
    "opentelemetry.proto.collector.trace.v1.TraceService": "traces",
    "opentelemetry.proto.collector.metrics.v1.MetricsService": "metrics",
    "opentelemetry.proto.collector.logs.v1.LogsService": "logs",
}
RELAY_CHUNK = 256 * 1024
SHUTDOWN_GRACE_S = 0.1


class GrpcFront:
    """Lifecycle: construct (no I/O) → `await start()` → `await shutdown()`."""

    def __init__(self, sock: socket.socket, receiver: OtlpReceiver, stats: Stats, max_bytes: int) -> None:
        self._sock = sock
        self._receiver = receiver
        self._stats = stats
        self._max_bytes = max_bytes
        self._listener: asyncio.Server | None = None
        self._grpc_server: Any = None
        self._grpc_port: int | None = None
        self._starting: asyncio.Lock | None = None
        self._unavailable = False
        self._relays: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        self._starting = asyncio.Lock()
        self._listener = await asyncio.start_server(self._relay, sock=self._sock)

    async def shutdown(self, deadline: float) -> None:
        """Stop relaying; the gRPC server gets `SHUTDOWN_GRACE_S`, at most until `deadline` (loop
        time). Idempotent; does nothing before `start`."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for task in list(self._relays):
            task.cancel()
        if self._grpc_server is not None:
            server, self._grpc_server = self._grpc_server, None
            remaining = deadline - asyncio.get_running_loop().time()
            await server.stop(max(0.0, min(SHUTDOWN_GRACE_S, remaining)))

    async def _backend_port(self) -> int | None:
        """The gRPC server's port, starting it at the first connection; None without grpcio."""
        assert self._starting is not None
        async with self._starting:
            if self._grpc_port is None and not self._unavailable:
                try:
                    self._grpc_port = await self._start_grpc()
                except ImportError:
                    self._unavailable = True
                    log.warning(
                        "OTLP/gRPC export to port %d refused: grpcio is not in the layer (OTLP/HTTP on the "
                        "receiver's HTTP port works)",
                        self.port,
                    )
        return self._grpc_port

    async def _start_grpc(self) -> int:
        import grpc
        import grpc.aio

        def handler(signal: str) -> Any:
            async def export(request: bytes, context: Any) -> bytes:
                outcome = await self._receiver.intake(signal, request, is_json=False)
                if outcome.status == 200:
                    return outcome.body
                self._receiver.count_rejection(outcome.reason)
                code = (
                    grpc.StatusCode.INVALID_ARGUMENT if outcome.status == 400 else grpc.StatusCode.UNAVAILABLE
                )
                await context.abort(code, outcome.message)
                raise AssertionError("abort returns only by raising")  # pragma: no cover

            return grpc.unary_unary_rpc_method_handler(export)  # raw bytes in and out

        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self._max_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        for service, signal in SERVICES.items():
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": handler(signal)}),)
            )
        port = int(server.add_insecure_port("127.0.0.1:0"))
        self._grpc_server = server  # before it starts: a shutdown meanwhile still stops it
        await server.start()
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._relays.add(task)
        try:
            port = await self._backend_port()
            if port is None:
                self._stats.add("receiver_rejected", label="grpc_unavailable")
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
            finally:
                up_writer.close()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._relays.discard(task)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until `source` ends, then half-close `sink` (HTTP/2 closes both ways itself)."""
    try:
        while data := await source.read(RELAY_CHUNK):
            sink.write(data)
            await sink.drain()
    finally:
        if sink.can_write_eof() and not sink.is_closing():
            try:
                sink.write_eof()
            except OSError:
                pass
