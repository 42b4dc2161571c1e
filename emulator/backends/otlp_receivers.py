"""Real OTLP receivers on loopback, for any test that needs a backend.

Both receivers run in background threads of the test process, bind ``127.0.0.1`` on a free port,
decode real protobuf (gzip included) and keep what they received. They work the same from a
synchronous test, from an async test (the loop is never blocked) and for an extension running in
a subprocess (it just sends to ``receiver.endpoint``).

Typical use::

    from emulator.backends.otlp_receivers import OtlpHttpReceiver, OtlpGrpcReceiver, attrs

    with OtlpHttpReceiver() as receiver:
        env = {**base_env, **receiver.env()}    # OTEL_EXPORTER_OTLP_ENDPOINT/PROTOCOL
        ...run the extension / emulator...
        spans = receiver.wait_for_spans(1)      # list of opentelemetry.proto Span objects
        assert attrs(spans[0].attributes)["faas.invocation_id"] == request_id

    receiver.status(503, retry_after=1)         # answer 503 with Retry-After: 1 from now on
    receiver.status(503, times=2)               # ... only for the next 2 requests, then ok again
    receiver.status(503, skip=1)                # ... after answering one request normally
    receiver.hang()                             # accept the request, never answer (until stop)
    receiver.close_connection()                 # drop the connection without an answer
    receiver.partial_success(rejected=1)        # 200 with partial_success.rejected_* = 1
    receiver.ok()                               # back to normal

What is decoded: ``spans()``, ``logs()``, ``metrics()`` (proto objects from *accepted* requests,
i.e. answered 2xx / OK), ``resource_attributes()``, ``json_payloads()`` (bodies of non-OTLP JSON
POSTs, for the HTTP JSON exporter), and ``requests`` (every attempt, accepted or not, with headers
and the raw/decompressed body). ``attrs(kvs)`` turns OTLP KeyValues into a plain dict.
``unused_port()`` gives an address where nothing listens (the "absent backend").
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

# quiet gRPC's C core (INFO lines on every GOAWAY) unless a test run asks for more
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

SIGNAL_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
REQUEST_TYPES: dict[str, Any] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
RESPONSE_TYPES: dict[str, Any] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
_PARTIAL_FIELD = {
    "traces": "rejected_spans",
    "metrics": "rejected_data_points",
    "logs": "rejected_log_records",
}


def unused_port() -> int:
    """A loopback port with nothing listening (bound then released; fine for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def any_value(v: Any) -> Any:
    """OTLP AnyValue → Python value (str, bool, int, float, bytes, list, dict or None)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attrs(v.kvlist_value.values)
    return getattr(v, which)


def attrs(kvs: Any) -> dict[str, Any]:
    """Repeated OTLP KeyValue → plain dict."""
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass
class Received:
    """One request as it arrived."""

    signal: str  # "traces" | "metrics" | "logs" | "other"
    path: str
    headers: dict[str, str]  # lower-cased names (gRPC: the call metadata)
    body: bytes  # decompressed
    compressed: bool
    message: Any = None  # the decoded Export*ServiceRequest, for OTLP requests
    json: Any = None  # the decoded JSON body, for other POSTs
    accepted: bool = False  # answered 2xx / OK


@dataclass
class Behaviour:
    kind: str = "ok"  # ok | status | hang | close | partial
    status: int = 200
    retry_after: float | str | None = None
    rejected: int = 0
    message: str = ""
    grpc_code: Any = None
    times: int | None = None  # None: until changed
    skip: int = 0  # answer this many requests normally first


@dataclass
class _State:
    lock: threading.Condition = field(default_factory=threading.Condition)
    requests: list[Received] = field(default_factory=list)
    behaviour: Behaviour = field(default_factory=Behaviour)
    release: threading.Event = field(default_factory=threading.Event)


class _ReceiverBase:
    """Behaviour switches and decoded views shared by both receivers."""

    hang_limit_s = 60.0

    def __init__(self) -> None:
        self._state = _State()

    # -- behaviour -----------------------------------------------------------------------------

    def _set(self, behaviour: Behaviour) -> None:
        with self._state.lock:
            self._state.behaviour = behaviour
            if behaviour.kind != "hang":
                self._state.release.set()  # let hanging handlers go
                self._state.release = threading.Event()

    def ok(self) -> None:
        self._set(Behaviour())

    def status(
        self, code: int, retry_after: float | str | None = None, times: int | None = None, skip: int = 0
    ) -> None:
        """HTTP: answer `code` (with `Retry-After`). gRPC: 503→UNAVAILABLE, 429→RESOURCE_EXHAUSTED,
        400→INVALID_ARGUMENT, else INTERNAL (or pass a `grpc.StatusCode` to `grpc_status`).
        `times`: only for that many requests; `skip`: after answering that many normally."""
        self._set(Behaviour("status", code, retry_after, times=times, skip=skip))

    def hang(self, times: int | None = None) -> None:
        """Accept requests and never answer (released by `ok()`/`stop()` or after 60 s)."""
        self._set(Behaviour("hang", times=times))

    def close_connection(self, times: int | None = None) -> None:
        self._set(Behaviour("close", times=times))

    def partial_success(
        self, rejected: int, message: str = "rejected by test", times: int | None = None
    ) -> None:
        self._set(Behaviour("partial", 200, rejected=rejected, message=message, times=times))

    def _next_behaviour(self) -> tuple[Behaviour, threading.Event]:
        with self._state.lock:
            behaviour = self._state.behaviour
            release = self._state.release
            if behaviour.skip > 0:
                behaviour.skip -= 1
                return Behaviour(), release
            if behaviour.times is not None:
                behaviour.times -= 1
                if behaviour.times <= 0:
                    self._state.behaviour = Behaviour()
            return behaviour, release

    def _record(self, received: Received) -> None:
        with self._state.lock:
            self._state.requests.append(received)
            self._state.lock.notify_all()

    def _mark_accepted(self, received: Received) -> None:
        with self._state.lock:
            received.accepted = True
            self._state.lock.notify_all()

    # -- views ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.requests)

    def clear(self) -> None:
        with self._state.lock:
            self._state.requests.clear()

    def accepted(self, signal: str | None = None) -> list[Received]:
        return [r for r in self.requests if r.accepted and (signal is None or r.signal == signal)]

    def spans(self) -> list[Any]:
        return [
            s
            for r in self.accepted("traces")
            for rs in r.message.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def logs(self) -> list[Any]:
        return [
            lr
            for r in self.accepted("logs")
            for rl in r.message.resource_logs
            for sl in rl.scope_logs
            for lr in sl.log_records
        ]

    def metrics(self) -> list[Any]:
        return [
            m
            for r in self.accepted("metrics")
            for rm in r.message.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        ]

    def json_payloads(self) -> list[Any]:
        """Decoded JSON bodies of accepted non-OTLP POSTs (HTTP JSON exporter)."""
        return [r.json for r in self.accepted("other")]

    def resource_attributes(self, signal: str = "traces") -> dict[str, Any]:
        for r in self.accepted(signal):
            groups = getattr(r.message, f"resource_{'spans' if signal == 'traces' else signal}")
            for g in groups:
                return attrs(g.resource.attributes)
        return {}

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        with self._state.lock:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._state.lock.wait(min(left, 0.1))
        return True

    def _wait_items(self, get: Callable[[], list[Any]], n: int, timeout: float) -> list[Any]:
        self.wait_until(lambda: len(get()) >= n, timeout)
        return get()

    def wait_for_spans(self, n: int = 1, timeout: float = 10.0) -> list[Any]:
        return self._wait_items(self.spans, n, timeout)

    def wait_for_logs(self, n: int = 1, timeout: float = 10.0) -> list[Any]:
        return self._wait_items(self.logs, n, timeout)

    def wait_for_metrics(self, n: int = 1, timeout: float = 10.0) -> list[Any]:
        return self._wait_items(self.metrics, n, timeout)

    def wait_for_requests(self, n: int = 1, timeout: float = 10.0) -> list[Received]:
        return self._wait_items(lambda: self.requests, n, timeout)


# ------------------------------------------------------------------------------------------------
# OTLP/HTTP
# ------------------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        compressed = headers.get("content-encoding", "") == "gzip"
        body = gzip.decompress(raw) if compressed else raw
        signal = SIGNAL_PATHS.get(self.path.split("?")[0], "other")
        received = Received(signal, self.path, headers, body, compressed)
        try:
            if signal != "other":
                received.message = REQUEST_TYPES[signal].FromString(body)
            else:
                received.json = json.loads(body) if body else None
        except Exception:
            receiver._record(received)
            self._reply(400, b"undecodable body", "text/plain")
            return
        receiver._record(received)
        behaviour, release = receiver._next_behaviour()
        if behaviour.kind == "hang":
            release.wait(receiver.hang_limit_s)
            self.close_connection = True
            return
        if behaviour.kind == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if behaviour.kind == "status":
            extra = {"Retry-After": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
            self._reply(behaviour.status, b"", "text/plain", extra)
            return
        receiver._mark_accepted(received)  # before answering: the client may look right after the reply
        if signal == "other":
            self._reply(200, b"{}", "application/json")
        else:
            response = RESPONSE_TYPES[signal]()
            if behaviour.kind == "partial":
                setattr(response.partial_success, _PARTIAL_FIELD[signal], behaviour.rejected)
                response.partial_success.error_message = behaviour.message
            self._reply(200, response.SerializeToString(), "application/x-protobuf")

    def _reply(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    receiver: OtlpHttpReceiver

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        super().__init__(address, handler)
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()

    def drop_connections(self) -> None:
        """Close established keep-alive connections too, as a real backend restart would."""
        with self.lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class OtlpHttpReceiver(_ReceiverBase):
    """OTLP/HTTP (protobuf) receiver; also accepts any JSON POST on other paths (HTTP JSON tests).

    `tls=(certfile, keyfile)` serves HTTPS instead (see `make_self_signed_cert`); `port` binds a
    given port (e.g. the port of a stopped receiver, to simulate a backend restart)."""

    def __init__(self, tls: tuple[str, str] | None = None, port: int = 0) -> None:
        super().__init__()
        self._tls = tls
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port  # 0: any free port; a fixed one lets a test "restart" the backend

    @property
    def endpoint(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, signal: str) -> str:
        """`traces` → `<endpoint>/v1/traces`; any other string is used as the path."""
        path = f"/v1/{signal}" if signal in REQUEST_TYPES else signal
        return self.endpoint + path

    def env(self) -> dict[str, str]:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}

    def start(self) -> OtlpHttpReceiver:
        self._server = _HttpServer(("127.0.0.1", self.port), _Handler)
        self._server.receiver = self
        if self._tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self._tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="otlp-http-rx", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.drop_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OtlpHttpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------------
# OTLP/gRPC
# ------------------------------------------------------------------------------------------------


def _grpc_code(status: int) -> Any:
    import grpc

    return {
        503: grpc.StatusCode.UNAVAILABLE,
        429: grpc.StatusCode.RESOURCE_EXHAUSTED,
        504: grpc.StatusCode.DEADLINE_EXCEEDED,
        400: grpc.StatusCode.INVALID_ARGUMENT,
        401: grpc.StatusCode.UNAUTHENTICATED,
        403: grpc.StatusCode.PERMISSION_DENIED,
    }.get(status, grpc.StatusCode.INTERNAL)


def _retry_info_trailer(seconds: float) -> tuple[tuple[str, bytes], ...]:
    from google.protobuf import any_pb2, duration_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]

    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="retry later", details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


class OtlpGrpcReceiver(_ReceiverBase):
    """OTLP/gRPC receiver implementing the three collector services of opentelemetry-proto.

    Failure modes: `status(503|429|400|...)` maps to the gRPC code (503 → UNAVAILABLE with a
    RetryInfo trailer when `retry_after` is given), `grpc_status(code)`, `hang()`,
    `close_connection()` (answers UNAVAILABLE), `partial_success(n)`. `tls=(certfile, keyfile)`
    serves TLS (see `make_self_signed_cert`)."""

    def __init__(self, port: int = 0, tls: tuple[str, str] | None = None) -> None:
        super().__init__()
        self._server: Any = None
        self._tls = tls
        self.port = port  # 0: any free port; a fixed one lets a test "restart" the backend

    @property
    def endpoint(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}

    def grpc_status(self, code: Any, times: int | None = None) -> None:
        self._set(Behaviour("status", 0, grpc_code=code, times=times))

    def _handle(self, signal: str, request: Any, context: Any) -> Any:
        metadata = {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}
        received = Received(signal, f"grpc:{signal}", metadata, request.SerializeToString(), False, request)
        self._record(received)
        behaviour, release = self._next_behaviour()
        if behaviour.kind == "hang":
            remaining = context.time_remaining()  # the client gives up at its deadline; we linger a bit
            release.wait(
                min(self.hang_limit_s, remaining + 1.0 if remaining is not None else self.hang_limit_s)
            )
            context.abort(_grpc_code(503), "hung")
        if behaviour.kind == "close":
            context.abort(_grpc_code(503), "connection closed by test")
        if behaviour.kind == "status":
            code = behaviour.grpc_code or _grpc_code(behaviour.status)
            if behaviour.retry_after is not None:
                context.set_trailing_metadata(_retry_info_trailer(float(behaviour.retry_after)))
            context.abort(code, f"status {behaviour.status or code}")
        response = RESPONSE_TYPES[signal]()
        if behaviour.kind == "partial":
            setattr(response.partial_success, _PARTIAL_FIELD[signal], behaviour.rejected)
            response.partial_success.error_message = behaviour.message
        self._mark_accepted(received)
        return response

    def start(self) -> OtlpGrpcReceiver:
        import grpc

        receiver = self

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                return receiver._handle("traces", request, context)

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                return receiver._handle("metrics", request, context)

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                return receiver._handle("logs", request, context)

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        # The generated *_pb2_grpc modules carry no annotations: name their registrars' type here.
        registrars: list[tuple[Callable[[Any, Any], None], Any]] = [
            (trace_service_pb2_grpc.add_TraceServiceServicer_to_server, Traces()),
            (metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server, Metrics()),
            (logs_service_pb2_grpc.add_LogsServiceServicer_to_server, Logs()),
        ]
        for register, servicer in registrars:
            register(servicer, self._server)
        if self._tls:
            with open(self._tls[0], "rb") as c, open(self._tls[1], "rb") as k:
                creds = grpc.ssl_server_credentials([(k.read(), c.read())])
            self.port = self._server.add_secure_port(f"127.0.0.1:{self.port}", creds)
        else:
            self.port = self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        self._server.start()
        return self

    def stop(self) -> None:
        self._state.release.set()
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def __enter__(self) -> OtlpGrpcReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_self_signed_cert(directory: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1/localhost: returns (certfile, keyfile) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return certfile, keyfile
