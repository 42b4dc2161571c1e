"""What the function's own telemetry costs (issue 14): `python -m bench.function_telemetry [--quick]`.

* the function's cost to flush 10 and 100 spans per invoke with the OpenTelemetry SDK's batch
  processor + OTLP/HTTP exporter, to the extension's receiver vs to a backend 50 ms away (what
  the function pays without a local receiver);
* the receiver's throughput of spans with none lost (requests of 500 spans, posted back to back);
* the one-time cost of importing protobuf and the OTLP classes at the first intake request.

The receiver runs in its own process (`--serve`), built as the extension builds it: the real
`OtlpReceiver` on an `HttpServer`, feeding a real `Pipeline` (processor, a destination with its
bounded queue) whose exporter discards, so nothing competes for the GIL with the SDK being timed.
Results are written to bench/results/function_telemetry.json and printed as a table.
"""

from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from bench.common import free_port, summary, write_result

SLOW_BACKEND_S = 0.050


def serve(port: int) -> None:
    """The receiver process: prints "ready", then on stdin "stats" prints counts as JSON."""
    from extension.config import from_env
    from extension.exporters.base import ExportResult
    from extension.exporters.destination import Destination
    from extension.lifecycle.invocation_tracker import InvocationTracker
    from extension.pipeline import Pipeline
    from extension.processors.processor import TelemetryProcessor
    from extension.signals import Resource, Signals
    from extension.sources.otlp_receiver.server import OtlpReceiver
    from extension.stats import Stats

    class Discard:
        name = "discard"
        accepts = frozenset({"spans", "logs", "metrics"})
        exported = 0

        async def start(self) -> None: ...

        async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
            Discard.exported += len(signals.spans) + len(signals.logs) + len(signals.metrics)
            return ExportResult.success()

        async def shutdown(self) -> None: ...

    settings = from_env({"AWS_LAMBDA_FUNCTION_NAME": "bench", "SIDECAR_BUFFER_MAX_ITEMS": "1000000"})
    stats = Stats()
    resource = Resource({"service.name": "bench", "faas.name": "bench"})
    processor = TelemetryProcessor(settings, resource, stats)
    destination = Destination(
        Discard(), settings.pipeline, settings.exporters.retry, stats, resource=resource
    )
    pipeline = Pipeline(processor, [destination], InvocationTracker(), stats)

    async def main() -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.setblocking(False)
        receiver = OtlpReceiver(sock, stats, settings.receiver.max_bytes, resource)
        await receiver.start()
        receiver.attach(pipeline.ingest_function)
        loop = asyncio.get_running_loop()
        print("ready", flush=True)

        async def flusher() -> None:  # as the lifecycle does at flush points
            while True:
                await pipeline.pressure.wait()
                await pipeline.flush(loop.time() + 5)

        flushing = asyncio.ensure_future(flusher())
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "quit":
                break
            await pipeline.flush(loop.time() + 5)
            doc = {
                "received": stats.get("receiver_received", "traces"),
                "queued_or_exported": Discard.exported + destination.pending_items(),
                "dropped": stats.total("dropped"),
                "import_ms": receiver.import_ms,
                "rss_kb": _rss_kb(),
            }
            print(json.dumps(doc), flush=True)
        flushing.cancel()

    asyncio.run(main())


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _SlowBackend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(SLOW_BACKEND_S)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def _flush_costs(endpoint: str, spans: int, rounds: int) -> list[float]:
    """Milliseconds of `force_flush` after `spans` spans, per round (what the wrapper costs)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    tracer = provider.get_tracer("bench")
    costs = []
    for _ in range(rounds):
        with tracer.start_as_current_span("handler"):
            for i in range(spans - 1):
                with tracer.start_as_current_span(f"step {i}") as span:
                    span.set_attribute("i", i)
        started = time.perf_counter()
        provider.force_flush()
        costs.append((time.perf_counter() - started) * 1000)
    provider.shutdown()
    return costs


def _post_costs(port: int, spans: int, rounds: int) -> list[float]:
    """Milliseconds of one request of `spans` spans over a kept-alive http.client connection:
    the receiver's own share of a flush (no SDK batch processor, no `requests`)."""
    body = _request_of(spans)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    costs = []
    for _ in range(rounds):
        started = time.perf_counter()
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        reply = conn.getresponse()
        reply.read()
        costs.append((time.perf_counter() - started) * 1000)
    conn.close()
    return costs


def _request_of(spans: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    items = [
        Span(
            trace_id=(i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"span {i}",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_100_000_000 + i,
            attributes=[KeyValue(key="http.route", value=AnyValue(string_value="/orders/{id}"))],
        )
        for i in range(spans)
    ]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=items)])])
    return bytes(request.SerializeToString())


def _throughput(port: int, requests: int, per_request: int) -> tuple[float, int]:
    body = _request_of(per_request)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    for _ in range(requests):
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 200, reply.status
    elapsed = time.perf_counter() - started
    conn.close()
    return requests * per_request / elapsed, requests * per_request


def _ask(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("stats\n")
    proc.stdin.flush()
    return dict(json.loads(proc.stdout.readline()))


def _start_receiver(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.function_telemetry", "--serve", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("receiver did not start")
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("quit\n")
    proc.stdin.flush()
    proc.wait(timeout=30)


def run(quick: bool) -> dict[str, Any]:
    rounds = 100 if quick else 400
    result: dict[str, Any] = {}
    imports, growth = [], []
    for _ in range(3 if quick else 7):  # the first intake request of a fresh receiver
        port = free_port()
        proc = _start_receiver(port)
        before = _ask(proc)["rss_kb"]
        _throughput(port, 1, 1)
        after = _ask(proc)
        imports.append(after["import_ms"])
        growth.append((after["rss_kb"] - before) / 1024)
        _stop(proc)
    result["first_intake_import_ms"] = summary(imports)
    result["first_intake_rss_growth_mb"] = summary(growth)

    port = free_port()
    proc = _start_receiver(port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _flush_costs(endpoint, 10, 5)  # warm up: connection, the receiver's lazy import
        result["flush_10_receiver_ms"] = summary(_flush_costs(endpoint, 10, rounds))
        result["flush_100_receiver_ms"] = summary(_flush_costs(endpoint, 100, rounds // 2))
        result["post_10_receiver_ms"] = summary(_post_costs(port, 10, rounds))
        before = _ask(proc)
        rate, sent = _throughput(port, 40 if quick else 200, 500)
        after = _ask(proc)
        result["throughput_spans_per_s"] = rate
        result["throughput_sent"] = sent
        result["throughput_received"] = after["received"] - before["received"]
        result["throughput_dropped"] = after["dropped"] - before["dropped"]
    finally:
        _stop(proc)

    slow = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowBackend)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{slow.server_address[1]}"
        result["flush_10_backend_50ms_ms"] = summary(_flush_costs(endpoint, 10, 20 if quick else 60))
        result["flush_100_backend_50ms_ms"] = summary(_flush_costs(endpoint, 100, 10 if quick else 30))
    finally:
        slow.shutdown()
    return result


def main(argv: list[str]) -> int:
    if "--serve" in argv:
        serve(int(argv[argv.index("--serve") + 1]))
        return 0
    quick = "--quick" in argv
    result = run(quick)
    write_result("function_telemetry", result, quick)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
