"""Destination with a scripted fake exporter: accounting, backoff, deadlines, isolation."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from extension.config import PipelineSettings, RetrySettings
from extension.exporters.base import KIND_LOGS, OTEL_KINDS, ExporterDisabledError, ExportResult
from extension.exporters.destination import MAX_RETRY_AFTER_S, Destination
from extension.exporters.queue import item_count
from extension.signals import Resource, Signals
from extension.stats import Stats
from tests.exporters import samples

PIPELINE = PipelineSettings(buffer_max_items=100, buffer_max_bytes=1 << 20)
RETRY = RetrySettings(initial_ms=100, max_ms=1000)


class FakeExporter:
    def __init__(
        self,
        results: list[ExportResult] | None = None,
        delay: float = 0.0,
        start_error: Exception | None = None,
        accepts: frozenset[str] = OTEL_KINDS,
        name: str = "fake",
    ) -> None:
        self.name = name
        self.accepts = accepts
        self.results = list(results or [])
        self.delay = delay
        self.start_error = start_error
        self.calls: list[tuple[Signals, float]] = []
        self.finished_at: list[float] = []
        self.shut = 0
        self.called = asyncio.Event()

    async def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error

    async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
        self.calls.append((signals, timeout_s))
        self.called.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.finished_at.append(asyncio.get_running_loop().time())
        return self.results.pop(0) if self.results else ExportResult.success()

    async def shutdown(self) -> None:
        self.shut += 1


def now() -> float:
    return asyncio.get_running_loop().time()


def never() -> asyncio.Future[None]:
    """A probe's stop signal that never comes (the function is still running)."""
    return asyncio.get_running_loop().create_future()


def logs(n: int) -> Signals:
    return Signals(logs=tuple(samples.log(i) for i in range(n)))


def dest(exporter: FakeExporter, stats: Stats, **kw: object) -> Destination:
    return Destination(exporter, PIPELINE, RETRY, stats, rng=random.Random(7), **kw)  # type: ignore[arg-type]


async def test_success_counts_exported() -> None:
    stats = Stats()
    d = dest(FakeExporter(), stats)
    d.offer(logs(5))
    await d.flush(now() + 1)
    assert d.pending_items() == 0
    assert stats.get("exported", "fake") == 5


async def test_offer_keeps_only_accepted_kinds() -> None:
    stats = Stats()
    d = dest(FakeExporter(accepts=frozenset({KIND_LOGS})), stats)
    d.offer(samples.signals(n_spans=2, n_logs=3, n_metrics=4))
    assert d.pending_items() == 3


async def test_batches_are_bounded() -> None:
    ex = FakeExporter()
    d = dest(ex, Stats(), batch_max_items=2)
    d.offer(logs(5))
    await d.flush(now() + 1)
    assert [item_count(s) for s, _ in ex.calls] == [2, 2, 1]


async def test_retryable_keeps_data_and_skips_flushes_during_backoff() -> None:
    stats = Stats()
    ex = FakeExporter([ExportResult.retryable("http 503", retry_after=30)])
    d = dest(ex, stats)
    d.offer(logs(3))
    await d.flush(now() + 1)
    assert d.pending_items() == 3
    assert stats.get("export_failed", "fake") == 1
    assert d.in_backoff()
    await d.flush(now() + 1)
    assert len(ex.calls) == 1  # skipped: not hammered while in backoff
    assert not d.needs_flush()
    assert stats.total("dropped") == 0


async def test_retry_after_is_honoured_and_capped() -> None:
    d = dest(FakeExporter([ExportResult.retryable("429", retry_after=0.5)]), Stats())
    d.offer(logs(1))
    before = now()
    await d.flush(now() + 1)
    assert before + 0.5 <= d.not_before <= now() + 0.5
    d2 = dest(FakeExporter([ExportResult.retryable("429", retry_after=86400)]), Stats())
    d2.offer(logs(1))
    await d2.flush(now() + 1)
    assert d2.not_before <= now() + MAX_RETRY_AFTER_S


async def test_backoff_is_exponential_with_full_jitter() -> None:
    failures = [ExportResult.retryable("down") for _ in range(8)]
    d = dest(FakeExporter(failures), Stats())
    d.offer(logs(1))
    waits = []
    for attempt in range(1, 9):
        d.not_before = float("-inf")  # jump over the backoff instead of sleeping
        t = now()
        await (d.flush(now() + 1) if attempt == 1 else d.probe(now() + 1, never()))
        cap = min(RETRY.max_ms, RETRY.initial_ms * 2 ** (attempt - 1)) / 1000
        wait = d.not_before - t
        assert 0 <= wait <= cap + 0.01
        waits.append(wait)
    assert len(set(waits)) > 1  # jittered


