"""The OTLP receiver over a real loopback socket: answers, rejections and counters; requests that
arrive before the pipeline is attached wait for it; a port already taken leaves it off."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from extension.signals import Resource, Signals
from extension.sources.otlp_receiver.server import OtlpReceiver, TooLarge, gunzip
from extension.sources.otlp_receiver.sockets import bind_receiver_socket
from extension.stats import Stats

WAIT_S = 30.0
MAX_BYTES = 65536
GOOD = ExportTraceServiceRequest(
    resource_spans=[
        ResourceSpans(
            scope_spans=[ScopeSpans(spans=[Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s")])]
        )
    ]
).SerializeToString()


class Running:
    def __init__(self, receiver: OtlpReceiver, stats: Stats) -> None:
        self.receiver = receiver
        self.stats = stats
        self.received: list[Signals] = []

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.receiver.port)
        fields = {"Content-Type": "application/x-protobuf", **(headers or {})}
        head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        writer.write(head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        raw = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
        head_bytes, _, payload = raw.partition(b"\r\n\r\n")
        content_type = next(
            (
                line.split(b":", 1)[1].strip()
                for line in head_bytes.split(b"\r\n")
                if line.lower().startswith(b"content-type:")
            ),
            b"",
        )
        return int(head_bytes.split(b" ", 2)[1]), payload, content_type


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


@pytest.fixture
async def receiver() -> AsyncIterator[Running]:
    stats = Stats()
    rx = OtlpReceiver(_socket(), stats, MAX_BYTES, Resource({"faas.name": "fn"}))
    running = Running(rx, stats)
    await rx.start()
    rx.attach(running.received.append)
    yield running
    await rx.shutdown(asyncio.get_running_loop().time() + 1)


async def test_rejections_keep_their_status_and_counter(receiver: Running) -> None:
    cases = [
        ("/v1/other", GOOD, {}, "POST", 404, "path"),
        ("/v1/traces", GOOD, {}, "GET", 405, "method"),
        ("/v1/traces", GOOD, {"Content-Type": "text/plain"}, "POST", 415, "content_type"),
        ("/v1/traces", GOOD, {"Content-Encoding": "zstd"}, "POST", 415, "content_encoding"),
        ("/v1/traces", b"not gzip", {"Content-Encoding": "gzip"}, "POST", 400, "bad_gzip"),
        (
            "/v1/traces",
            gzip.compress(b"\0" * (MAX_BYTES + 1)),
            {"Content-Encoding": "gzip"},
            "POST",
            413,
            "too_large",
        ),
        ("/v1/traces", b"\xff\xff", {}, "POST", 400, "malformed"),
        ("/v1/metrics", b"[1]", {"Content-Type": "application/json"}, "POST", 400, "malformed"),
    ]
    for path, body, headers, method, status, reason in cases:
        got, _, _ = await receiver.post(path, body, headers, method)
        assert got == status, (path, headers, method)
        assert receiver.stats.get("receiver_rejected", reason) >= 1, reason
    assert receiver.received == []


async def test_accepted_requests_answer_in_their_own_content_type(receiver: Running) -> None:
    status, body, ctype = await receiver.post("/v1/traces", gzip.compress(GOOD), {"Content-Encoding": "gzip"})
    assert (status, body, ctype) == (200, b"", b"application/x-protobuf")
    doc = {
        "resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}, "traceId": ""}]}]}]
    }
    status, body, ctype = await receiver.post(
        "/v1/logs", json.dumps(doc).encode(), {"Content-Type": "application/json; charset=utf-8"}
    )
    assert (status, json.loads(body), ctype) == (200, {}, b"application/json")
    assert [len(s.spans) for s in receiver.received] == [1, 0]
    assert receiver.received[1].logs[0].body == "hi"
    assert receiver.stats.get("receiver_received", "traces") == 1
    assert receiver.receiver.import_ms is not None


async def test_a_request_before_the_pipeline_exists_waits_for_it() -> None:
    stats = Stats()
    rx = OtlpReceiver(_socket(), stats, MAX_BYTES, Resource({}))
    running = Running(rx, stats)
    await rx.start()
    try:
        pending = asyncio.ensure_future(running.post("/v1/traces", GOOD))
        for _ in range(100):  # let the request reach the handler, which must wait
            await asyncio.sleep(0)
        assert not pending.done()
        rx.attach(running.received.append)
        status, _, _ = await asyncio.wait_for(pending, WAIT_S)
        assert status == 200 and len(running.received) == 1
        rx.stop_intake()
        assert (await running.post("/v1/traces", GOOD))[0] == 503
    finally:
        await rx.shutdown(asyncio.get_running_loop().time() + 1)


def test_gunzip_is_bounded() -> None:
    assert gunzip(gzip.compress(b"x" * 10), 10) == b"x" * 10
    with pytest.raises(TooLarge):
        gunzip(gzip.compress(b"x" * 11), 10)
    with pytest.raises(ValueError):
        gunzip(gzip.compress(b"x" * 10)[:-4], 100)


def test_a_taken_port_leaves_the_receiver_off_with_a_reason() -> None:
    taken = _socket()
    try:
        problems: list[str] = []
        assert bind_receiver_socket(taken.getsockname()[1], problems) is None
        assert "already in use" in problems[0]
    finally:
        taken.close()


async def test_grpc_front_relays_to_a_grpc_server_started_at_the_first_connection() -> None:
    import grpc.aio
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    from extension.sources.otlp_receiver.grpc_front import GrpcFront

    stats = Stats()
    rx = OtlpReceiver(_socket(), stats, MAX_BYTES, Resource({}))
    received: list[Signals] = []
    await rx.start()
    rx.attach(received.append)
    front = GrpcFront(_socket(), rx, stats, MAX_BYTES)
    await front.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            reply = await asyncio.wait_for(export(GOOD), WAIT_S)
            assert ExportTraceServiceResponse.FromString(reply) == ExportTraceServiceResponse()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(export(b"\xff\xff"), WAIT_S)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(export(b"\x0a" + b"\x00" * (MAX_BYTES + 10)), WAIT_S)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [len(s.spans) for s in received] == [1]
        assert stats.get("receiver_rejected", "malformed") == 1
    finally:
        await front.shutdown(asyncio.get_running_loop().time() + 1)
        await rx.shutdown(asyncio.get_running_loop().time() + 1)


async def test_grpc_front_without_grpcio_closes_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    from extension.sources.otlp_receiver.grpc_front import GrpcFront

    stats = Stats()
    rx = OtlpReceiver(_socket(), stats, MAX_BYTES, Resource({}))
    front = GrpcFront(_socket(), rx, stats, MAX_BYTES)

    async def no_grpcio() -> int:
        raise ImportError("grpc")

    monkeypatch.setattr(front, "_start_grpc", no_grpcio)
    await front.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", front.port)
        assert await asyncio.wait_for(reader.read(), WAIT_S) == b""  # closed at once
        writer.close()
        assert stats.get("receiver_rejected", "grpc_unavailable") == 1
    finally:
        await front.shutdown(asyncio.get_running_loop().time() + 1)


def test_a_failed_start_closes_the_receiver_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle fallback serves nothing: the function's exports are refused at once, not left
    waiting in the backlog until its SDK times out."""
    from extension import app
    from extension.cache.sockets import BoundSockets
    from extension.config import from_env
    from extension.lifecycle.registration import Registration

    async def broken(boot: app.Boot) -> int:
        raise RuntimeError("a bug of ours")

    async def idle(boot: app.Boot) -> int:
        return 0

    monkeypatch.setattr(app, "_run", broken)
    monkeypatch.setattr(app, "_idle", idle)
    http_sock, grpc_sock = _socket(), _socket()
    boot = app.Boot(
        settings=from_env({}),
        registration=Registration("id", "fn", "$LATEST", "app.handler", None),
        runtime_api="127.0.0.1:1",
        telemetry_sock=None,
        cache_sockets=BoundSockets(),
        started_monotonic=0.0,
        register_ms=0.0,
        receiver_sock=http_sock,
        receiver_grpc_sock=grpc_sock,
    )
    assert app.run(boot) == 0
    assert http_sock.fileno() == -1 and grpc_sock.fileno() == -1


