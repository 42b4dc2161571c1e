"""OTLP/HTTP exporter against real loopback receivers: wire details and failure classification."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.backends.otlp_receivers import OtlpHttpReceiver, make_self_signed_cert, unused_port
from extension.config import OtlpSettings, OtlpSignalSettings
from extension.exporters.base import Outcome
from extension.exporters.http_common import classify_status, parse_retry_after
from extension.exporters.otlp import OtlpExporter
from extension.signals import Signals
from tests.exporters import samples

pytestmark = pytest.mark.integration


def sig(
    url: str, *, compression: str = "gzip", timeout_ms: int = 5000, cert: str | None = None
) -> OtlpSignalSettings:
    return OtlpSignalSettings(
        url, "http/protobuf", (("x-api-key", "secret-value"),), timeout_ms, compression, cert
    )


def settings_for(rx: OtlpHttpReceiver, **kw: object) -> OtlpSettings:
    return OtlpSettings(*(sig(rx.url(s), **kw) for s in ("traces", "metrics", "logs")))  # type: ignore[arg-type]


@pytest.fixture
def rx() -> AsyncIterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver  # type: ignore[misc]


async def export_once(settings: OtlpSettings, signals: Signals | None = None, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    exporter = OtlpExporter(settings)
    await exporter.start()
    try:
        return await exporter.export(signals or samples.signals(), samples.RESOURCE, timeout_s)
    finally:
        await exporter.shutdown()


async def test_gzip_protobuf_with_headers(rx: OtlpHttpReceiver) -> None:
    result = await export_once(settings_for(rx))
    assert result.ok
    assert {r.signal for r in rx.requests} == {"traces", "metrics", "logs"}
    for r in rx.requests:
        assert r.compressed
        assert r.headers["content-type"] == "application/x-protobuf"
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["x-api-key"] == "secret-value"
        assert r.headers["user-agent"].startswith("lambda-sidecar/")
    assert len(rx.spans()) == 2 and len(rx.logs()) == 3 and len(rx.metrics()) == 1


async def test_no_compression(rx: OtlpHttpReceiver) -> None:
    assert (await export_once(settings_for(rx, compression="none"))).ok
    assert all(not r.compressed and "content-encoding" not in r.headers for r in rx.requests)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        *[(code, "retryable") for code in (429, 502, 503, 504)],
        *[(code, "permanent") for code in (400, 401, 403, 404, 413, 500)],
    ],
)
def test_status_classification(status: int, outcome: str) -> None:
    assert classify_status(status, None).outcome.value == outcome
    assert classify_status(204, None).ok


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 120, usegmt=True)
    parsed = parse_retry_after(date, now=now)
    assert parsed is not None and 118 <= parsed <= 121
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0


async def test_503_with_retry_after_is_retryable(rx: OtlpHttpReceiver) -> None:
    rx.status(503, retry_after=3)
    result = await export_once(settings_for(rx))
    assert result.outcome is Outcome.RETRYABLE and result.retry_after == 3.0
    assert "http 503" in result.reason


async def test_429_with_http_date(rx: OtlpHttpReceiver) -> None:
    rx.status(429, retry_after=email.utils.formatdate(time.time() + 60, usegmt=True))
    result = await export_once(settings_for(rx))
    assert result.outcome is Outcome.RETRYABLE
    assert result.retry_after is not None and 50 <= result.retry_after <= 61


async def test_400_is_permanent(rx: OtlpHttpReceiver) -> None:
    rx.status(400)
    assert (await export_once(settings_for(rx))).outcome is Outcome.PERMANENT


async def test_partial_success_counts_rejected(rx: OtlpHttpReceiver) -> None:
    rx.partial_success(rejected=1)
    result = await export_once(settings_for(rx))
    assert result.ok and result.rejected == 3  # one per signal


async def test_hanging_backend_times_out_at_the_configured_timeout(rx: OtlpHttpReceiver) -> None:
    rx.hang()
    start = time.monotonic()
    result = await export_once(settings_for(rx, timeout_ms=200), timeout_s=30)
    assert result.outcome is Outcome.RETRYABLE and "timeout" in result.reason
    assert time.monotonic() - start < 10  # generous: bounded, not the 30 s the caller allowed


async def test_absent_backend_is_retryable() -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1/traces"
    settings = OtlpSettings(sig(url), sig(url), sig(url))
    result = await export_once(settings)
    assert result.outcome is Outcome.RETRYABLE and "connection error" in result.reason


async def test_connection_closed_without_answer_is_retryable(rx: OtlpHttpReceiver) -> None:
    rx.close_connection()
    result = await export_once(settings_for(rx))
    assert result.outcome is Outcome.RETRYABLE


async def test_one_failing_signal_is_the_only_one_kept_for_retry() -> None:
    with OtlpHttpReceiver() as good:
        dead = f"http://127.0.0.1:{unused_port()}/v1/metrics"
        settings = OtlpSettings(sig(good.url("traces")), sig(dead), sig(good.url("logs")))
        batch = samples.signals()
        result = await export_once(settings, batch)
        assert result.outcome is Outcome.RETRYABLE
        assert result.retry == Signals(metrics=batch.metrics)
        assert len(good.spans()) == 2 and len(good.logs()) == 3


async def test_pooled_connection_broken_by_a_restart_is_transparently_redialled() -> None:
    """What a thaw looks like: the keep-alive connection from before the freeze is dead."""
    first = OtlpHttpReceiver().start()
    port = first.port
    exporter = OtlpExporter(settings_for(first))
    await exporter.start()
    try:
        assert (await exporter.export(samples.signals(), samples.RESOURCE, 5)).ok
        first.stop()
        with OtlpHttpReceiver(port=port) as second:
            result = await exporter.export(samples.signals(), samples.RESOURCE, 5)
            assert result.ok, result.reason
            assert len(second.spans()) == 2
    finally:
        await exporter.shutdown()


async def test_custom_ca_certificate(tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(str(tmp_path))
    with OtlpHttpReceiver(tls=(cert, key)) as rx:
        assert rx.endpoint.startswith("https://")
        assert (await export_once(settings_for(rx, cert=cert))).ok
        assert len(rx.spans()) == 2
        untrusted = await export_once(settings_for(rx))
        assert untrusted.outcome is Outcome.PERMANENT and "tls" in untrusted.reason
