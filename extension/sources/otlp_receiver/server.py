"""The OTLP/HTTP receiver: the function's own spans, metrics and logs on 127.0.0.1:4318.

What the OTLP/HTTP specification asks of a server (https://opentelemetry.io/docs/specs/otlp/#otlphttp):
`POST /v1/traces`, `/v1/metrics`, `/v1/logs`; `application/x-protobuf` or `application/json`,
optionally gzip-compressed; the answer in the request's content type, as soon as the records are
queued (the function never waits for a backend), with a `partial_success` when some were
rejected. Malformed bodies get 400, bodies over the limit (before or after gzip) 413, other
content types or encodings 415, other paths 404, other methods 405; every rejection is counted
(`receiver_rejected{reason}`), every rejected record too (`dropped{receiver_invalid}`).

Served from the moment the cache endpoints are (a function may export during its own init). The
pipeline is built a little later, so a request arriving first waits for it (bounded; 503 after
that, which the SDK retries). protobuf and the OTLP classes are imported at the first request,
not before: a function without instrumented code never pays for them.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import time
import zlib
from collections.abc import Callable, Mapping
from types import ModuleType

from extension.exporters.protowire import LEN, VARINT, length_delimited, tag, varint
from extension.http.messages import InvalidHeader, Request, Response
from extension.http.server import HttpServer
from extension.log import get_logger
from extension.signals import AttrValue, Resource, Signals
from extension.stats import Stats

log = get_logger("receiver")

PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
PROTOBUF, JSON = "application/x-protobuf", "application/json"
#: Seconds a request that arrives before the pipeline is built waits for it.
READY_WAIT_S = 5.0
SHUTDOWN_GRACE_S = 0.1
#: Resource attributes of ours that complete the function's resource when it lacks them.
MERGED_PREFIXES = ("faas.", "cloud.")


#: HTTP status -> google.rpc.Code (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto).
_RPC_CODES = {400: 3, 413: 8, 415: 3, 503: 14}  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE
_RPC_UNKNOWN = 2


def rpc_status(code: int, message: str) -> bytes:
    """A `google.rpc.Status` message (code 1, message 2): written with our protobuf writer, as
    every OTLP message we send (extension/exporters/protowire.py); never parsed by hand."""
    text = message.encode()
    return tag(1, VARINT) + varint(code) + length_delimited(tag(2, LEN), text)


class TooLarge(ValueError):
    pass


class Outcome:
    """What `OtlpReceiver.intake` did: 200 with the Export*ServiceResponse bytes, or a refusal
    (400 malformed, 503 not ready / shutting down) with its counter reason and message."""

    __slots__ = ("body", "message", "reason", "status")

    def __init__(self, status: int, reason: str = "", message: str = "", body: bytes = b"") -> None:
        self.status, self.reason, self.message, self.body = status, reason, message, body


def gunzip(body: bytes, limit: int) -> bytes:
    """The decompressed body, at most `limit` bytes (TooLarge beyond: a small gzip body can
    expand a thousandfold); ValueError when it is not gzip."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValueError(str(exc)) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge("decompressed body too large")
    if not inflater.eof:
        raise ValueError("truncated gzip body")
    return out


def merge_resource(ours: Resource) -> Callable[[Mapping[str, AttrValue]], Resource]:
    """The function's resource with ours merged in for what it lacks: `faas.*` and `cloud.*`
    (the function's SDK rarely detects them), and `service.name` when the SDK fell back to its
    `unknown_service` default (https://opentelemetry.io/docs/specs/semconv/resource/#service)."""
    extra = {k: v for k, v in ours.attributes.items() if k.startswith(MERGED_PREFIXES)}
    service = ours.attributes.get("service.name")

    def merge(theirs: Mapping[str, AttrValue]) -> Resource:
        attrs = dict(theirs)
        for key, value in extra.items():
            attrs.setdefault(key, value)
        current = attrs.get("service.name")
        if service is not None and (not isinstance(current, str) or current.startswith("unknown_service")):
            attrs["service.name"] = service
        return Resource(attrs)

    return merge


