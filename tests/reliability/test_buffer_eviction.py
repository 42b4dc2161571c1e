"""A log flood evicts log lines, not the spans and metrics that record what happened (pure unit test).

Found by the flood case: with one FIFO for every kind, drop-oldest erased invocation spans, report
metrics, `aws.lambda.logs_dropped` and the extension's own `lambda_sidecar.dropped` deltas, so the
exported drop counters under-reported the drops.
"""

from __future__ import annotations

from extension.exporters.queue import BoundedBuffer, estimate_log
from extension.signals import Signals
from extension.stats import Stats
from tests.exporters import samples


def _spans_and_metrics(spans: int, metrics: int) -> Signals:
    sample = samples.signals(n_spans=spans, n_logs=0, n_metrics=metrics)
    return Signals(spans=sample.spans, metrics=sample.metrics)


def _logs(n: int, start: int = 0) -> Signals:
    return Signals(logs=tuple(samples.log(i) for i in range(start, start + n)))


def test_item_bound_drops_logs_before_spans_and_metrics() -> None:
    stats = Stats()
    buf = BoundedBuffer(10, 1 << 20, stats, "otlp")
    buf.put(_spans_and_metrics(1, 3))
    for k in range(5):
        buf.put(_logs(5, 5 * k))
    out = buf.take()
    assert (len(out.spans), len(out.metrics), len(out.logs)) == (1, 3, 6)
    assert [str(r.body).split()[-1] for r in out.logs] == [str(i) for i in range(19, 25)]  # newest logs kept
    assert stats.get("dropped", "queue_full") == 19


def test_byte_bound_drops_logs_first_too() -> None:
    stats = Stats()
    buf = BoundedBuffer(1000, estimate_log(samples.log(0)) * 4, stats, "otlp")
    buf.put(_spans_and_metrics(0, 1))
    buf.put(_logs(10))
    out = buf.take()
    assert len(out.metrics) == 1
    assert 0 < len(out.logs) < 4
    assert stats.get("dropped", "queue_full") == 10 - len(out.logs)


def test_without_logs_the_oldest_of_any_kind_goes() -> None:
    stats = Stats()
    buf = BoundedBuffer(2, 1 << 20, stats, "otlp")
    buf.put(_spans_and_metrics(0, 5))
    assert len(buf) == 2
    assert stats.get("dropped", "queue_full") == 3