async def test_refusals_carry_a_google_rpc_status_in_the_request_encoding(receiver: Running) -> None:
    from google.protobuf.descriptor_pb2 import DescriptorProto, FieldDescriptorProto, FileDescriptorProto
    from google.protobuf.descriptor_pool import DescriptorPool
    from google.protobuf.message_factory import GetMessageClass

    # google.rpc.Status (code = 1, message = 2), declared here so the test needs no extra package
    pool = DescriptorPool()
    status_proto = DescriptorProto(
        name="Status",
        field=[
            FieldDescriptorProto(name="code", number=1, type=FieldDescriptorProto.TYPE_INT32, label=1),
            FieldDescriptorProto(name="message", number=2, type=FieldDescriptorProto.TYPE_STRING, label=1),
        ],
    )
    pool.Add(FileDescriptorProto(name="status.proto", package="google.rpc", message_type=[status_proto]))
    Status = GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))

    status, body, ctype = await receiver.post("/v1/traces", b"\xff\xff")
    assert (status, ctype) == (400, b"application/x-protobuf")
    decoded = Status.FromString(body)
    assert decoded.code == 3 and "not an OTLP/protobuf traces request" in decoded.message
    status, body, ctype = await receiver.post("/v1/logs", b"{", {"Content-Type": "application/json"})
    assert (status, ctype, json.loads(body)["code"]) == (400, b"application/json", 3)