class OtlpReceiver:
    """Lifecycle: construct (no I/O) → `await start()` → `attach(sink)` once the pipeline exists →
    `stop_intake()` → `await shutdown()`."""

    def __init__(
        self,
        sock: socket.socket,
        stats: Stats,
        max_bytes: int,
        resource: Resource,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._sock = sock
        self._stats = stats
        self._max_bytes = max_bytes
        self._merge = merge_resource(resource)
        self._clock_ns = clock_ns
        self._sink: Callable[[Signals], None] | None = None
        self._ready = asyncio.Event()
        self._accepting = True
        self._decode: ModuleType | None = None
        self._converter: object | None = None
        #: Milliseconds the first intake request spent importing protobuf and the OTLP classes.
        self.import_ms: float | None = None
        self._server = HttpServer(
            self._handle, name="receiver", stats=stats, counter="receiver_rejected", max_body=max_bytes
        )
        self._started = False

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        self._started = True
        await self._server.start(self._sock)

    def attach(self, sink: Callable[[Signals], None]) -> None:
        """Records go to `sink` (Pipeline.ingest_function) from now on."""
        self._sink = sink
        self._ready.set()

    def preload(self) -> None:
        """Load OTLP decoding now (a blocking import of ~40 ms): for a function known to be
        instrumented, so its first flush does not wait for it."""
        self._decoder()

    def stop_intake(self) -> None:
        self._accepting = False

    async def shutdown(self, deadline: float) -> None:
        """Requests in progress get `SHUTDOWN_GRACE_S`, at most until `deadline` (loop time).
        Idempotent; does nothing before `start`."""
        if self._started:
            self._started = False
            grace_end = asyncio.get_running_loop().time() + SHUTDOWN_GRACE_S
            await self._server.shutdown(min(deadline, grace_end))

    def _decoder(self) -> tuple[ModuleType, object]:
        if self._decode is None:
            started = time.perf_counter()
            module = importlib.import_module("extension.sources.otlp_receiver.decode")
            self.import_ms = (time.perf_counter() - started) * 1000
            self._converter = module.Converter(self._merge, self._clock_ns)
            self._decode = module
            log.debug("OTLP decoding loaded in %.1f ms at the first intake request", self.import_ms)
        assert self._converter is not None
        return self._decode, self._converter

    def _reject(self, reason: str, status: int, message: str, is_json: bool | None) -> Response:
        """A refusal, counted. Its body is a `google.rpc.Status` in the request's encoding, as OTLP/HTTP
        asks (https://opentelemetry.io/docs/specs/otlp/#failures-1); plain text when the request
        was neither protobuf nor JSON (`is_json` None)."""
        self._stats.add("receiver_rejected", label=reason)
        code = _RPC_CODES.get(status, _RPC_UNKNOWN)
        if is_json is None:
            return Response.text(message, status)
        if is_json:
            return Response.json({"code": code, "message": message}, status)
        return Response(status, rpc_status(code, message), PROTOBUF)

    async def _handle(self, request: Request) -> Response:
        signal = PATHS.get(request.path)
        if signal is None:
            self._stats.add("receiver_rejected", label="path")
            return Response.text("not found: OTLP paths are /v1/traces, /v1/metrics, /v1/logs", 404)
        if request.method != "POST":
            return self._reject("method", 405, "only POST is accepted", None)
        try:
            content_type = request.content_type
            encoding = request.headers.get("Content-Encoding", "").strip().lower()
        except InvalidHeader:
            content_type, encoding = "", ""
        if content_type not in (PROTOBUF, JSON):
            return self._reject(
                "content_type", 415, "content type must be application/x-protobuf or application/json", None
            )
        is_json = content_type == JSON
        body = request.body
        if encoding == "gzip":
            try:
                body = gunzip(body, self._max_bytes)
            except TooLarge:
                return self._reject("too_large", 413, "decompressed body too large", is_json)
            except ValueError:
                return self._reject("bad_gzip", 400, "body is not valid gzip", is_json)
        elif encoding not in ("", "identity"):
            return self._reject("content_encoding", 415, "content encoding must be gzip or identity", is_json)
        outcome = await self.intake(signal, body, is_json)
        if outcome.status != 200:
            return self._reject(outcome.reason, outcome.status, outcome.message, is_json)
        return Response(200, outcome.body, JSON if is_json else PROTOBUF)

    async def intake(self, signal: str, body: bytes, is_json: bool) -> Outcome:
        """Decode one export request and queue its records; shared by OTLP/HTTP and OTLP/gRPC.
        A refusal is not counted here: the caller counts it with the status it answers."""
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), READY_WAIT_S)
            except TimeoutError:
                return Outcome(503, "not_ready", "starting: retry")
        if not self._accepting or self._sink is None:
            return Outcome(503, "shutdown", "shutting down")
        decode, converter = self._decoder()
        try:
            message = decode.parse(signal, body, is_json)
        except decode.BadRequest as exc:
            return Outcome(400, "malformed", str(exc))
        decoded = converter.convert(signal, message)  # type: ignore[attr-defined]
        self._stats.add("receiver_received", decoded.received, signal)
        if decoded.rejected:
            self._stats.dropped("receiver_invalid", decoded.rejected)
        self._sink(decoded.signals)
        return Outcome(200, body=decode.response(signal, decoded.rejected, decoded.message, is_json))

    def count_rejection(self, reason: str) -> None:
        self._stats.add("receiver_rejected", label=reason)
