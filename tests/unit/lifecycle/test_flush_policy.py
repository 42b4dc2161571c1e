"""Flush policy decisions per INVOKE, on a fake wall clock."""

from __future__ import annotations

from extension.config import FlushPolicy, PipelineSettings
from extension.lifecycle.flush_policy import Decision, FlushScheduler


def scheduler(policy: FlushPolicy, interval: float = 20.0, rate: float = 6.0) -> FlushScheduler:
    return FlushScheduler(
        PipelineSettings(flush_policy=policy, flush_interval_s=interval, adaptive_min_rate_per_minute=rate),
        now=0.0,
    )


def test_end_always_waits_and_flushes() -> None:
    s = scheduler(FlushPolicy.END)
    assert [s.on_invoke(t, False) for t in (1.0, 1.1, 1.2)] == [Decision.WAIT_AND_FLUSH] * 3


def test_periodic_flushes_after_interval_without_waiting() -> None:
    s = scheduler(FlushPolicy.PERIODIC, interval=10)
    assert s.on_invoke(5.0, False) is Decision.NONE
    assert s.on_invoke(10.5, False) is Decision.FLUSH
    s.flushed(10.5)
    assert s.on_invoke(12.0, False) is Decision.NONE


def test_adaptive_switches_from_end_to_periodic_when_frequent() -> None:
    s = scheduler(FlushPolicy.ADAPTIVE, interval=10, rate=6)
    decisions = [s.on_invoke(float(t), False) for t in range(1, 7)]
    assert decisions[0] is Decision.WAIT_AND_FLUSH  # infrequent so far: freshest data
    assert decisions[-1] is not Decision.WAIT_AND_FLUSH  # six invokes within a minute: no waiting
    # a long quiet period (frozen environment) makes it infrequent again
    assert s.on_invoke(500.0, False) is Decision.WAIT_AND_FLUSH


def test_full_buffers_force_a_flush_under_any_policy() -> None:
    for policy in (FlushPolicy.SHUTDOWN, FlushPolicy.PERIODIC):
        s = scheduler(policy)
        assert s.on_invoke(1.0, False) is Decision.NONE
        assert s.on_invoke(1.5, True) is Decision.FLUSH