async def test_success_resets_backoff() -> None:
    d = dest(FakeExporter([ExportResult.retryable("down")]), Stats())
    d.offer(logs(1))
    await d.flush(now() + 1)
    d.not_before = float("-inf")
    await d.probe(now() + 1, never())
    assert d.pending_items() == 0
    assert not d.in_backoff() and not d.failing


async def test_permanent_drops_with_reason_and_continues_with_next_batch() -> None:
    stats = Stats()
    ex = FakeExporter([ExportResult.permanent("http 400")])
    d = dest(ex, stats, batch_max_items=2)
    d.offer(logs(3))
    await d.flush(now() + 1)
    assert d.pending_items() == 0
    assert stats.get("dropped", "permanent_error") == 2
    assert stats.get("destination_dropped", "fake:permanent_error") == 2
    assert stats.get("exported", "fake") == 1


async def test_partial_failure_retries_only_the_failed_part() -> None:
    stats = Stats()
    batch = samples.signals(n_spans=2, n_logs=3, n_metrics=0)
    failed_part = Signals(logs=batch.logs)
    ex = FakeExporter([ExportResult.retryable("logs: http 503", retry=failed_part, failed_items=0)])
    d = dest(ex, stats)
    d.offer(batch)
    await d.flush(now() + 1)
    assert d.pending_items() == 3
    assert stats.get("exported", "fake") == 2
    d.not_before = float("-inf")
    await d.probe(now() + 1, never())
    assert ex.calls[1][0] == failed_part
    assert stats.get("exported", "fake") == 5


async def test_rejected_items_are_counted_as_dropped() -> None:
    stats = Stats()
    d = dest(FakeExporter([ExportResult.success(rejected=2)]), stats)
    d.offer(logs(5))
    await d.flush(now() + 1)
    assert stats.get("exported", "fake") == 3
    assert stats.get("dropped", "rejected") == 2


async def test_attempt_is_bounded_by_the_deadline() -> None:
    stats = Stats()
    ex = FakeExporter(delay=30)
    d = dest(ex, stats)
    d.offer(logs(2))
    await asyncio.wait_for(d.flush(now() + 0.1), timeout=5)
    assert ex.calls[0][1] <= 0.1  # the exporter was told the remaining time
    assert d.pending_items() == 2
    assert stats.get("export_failed", "fake") == 1


async def test_expired_deadline_sends_nothing() -> None:
    ex = FakeExporter()
    d = dest(ex, Stats())
    d.offer(logs(2))
    await d.flush(now() - 1)
    assert not ex.calls and d.pending_items() == 2


async def test_exporter_that_raises_is_contained() -> None:
    class Raising(FakeExporter):
        async def export(self, signals: Signals, resource: Resource, timeout_s: float) -> ExportResult:
            raise RuntimeError("bug")

    stats = Stats()
    d = dest(Raising(), stats)
    d.offer(logs(2))
    await d.flush(now() + 1)
    assert d.pending_items() == 2
    assert stats.get("export_failed", "fake") == 1


async def test_cancelled_flush_puts_the_batch_back() -> None:
    ex = FakeExporter(delay=30)
    d = dest(ex, Stats())
    d.offer(logs(3))
    task = asyncio.create_task(d.flush(now() + 60))
    await asyncio.wait_for(ex.called.wait(), timeout=10)  # the batch is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert d.pending_items() == 3


async def test_start_failure_disables_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    stats = Stats()
    d = dest(FakeExporter(start_error=ExporterDisabledError("secret header reference not resolved")), stats)
    d.offer(logs(2))
    with caplog.at_level(logging.ERROR, logger="lambda_sidecar"):
        await d.start()
    assert d.disabled
    assert stats.get("destination_disabled", "fake") == 1
    assert stats.get("dropped", "destination_disabled") == 2
    d.offer(logs(3))
    assert stats.get("dropped", "destination_disabled") == 5
    await d.flush(now() + 1)
    assert len([r for r in caplog.records if "disabled" in r.getMessage()]) == 1


async def test_needs_flush_when_over_threshold() -> None:
    d = dest(FakeExporter(), Stats())
    d.offer(logs(40))
    assert not d.needs_flush()
    d.offer(logs(20))
    assert d.needs_flush()


async def test_shutdown_flushes_then_drops_rest_and_is_idempotent() -> None:
    stats = Stats()
    ex = FakeExporter([ExportResult.retryable("down", retry_after=60)])
    d = dest(ex, stats)
    d.offer(logs(4))
    await d.shutdown(now() + 0.2)
    assert stats.get("dropped", "shutdown_deadline") == 4
    assert ex.shut == 1
    await d.shutdown(now() + 0.2)
    assert ex.shut == 1


