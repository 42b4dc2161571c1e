"""BoundedBuffer: bounds, drop-oldest with reasons, take/put_back order, flush threshold."""

from __future__ import annotations

from extension.exporters.queue import BoundedBuffer, estimate_log, estimate_raw, estimate_span, item_count
from extension.signals import Signals
from extension.stats import Stats
from tests.exporters import samples


def logs(*ids: int) -> Signals:
    return Signals(logs=tuple(samples.log(i) for i in ids))


def ids(signals: Signals) -> list[int]:
    return [int(str(rec.body).split()[-1]) for rec in signals.logs]


def test_put_and_take_fifo_in_batches() -> None:
    buf = BoundedBuffer(100, 1 << 20, Stats(), "d")
    buf.put(logs(0, 1, 2))
    buf.put(logs(3, 4))
    assert len(buf) == 5
    assert ids(buf.take(2)) == [0, 1]
    assert ids(buf.take()) == [2, 3, 4]
    assert len(buf) == 0
    assert buf.bytes == 0
    assert not buf.take()


def test_item_bound_drops_oldest_and_counts_reason_and_destination() -> None:
    stats = Stats()
    buf = BoundedBuffer(3, 1 << 20, stats, "otlp")
    buf.put(logs(0, 1, 2, 3, 4))
    assert ids(buf.take()) == [2, 3, 4]
    assert stats.get("dropped", "queue_full") == 2
    assert stats.get("destination_dropped", "otlp:queue_full") == 2


def test_byte_bound_drops_oldest() -> None:
    stats = Stats()
    one = estimate_log(samples.log(0))
    buf = BoundedBuffer(1000, one * 2 + 1, stats, "d")
    buf.put(logs(0, 1, 2))
    assert len(buf) == 2
    assert buf.bytes <= one * 2 + 1
    assert ids(buf.take()) == [1, 2]
    assert stats.get("dropped", "queue_full") == 1


def test_put_back_goes_to_front_and_is_dropped_first_on_overflow() -> None:
    stats = Stats()
    buf = BoundedBuffer(4, 1 << 20, stats, "d")
    buf.put(logs(0, 1, 2))
    taken = buf.take(2)
    buf.put(logs(3, 4))
    buf.put_back(taken)  # 0,1 are the oldest: 0,1,2,3,4 → one over the bound
    assert stats.get("dropped", "queue_full") == 1
    assert ids(buf.take()) == [1, 2, 3, 4]


def test_take_respects_byte_budget_but_always_returns_one() -> None:
    buf = BoundedBuffer(100, 1 << 20, Stats(), "d")
    buf.put(logs(0, 1, 2))
    one = estimate_log(samples.log(0))
    assert len(buf.take(max_bytes=1).logs) == 1
    assert len(buf.take(max_bytes=one * 2).logs) == 2


def test_mixed_kinds_keep_their_kind() -> None:
    buf = BoundedBuffer(100, 1 << 20, Stats(), "d")
    s = samples.signals(n_spans=2, n_logs=3, n_metrics=4)
    buf.put(s)
    assert len(buf) == item_count(s)
    out = buf.take()
    assert out == s


def test_over_threshold_at_half_of_a_bound() -> None:
    buf = BoundedBuffer(10, 1 << 20, Stats(), "d")
    buf.put(logs(0, 1, 2, 3))
    assert not buf.over_threshold()
    buf.put(logs(4))
    assert buf.over_threshold()
    buf.take()
    assert not buf.over_threshold()
    by_bytes = BoundedBuffer(1000, estimate_log(samples.log(0)) * 4, Stats(), "d")
    by_bytes.put(logs(0, 1))
    assert by_bytes.over_threshold()


def test_clear_returns_count_and_resets_size() -> None:
    buf = BoundedBuffer(100, 1 << 20, Stats(), "d")
    buf.put(logs(0, 1))
    assert buf.clear() == 2
    assert len(buf) == 0 and buf.bytes == 0


def test_estimates_grow_with_content_and_are_cheap_shapes() -> None:
    small = samples.log(0, body="x")
    big = samples.log(0, body="x" * 10_000)
    assert estimate_log(big) - estimate_log(small) >= 9_999
    assert estimate_log(samples.log(0, body={"k": "v" * 100})) > estimate_log(samples.log(0, body={"k": "v"}))
    assert estimate_span(samples.span(0)) > 0
    assert estimate_raw({"type": "function", "record": "y" * 500}) > 500
    assert estimate_raw({"type": "platform.report", "record": {"metrics": {"durationMs": 1}}}) > 0


def test_reserved_put_overshoots_instead_of_evicting() -> None:
    """The health snapshot must not cause drops it can no longer report."""
    stats = Stats()
    buf = BoundedBuffer(3, 1 << 20, stats, "d")
    buf.put(logs(0, 1, 2))
    buf.put(logs(3), reserved=True)
    assert len(buf) == 4 and stats.get("dropped", "queue_full") == 0
    buf.put(logs(4))  # the next ordinary put enforces the bound again
    assert len(buf) == 3 and stats.get("dropped", "queue_full") == 2
