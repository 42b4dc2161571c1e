"""Contract test: every exporter, through `Destination`, in every delivery situation.

Each harness builds one real exporter against a real target (loopback receivers, a stream, a
file) and can make that target succeed, fail retryably, fail permanently or hang. The scenarios
check the Destination contract: what is delivered, kept, dropped (with which reason) and counted.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.backends.otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver
from extension.config import (
    HttpJsonSettings,
    OtlpSettings,
    OtlpSignalSettings,
    PipelineSettings,
    RetrySettings,
)
from extension.exporters.base import Exporter, filter_signals
from extension.exporters.destination import Destination
from extension.exporters.file import FileExporter
from extension.exporters.http_json import HttpJsonExporter
from extension.exporters.otlp import OtlpExporter
from extension.exporters.queue import item_count
from extension.exporters.stdout import StdoutExporter
from extension.log import SELF_JSON_KEY
from extension.signals import MetricKind, Signals
from extension.stats import Stats
from tests.exporters import samples

pytestmark = pytest.mark.integration

RETRY = RetrySettings(initial_ms=20, max_ms=50)
PIPELINE = PipelineSettings(buffer_max_items=1000, buffer_max_bytes=1 << 20)


def batch() -> Signals:
    """Spans, logs, raw events, and measurements that each form their own series (so a receiver
    that aggregates still lets us count every measurement)."""
    metrics = tuple(
        samples.measurement("faas.duration", 5.0 + i, MetricKind.HISTOGRAM, "ms", t=i, series=f"s{i}")
        for i in range(3)
    )
    base = samples.signals(n_spans=2, n_logs=3, n_metrics=0)
    return Signals(base.spans, base.logs, metrics, base.raw_events)


def otlp_settings(endpoint: str, protocol: str, timeout_ms: int = 5000) -> OtlpSettings:
    def one(signal: str) -> OtlpSignalSettings:
        url = f"{endpoint}/v1/{signal}" if protocol == "http/protobuf" else endpoint
        return OtlpSignalSettings(url, protocol, (("x-test", "1"),), timeout_ms, "gzip", None)

    return OtlpSettings(one("traces"), one("metrics"), one("logs"))


def count_otlp(rx: OtlpHttpReceiver | OtlpGrpcReceiver) -> int:
    points = sum(dp.count for m in rx.metrics() for dp in m.histogram.data_points)
    return len(rx.spans()) + len(rx.logs()) + points


class Harness:
    name = ""
    can_hang = True
    permanent_reason = "permanent_error"

    def exporter(self) -> Exporter:
        raise NotImplementedError

    def delivered(self) -> int:
        raise NotImplementedError

    def ok(self) -> None:
        raise NotImplementedError

    def retryable(self) -> None:
        raise NotImplementedError

    def permanent(self) -> None:
        raise NotImplementedError

    def hang(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


class OtlpHttpHarness(Harness):
    name = "otlp-http"

    def __init__(self, tmp: Path) -> None:
        self.rx = OtlpHttpReceiver().start()

    def exporter(self) -> Exporter:
        return OtlpExporter(otlp_settings(self.rx.endpoint, "http/protobuf"))

    def delivered(self) -> int:
        return count_otlp(self.rx)

    def ok(self) -> None:
        self.rx.ok()

    def retryable(self) -> None:
        self.rx.status(503)

    def permanent(self) -> None:
        self.rx.status(400)

    def hang(self) -> None:
        self.rx.hang()

    def close(self) -> None:
        self.rx.stop()


class OtlpGrpcHarness(OtlpHttpHarness):
    name = "otlp-grpc"

    def __init__(self, tmp: Path) -> None:
        self.rx = OtlpGrpcReceiver().start()  # type: ignore[assignment]

    def exporter(self) -> Exporter:
        return OtlpExporter(otlp_settings(self.rx.endpoint, "grpc"))


class HttpJsonHarness(OtlpHttpHarness):
    def __init__(self, tmp: Path, fmt: str) -> None:
        super().__init__(tmp)
        self.fmt = fmt
        self.name = f"http_json-{fmt}"

    def exporter(self) -> Exporter:
        settings = HttpJsonSettings(url=self.rx.url("/ingest"), format=self.fmt, max_batch=2, timeout_ms=5000)
        return HttpJsonExporter(settings)

    def delivered(self) -> int:
        return sum(len(p) for p in self.rx.json_payloads())


class _Stream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.error: BaseException | None = None

    def write(self, s: str) -> int:
        if self.error is not None:
            raise self.error
        return super().write(s)


class StdoutHarness(Harness):
    name = "stdout"
    can_hang = False  # a synchronous write cannot be cut off by a deadline

    def __init__(self, tmp: Path) -> None:
        self.stream = _Stream()

    def exporter(self) -> Exporter:
        return StdoutExporter(("metrics", "spans", "logs"), "Test", stream=self.stream)

    def delivered(self) -> int:
        n = 0
        for line in self.stream.getvalue().splitlines():
            obj = json.loads(line)
            assert SELF_JSON_KEY in obj
            if "_aws" in obj:
                for m in obj["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                    v = obj[m["Name"]]
                    n += len(v) if isinstance(v, list) else 1
            else:
                n += 1
        return n

    def ok(self) -> None:
        self.stream.error = None

    def retryable(self) -> None:
        self.stream.error = BlockingIOError(11, "would block")

    def permanent(self) -> None:
        self.stream.error = ValueError("I/O operation on closed file")


class FileHarness(Harness):
    name = "file"
    can_hang = False
    permanent_reason = "rejected"  # a record that can never fit the size bound

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "out"
        self.dir.mkdir()
        self.path = self.dir / "signals.jsonl"
        self.max_bytes = 1 << 20
        self.exp: FileExporter | None = None

    def exporter(self) -> Exporter:
        self.exp = FileExporter(str(self.path), self.max_bytes)
        return self.exp

    def delivered(self) -> int:
        return len(self.path.read_text().splitlines()) if self.path.exists() else 0

    def ok(self) -> None:
        self.dir.mkdir(exist_ok=True)
        assert self.exp is not None
        self.exp.max_bytes = self.max_bytes

    def retryable(self) -> None:
        if self.path.exists():
            os.remove(self.path)
        os.rmdir(self.dir)  # ENOENT on open: retryable

    def permanent(self) -> None:
        assert self.exp is not None
        self.exp.max_bytes = 10  # no line fits


HARNESSES = ["otlp-http", "otlp-grpc", "http_json-raw", "http_json-otel", "stdout", "file"]


@pytest.fixture(params=HARNESSES)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    kind: str = request.param
    h: Harness
    if kind.startswith("http_json"):
        h = HttpJsonHarness(tmp_path, kind.split("-")[1])
    else:
        h = {"otlp-http": OtlpHttpHarness, "otlp-grpc": OtlpGrpcHarness, "stdout": StdoutHarness}.get(
            kind, FileHarness
        )(tmp_path)
    yield h
    h.close()


def _destination(h: Harness, stats: Stats) -> Destination:
    return Destination(h.exporter(), PIPELINE, RETRY, stats, h.name, resource=samples.RESOURCE)


def _expected(dest: Destination, signals: Signals) -> int:
    return item_count(filter_signals(signals, dest.accepts))


def _deadline(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def _after_backoff(dest: Destination) -> None:
    await asyncio.sleep(max(0.0, dest.not_before - asyncio.get_running_loop().time()))


async def test_success(harness: Harness) -> None:
    stats = Stats()
    dest = _destination(harness, stats)
    await dest.start()
    signals = batch()
    n = _expected(dest, signals)
    assert n > 0
    dest.offer(signals)
    assert dest.pending_items() == n
    await dest.flush(_deadline(5))
    assert dest.pending_items() == 0
    assert harness.delivered() == n
    assert stats.get("exported", harness.name) == n
    assert stats.total("dropped") == 0
    await dest.shutdown(_deadline(2))


async def test_retryable_failure_keeps_data_then_delivers(harness: Harness) -> None:
    stats = Stats()
    dest = _destination(harness, stats)
    await dest.start()
    signals = batch()
    n = _expected(dest, signals)
    harness.retryable()
    dest.offer(signals)
    await dest.flush(_deadline(5))
    assert dest.pending_items() == n
    assert stats.get("export_failed", harness.name) >= 1
    assert stats.total("dropped") == 0
    harness.ok()
    await _after_backoff(dest)
    await dest.flush(_deadline(5))
    assert dest.pending_items() == n  # failing: flush points no longer wait for it
    await dest.probe(_deadline(5), asyncio.get_running_loop().create_future())
    assert dest.pending_items() == 0 and not dest.failing
    assert harness.delivered() == n
    assert stats.get("exported", harness.name) == n
    await dest.shutdown(_deadline(2))


async def test_permanent_failure_drops_with_reason(harness: Harness) -> None:
    stats = Stats()
    dest = _destination(harness, stats)
    await dest.start()
    signals = batch()
    n = _expected(dest, signals)
    harness.permanent()
    dest.offer(signals)
    await dest.flush(_deadline(5))
    assert dest.pending_items() == 0
    assert harness.delivered() == 0
    assert stats.get("dropped", harness.permanent_reason) == n
    assert stats.get("destination_dropped", f"{harness.name}:{harness.permanent_reason}") == n
    # the destination keeps working for later data
    harness.ok()
    dest.offer(signals)
    await dest.flush(_deadline(5))
    assert harness.delivered() == n
    await dest.shutdown(_deadline(2))


async def test_timeout_is_bounded_and_keeps_data(harness: Harness) -> None:
    if not harness.can_hang:
        pytest.skip(f"{harness.name} writes synchronously: nothing to time out")
    stats = Stats()
    dest = _destination(harness, stats)
    await dest.start()
    signals = batch()
    n = _expected(dest, signals)
    harness.hang()
    dest.offer(signals)
    deadline = _deadline(0.5)
    await asyncio.wait_for(dest.flush(deadline), timeout=10)  # generous: returns, never hangs
    assert dest.pending_items() == n
    assert stats.get("export_failed", harness.name) >= 1
    harness.ok()
    await _after_backoff(dest)
    await dest.flush(_deadline(5))
    assert dest.pending_items() == n  # failing: flush points no longer wait for it
    await dest.probe(_deadline(5), asyncio.get_running_loop().create_future())
    assert dest.pending_items() == 0 and not dest.failing
    assert harness.delivered() == n
    await dest.shutdown(_deadline(2))


async def test_shutdown_delivers_pending_data(harness: Harness) -> None:
    stats = Stats()
    dest = _destination(harness, stats)
    signals = batch()
    n = _expected(dest, signals)
    dest.offer(signals)  # never flushed, never started: shutdown must still deliver
    await dest.shutdown(_deadline(5))
    assert harness.delivered() == n
    assert stats.get("exported", harness.name) == n
    await dest.shutdown(_deadline(1))  # idempotent


async def test_shutdown_with_failing_backend_drops_and_counts(harness: Harness) -> None:
    stats = Stats()
    dest = _destination(harness, stats)
    await dest.start()
    signals = batch()
    n = _expected(dest, signals)
    harness.retryable()
    dest.offer(signals)
    await asyncio.wait_for(dest.shutdown(_deadline(0.3)), timeout=10)
    assert dest.pending_items() == 0
    assert stats.get("dropped", "shutdown_deadline") == n
    assert stats.get("destination_dropped", f"{harness.name}:shutdown_deadline") == n
    dest.offer(signals)  # after shutdown: counted, not queued
    assert dest.pending_items() == 0
    assert stats.get("dropped", "shutdown_deadline") == 2 * n
