"""HTTP JSON exporter: raw and otel formats, batch splitting, gzip, headers, partial delivery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.backends.otlp_receivers import OtlpHttpReceiver
from extension.config import HttpJsonSettings
from extension.exporters.base import Outcome
from extension.exporters.http_json import HttpJsonExporter, chunks
from extension.exporters.queue import item_count
from extension.signals import Signals
from tests.exporters import samples

pytestmark = pytest.mark.integration


@pytest.fixture
def rx() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver


def raw_events(n: int) -> Signals:
    return Signals(
        raw_events=tuple(
            {"time": "2024-01-01T00:00:00.000Z", "type": "platform.report", "record": {"requestId": f"r{i}"}}
            for i in range(n)
        )
    )


async def export(settings: HttpJsonSettings, signals: Signals):  # type: ignore[no-untyped-def]
    exporter = HttpJsonExporter(settings)
    await exporter.start()
    try:
        return await exporter.export(signals, samples.RESOURCE, 5)
    finally:
        await exporter.shutdown()


def test_chunks_split_by_max_batch() -> None:
    s = samples.signals(n_spans=2, n_logs=3, n_metrics=4)
    parts = chunks(s, 4, raw=False)
    assert [item_count(p) for p in parts] == [4, 4, 1]
    assert sum((p for p in parts), Signals()) == Signals(s.spans, s.logs, s.metrics)
    assert [item_count(p) for p in chunks(raw_events(5), 2, raw=True)] == [2, 2, 1]


async def test_raw_events_as_received_in_batches(rx: OtlpHttpReceiver) -> None:
    settings = HttpJsonSettings(url=rx.url("/ingest"), headers=(("Authorization", "Bearer t"),), max_batch=2)
    events = raw_events(5)
    result = await export(settings, events)
    assert result.ok
    payloads = rx.json_payloads()
    assert [len(p) for p in payloads] == [2, 2, 1]
    assert [e for p in payloads for e in p] == [dict(e) for e in events.raw_events]
    for r in rx.requests:
        assert r.compressed and r.headers["content-type"] == "application/json"
        assert r.headers["authorization"] == "Bearer t"


async def test_otel_records_without_compression(rx: OtlpHttpReceiver) -> None:
    settings = HttpJsonSettings(url=rx.url("/ingest"), format="otel", compression="none", max_batch=100)
    result = await export(settings, samples.signals(n_spans=1, n_logs=2, n_metrics=1))
    assert result.ok
    (payload,) = rx.json_payloads()
    assert [r["signal"] for r in payload] == ["span", "log", "log", "metric"]
    assert payload[0]["traceId"] == samples.TRACE_ID.hex()
    assert payload[0]["resource"]["faas.name"] == "my-function"
    assert payload[1]["body"] == "line 0"
    assert payload[3]["name"] == "faas.duration" and payload[3]["unit"] == "ms"
    assert not rx.requests[0].compressed


async def test_retryable_failure_midway_keeps_the_rest(rx: OtlpHttpReceiver) -> None:
    settings = HttpJsonSettings(url=rx.url("/ingest"), max_batch=2)
    events = raw_events(5)
    rx.status(503, retry_after=2, skip=1)  # first POST accepted, then 503
    result = await export(settings, events)
    assert result.outcome is Outcome.RETRYABLE and result.retry_after == 2.0
    assert result.retry == Signals(raw_events=events.raw_events[2:])  # the delivered chunk is not kept
    assert [len(p) for p in rx.json_payloads()] == [2]
    assert len(rx.requests) == 2  # no POST after the first failure


async def test_permanent_failure(rx: OtlpHttpReceiver) -> None:
    rx.status(413)
    result = await export(HttpJsonSettings(url=rx.url("/ingest")), raw_events(3))
    assert result.outcome is Outcome.PERMANENT


def test_accepts_follow_the_format() -> None:
    assert HttpJsonExporter(HttpJsonSettings(url="http://x")).accepts == frozenset({"raw_events"})
    assert "raw_events" not in HttpJsonExporter(HttpJsonSettings(url="http://x", format="otel")).accepts