async def test_shutdown_waits_out_a_short_backoff_and_delivers() -> None:
    stats = Stats()
    ex = FakeExporter([ExportResult.retryable("down", retry_after=0.05)])
    d = dest(ex, stats)
    d.offer(logs(4))
    await d.shutdown(now() + 2)
    assert stats.get("exported", "fake") == 4
    assert stats.total("dropped") == 0


async def test_shutdown_during_a_slow_flush_keeps_its_deadline() -> None:
    stats = Stats()
    ex = FakeExporter(delay=0.5)
    d = dest(ex, stats, batch_max_items=2)
    d.offer(logs(4))
    flush = asyncio.create_task(d.flush(now() + 5))
    await asyncio.wait_for(ex.called.wait(), timeout=10)  # the first batch is in flight
    await asyncio.wait_for(d.shutdown(now() + 0.1), timeout=5)
    await flush
    # 2 records were in flight (delivered when the slow call finished), the other 2 were queued
    assert stats.get("dropped", "shutdown_deadline") + stats.get("exported", "fake") == 4
    assert d.pending_items() == 0


async def test_a_slow_destination_does_not_delay_another() -> None:
    slow_ex, fast_ex = FakeExporter(delay=30, name="slow"), FakeExporter(name="fast")
    stats = Stats()
    slow, fast = dest(slow_ex, stats), dest(fast_ex, stats)
    for d in (slow, fast):
        d.offer(logs(3))
    slow_deadline = now() + 1.0
    await asyncio.wait_for(asyncio.gather(slow.flush(slow_deadline), fast.flush(slow_deadline)), timeout=10)
    assert fast_ex.finished_at and fast_ex.finished_at[0] < slow_deadline
    assert fast.pending_items() == 0 and slow.pending_items() == 3


async def test_a_failing_destination_is_skipped_by_flushes_until_a_probe_succeeds() -> None:
    stats = Stats()
    ex = FakeExporter([ExportResult.retryable("timeout"), ExportResult.retryable("timeout")])
    d = dest(ex, stats)
    d.offer(logs(3))
    await d.flush(now() + 1)  # the one attempt that finds the backend down
    assert d.failing and stats.get("destination_failing", "fake") == 1
    d.not_before = float("-inf")
    d.offer(logs(1))
    await d.flush(now() + 1)
    assert len(ex.calls) == 1  # not held for a failing backend, even after its backoff
    assert not d.needs_flush() and d.probe_due()
    await d.probe(now() + 1, never())  # fails again: longer backoff, still failing
    assert len(ex.calls) == 2 and d.failing and not d.probe_due()
    d.not_before = float("-inf")
    await d.probe(now() + 1, never())  # answers: normal flushing resumes
    assert d.pending_items() == 0 and not d.failing
    assert stats.get("exported", "fake") == 4 and stats.get("probes", "fake") == 2
    assert stats.total("dropped") == 0


async def test_a_probe_is_cut_off_when_the_function_is_done_and_keeps_its_batch() -> None:
    stats = Stats()
    ex = FakeExporter([ExportResult.retryable("timeout")])
    d = dest(ex, stats)
    d.offer(logs(3))
    await d.flush(now() + 1)
    ex.delay = 3600.0  # the backend now hangs
    d.not_before = float("-inf")
    done = asyncio.get_running_loop().create_future()
    ex.called.clear()
    probe = asyncio.create_task(d.probe(now() + 3600, done))
    await asyncio.wait_for(ex.called.wait(), timeout=10)  # the probe's request is in flight
    done.set_result(None)  # runtimeDone: the function finished
    await asyncio.wait_for(probe, timeout=10)
    assert d.pending_items() == 3 and d.failing and d.in_backoff()
    assert stats.get("probes_cut_off", "fake") == 1 and stats.total("dropped") == 0


async def test_shutdown_still_delivers_for_a_failing_destination() -> None:
    stats = Stats()
    d = dest(FakeExporter([ExportResult.retryable("refused", retry_after=0.01)]), stats)
    d.offer(logs(2))
    await d.flush(now() + 1)
    assert d.failing
    await d.shutdown(now() + 2)
    assert stats.get("exported", "fake") == 2 and stats.total("dropped") == 0


async def test_a_probe_is_due_once_the_wall_clock_passed_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: wall[0])
    d = dest(FakeExporter([ExportResult.retryable("http 503", retry_after=60)]), Stats())
    d.offer(logs(1))
    await d.flush(now() + 1)
    assert d.failing and not d.probe_due()
    wall[0] += 61  # frozen for a minute: the loop's monotonic clock did not move
    assert d.in_backoff() and d.probe_due()
    await d.probe(now() + 1, never())
    assert d.pending_items() == 0 and not d.failing
