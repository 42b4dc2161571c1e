"""OTLP/gRPC exporter against the real grpcio receiver: codes, deadlines, reconnects, optional grpcio."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import grpc
import pytest

from emulator.backends.otlp_receivers import (
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    make_self_signed_cert,
    unused_port,
)
from extension.config import OtlpSettings, OtlpSignalSettings
from extension.exporters.base import Outcome
from extension.exporters.otlp import OtlpExporter
from extension.exporters.otlp_grpc import parse_target
from tests.exporters import samples

pytestmark = pytest.mark.integration


def sig(endpoint: str, timeout_ms: int = 5000, protocol: str = "grpc") -> OtlpSignalSettings:
    return OtlpSignalSettings(endpoint, protocol, (("X-Api-Key", "k1"),), timeout_ms, "gzip", None)


def settings(endpoint: str, timeout_ms: int = 5000) -> OtlpSettings:
    return OtlpSettings(sig(endpoint, timeout_ms), sig(endpoint, timeout_ms), sig(endpoint, timeout_ms))


async def export_once(s: OtlpSettings, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    exporter = OtlpExporter(s)
    await exporter.start()
    try:
        return await exporter.export(samples.signals(), samples.RESOURCE, timeout_s)
    finally:
        await exporter.shutdown()


def test_parse_target() -> None:
    assert parse_target("http://collector:4317", None) == ("collector:4317", False, None)
    assert parse_target("https://collector", None) == ("collector:4317", True, None)
    assert parse_target("http://10.0.0.1:9999/ignored", "/ca.pem") == ("10.0.0.1:9999", True, "/ca.pem")
    assert parse_target("localhost:4317", None) == ("localhost:4317", False, None)
    assert parse_target("http://[::1]:4317", None) == ("[::1]:4317", False, None)


async def test_all_signals_with_metadata() -> None:
    with OtlpGrpcReceiver() as rx:
        result = await export_once(settings(rx.endpoint))
        assert result.ok, result.reason
        assert len(rx.spans()) == 2 and len(rx.logs()) == 3 and len(rx.metrics()) == 1
        assert all(r.headers["x-api-key"] == "k1" for r in rx.requests)  # lower-cased for gRPC
        assert rx.resource_attributes("logs")["faas.name"] == "my-function"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(503, Outcome.RETRYABLE), (429, Outcome.RETRYABLE), (400, Outcome.PERMANENT), (401, Outcome.PERMANENT)],
)
async def test_status_codes(status: int, outcome: Outcome) -> None:
    with OtlpGrpcReceiver() as rx:
        rx.status(status)
        result = await export_once(settings(rx.endpoint))
        assert result.outcome is outcome, result.reason


async def test_retry_info_becomes_retry_after() -> None:
    with OtlpGrpcReceiver() as rx:
        rx.status(503, retry_after=4)
        result = await export_once(settings(rx.endpoint))
        assert result.outcome is Outcome.RETRYABLE and result.retry_after == 4.0


async def test_data_loss_retryable_and_unimplemented_permanent() -> None:
    with OtlpGrpcReceiver() as rx:
        rx.grpc_status(grpc.StatusCode.DATA_LOSS)
        assert (await export_once(settings(rx.endpoint))).outcome is Outcome.RETRYABLE
        rx.grpc_status(grpc.StatusCode.UNIMPLEMENTED)
        assert (await export_once(settings(rx.endpoint))).outcome is Outcome.PERMANENT


async def test_partial_success() -> None:
    with OtlpGrpcReceiver() as rx:
        rx.partial_success(rejected=2)
        result = await export_once(settings(rx.endpoint))
        assert result.ok and result.rejected == 6


async def test_hang_is_cut_at_the_deadline() -> None:
    with OtlpGrpcReceiver() as rx:
        rx.hang()
        start = time.monotonic()
        result = await export_once(settings(rx.endpoint, timeout_ms=200), timeout_s=30)
        assert result.outcome is Outcome.RETRYABLE
        assert time.monotonic() - start < 10


async def test_absent_backend_then_it_appears() -> None:
    port = unused_port()
    exporter = OtlpExporter(settings(f"http://127.0.0.1:{port}", timeout_ms=1000))
    await exporter.start()
    try:
        first = await exporter.export(samples.signals(), samples.RESOURCE, 2)
        assert first.outcome is Outcome.RETRYABLE
        with OtlpGrpcReceiver(port=port) as rx:
            result = await exporter.export(samples.signals(), samples.RESOURCE, 5)
            assert result.ok, result.reason  # the broken channel was replaced, no backoff wait
            assert len(rx.spans()) == 2
    finally:
        await exporter.shutdown()


async def test_backend_restart_reconnects() -> None:
    """What a thaw looks like to gRPC: the connection from before the freeze is gone."""
    first = OtlpGrpcReceiver().start()
    port = first.port
    exporter = OtlpExporter(settings(first.endpoint, timeout_ms=2000))
    await exporter.start()
    try:
        assert (await exporter.export(samples.signals(), samples.RESOURCE, 5)).ok
        first.stop()
        with OtlpGrpcReceiver(port=port) as second:
            outcomes = []
            for _ in range(2):  # the first call may still see the old connection's UNAVAILABLE
                result = await exporter.export(samples.signals(), samples.RESOURCE, 5)
                outcomes.append(result.outcome)
                if result.ok:
                    break
            assert outcomes[-1] is Outcome.SUCCESS, outcomes
            assert len(second.spans()) == 2
    finally:
        await exporter.shutdown()


async def test_mixed_protocols_per_signal() -> None:
    with OtlpGrpcReceiver() as grx, OtlpHttpReceiver() as hrx:
        s = OtlpSettings(sig(grx.endpoint), sig(grx.endpoint), sig(hrx.url("logs"), protocol="http/protobuf"))
        assert (await export_once(s)).ok
        assert len(grx.spans()) == 2 and not grx.logs()
        assert len(hrx.logs()) == 3


async def test_without_grpcio_the_grpc_signals_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "extension.exporters.otlp_grpc", None)  # import fails
    with OtlpHttpReceiver() as hrx:
        s = OtlpSettings(
            sig("http://127.0.0.1:4317"),
            sig("http://127.0.0.1:4317"),
            sig(hrx.url("logs"), protocol="http/protobuf"),
        )
        batch = samples.signals()
        result = await export_once(s)
        assert result.outcome is Outcome.PERMANENT
        assert "grpcio is not installed" in result.reason
        assert result.failed_items == len(batch.spans) + len(batch.metrics)
        assert len(hrx.logs()) == 3  # the HTTP signal still went out


async def test_tls_with_custom_ca_certificate(tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(str(tmp_path))
    with OtlpGrpcReceiver(tls=(cert, key)) as rx:
        assert rx.endpoint.startswith("https://")
        base = settings(rx.endpoint, timeout_ms=3000)
        trusted = OtlpSettings(
            *(s and s._replace(certificate=cert) for s in (base.traces, base.metrics, base.logs))
        )
        result = await export_once(trusted)
        assert result.ok, result.reason
        assert len(rx.spans()) == 2
        untrusted = await export_once(base)  # https, system roots only: the handshake fails
        assert not untrusted.ok
