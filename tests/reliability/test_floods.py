"""Floods: a function logging far faster than the backend takes it, large records, maximum batches.

Memory must stay bounded (VmHWM of the extension process), `platform.logsDropped` must be turned
into a metric, and every record that did not arrive must be accounted for: dropped by the
platform (its own `logsDropped` figures) or dropped by the extension (its `dropped{reason}`
counters, exported as `lambda_sidecar.dropped` and printed in the shutdown summary).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.fault_proxy import FaultProxy
from emulator.backends.otlp_receivers import OtlpHttpReceiver
from tests.integration.helpers import metric_total, sidecar_env
from tests.reliability.recorder import CaseRecord
from tests.reliability.support import (
    EXTENSION,
    dropped_by_reason,
    http_request,
    line_counts,
    listener_path,
    listener_port,
    make_function,
    platform_dropped,
    proc_status_kb,
    quiet,
    scaled,
    shutdown_summaries,
    sidecar_metrics,
    summed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

HWM_BOUND_KB = 250 * 1024


@pytest.mark.parametrize("backend", ["fast", "slow"])
def test_logging_far_faster_than_export(
    built_layer: Path, tmp_path: Path, case: CaseRecord, backend: str
) -> None:
    """`fast`: the export budget is the limit; the accounting must be exact unless a request was
    cut off at the budget. `slow`: every request takes 0.5 s, longer than the budget, so requests
    the extension gave up on still arrive and are sent again (at-least-once): counts are then
    lower bounds."""
    invokes, per_invoke = scaled(3, cap=6), 12_000
    with OtlpHttpReceiver() as rx, FaultProxy(rx.endpoint) as slow:
        slow.latency_s = 0.5 if backend == "slow" else 0.0
        env = sidecar_env(
            slow.url,
            tmp_path,
            SIDECAR_FLUSH_POLICY="end",
            SIDECAR_BUFFER_MAX_ITEMS="3000",
            SIDECAR_EXPORT_BUDGET_MS="300",
        )
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, timeout_s=20, echo_output=quiet
        ) as lam:
            results = [
                lam.invoke({"tag": "flood", "n": n, "lines": 0, "flood": per_invoke}) for n in range(invokes)
            ]
            hwm = proc_status_kb(lam.pids[EXTENSION])["VmHWM"]
            slow.latency_s = 0.0
            lam.spindown()
            by_platform = platform_dropped(lam)
            platform_drop_events = len(lam.events_of("platform.logsDropped"))
            longest_ms = max(
                float(e["record"]["metrics"]["durationMs"]) for e in lam.events_of("platform.report")
            )
            summaries = shutdown_summaries(lam)
            outcome = lam.extension_outcomes[EXTENSION]
        received = line_counts(rx.logs(), "rel-flood")
        metrics = rx.metrics()
    written = invokes * per_invoke
    drops = dropped_by_reason(summaries)
    abandoned = summed(summaries, "export_failed")  # attempts cut off at the budget (re-sent later)
    arrived = sum(received.values())
    own = sidecar_metrics(metrics)
    logs_dropped_metric = metric_total(metrics, "aws.lambda.logs_dropped")
    case.set(
        "Floods",
        f"function logging far faster than export ({backend} backend"
        + (", answering in 0.5 s > budget)" if backend == "slow" else ", 300 ms export budget)"),
        load=f"{invokes} invokes x {per_invoke:,} lines of ~120 B (buffer 3,000 records)",
        faults=("slow backend; " if backend == "slow" else "")
        + "platform buffer overflow; extension queue full",
        lost=f"{written - arrived:,} lines, all counted: platform {by_platform:,}, extension {drops}",
    )
    case.figure(
        lines_written=written,
        lines_arrived=arrived,
        abandoned_requests=abandoned,
        duplicates=sum(c - 1 for c in received.values() if c > 1),
        platform_dropped=by_platform,
        platform_logs_dropped_events=platform_drop_events,
        aws_lambda_logs_dropped_metric=logs_dropped_metric,
        extension_dropped=drops,
        exported_lambda_sidecar_dropped=own.get("lambda_sidecar.dropped", 0),
        max_rss_mb=round(hwm / 1024, 1),
        longest_invoke_ms=round(longest_ms),
    )
    assert [r.status for r in results] == ["success"] * invokes
    assert outcome.exit_code == 0 and outcome.exited_before_deadline
    # A runtimeDone lost in the platform's drops must not hold the invoke until its deadline (20 s).
    assert longest_ms < 5000
    assert hwm < HWM_BOUND_KB
    assert written - arrived <= by_platform + sum(drops.values()), (written, arrived, by_platform, drops)
    assert sum(drops.values()) > 0, "a 3,000-record buffer cannot have held this flood"
    assert by_platform > 0 and platform_drop_events > 0
    if abandoned == 0:  # nothing was sent twice: every drop reported and exported exactly once
        assert logs_dropped_metric == by_platform
        assert own.get("lambda_sidecar.dropped", 0) == sum(drops.values())
        assert all(c == 1 for c in received.values())
    else:  # requests abandoned at the budget may still reach the backend: at least once
        assert logs_dropped_metric >= by_platform
        assert own.get("lambda_sidecar.dropped", 0) >= sum(drops.values())
    if backend == "slow":
        assert abandoned > 0


def test_large_records(built_layer: Path, tmp_path: Path, case: CaseRecord) -> None:
    invokes, big_lines, size = scaled(3, cap=6), 40, 100_000
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_POLICY="end")
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, timeout_s=20, echo_output=quiet
        ) as lam:
            results = [
                lam.invoke({"tag": "big", "n": n, "lines": 0, "big_lines": big_lines, "big": size})
                for n in range(invokes)
            ]
            hwm = proc_status_kb(lam.pids[EXTENSION])["VmHWM"]
            lam.spindown()
            by_platform = platform_dropped(lam)
            summaries = shutdown_summaries(lam)
        received = line_counts(rx.logs(), "rel-big")
        sizes = [len(k) for k in received]
    written = invokes * big_lines
    arrived = sum(received.values())
    drops = dropped_by_reason(summaries)
    case.set(
        "Floods",
        "many large records",
        load=f"{invokes} invokes x {big_lines} records of {size // 1000} kB ({written * size / 1e6:.0f} MB)",
        faults="records near the Telemetry API batch size",
        lost=f"{written - arrived} records (platform dropped {by_platform}, extension {drops})",
    )
    case.figure(
        records_written=written,
        records_arrived=arrived,
        largest_record_bytes=max(sizes, default=0),
        platform_dropped=by_platform,
        extension_dropped=drops,
        max_rss_mb=round(hwm / 1024, 1),
    )
    assert [r.status for r in results] == ["success"] * invokes
    assert hwm < HWM_BOUND_KB
    assert written - arrived <= by_platform + sum(drops.values())
    assert max(sizes, default=0) > size  # not truncated on our side


def _max_batch(n: int, tag: str, size_bytes: int = 1_000_000, items: int = 10_000) -> bytes:
    """A batch as large as a subscription allows (10,000 events / ~1 MiB) of function records."""
    pad = "z" * max(0, size_bytes // items - 120)
    events = [
        {"time": "2026-01-01T00:00:00.000Z", "type": "function", "record": f"rel-max {tag} {n} {i} {pad}"}
        for i in range(items)
    ]
    return json.dumps(events).encode()


def test_maximum_batches(built_layer: Path, tmp_path: Path, case: CaseRecord) -> None:
    batches = scaled(6, cap=20)
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(
            rx.endpoint,
            tmp_path,
            SIDECAR_TELEMETRY_MAX_ITEMS="10000",
            SIDECAR_TELEMETRY_MAX_BYTES="1048576",
            SIDECAR_TELEMETRY_TIMEOUT_MS="1000",
        )
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, timeout_s=20, echo_output=quiet
        ) as lam:
            lam.invoke({"tag": "max", "n": 0, "lines": 0, "flood": 30_000})  # platform-side maximum batches
            port, path = listener_port(lam), listener_path(lam)
            statuses = []
            started = time.monotonic()
            for n in range(batches):  # and the same size straight into the listener
                status, _ = http_request(
                    port,
                    "POST",
                    path,
                    {"Content-Type": "application/json"},
                    _max_batch(n, "max"),
                    timeout=30,
                )
                statuses.append(status)
            post_s = time.monotonic() - started
            after = lam.invoke({"tag": "max", "n": 1, "lines": 1})
            hwm = proc_status_kb(lam.pids[EXTENSION])["VmHWM"]
            lam.spindown()
            summaries = shutdown_summaries(lam)
            by_platform = platform_dropped(lam)
        posted = line_counts(rx.logs(), "rel-max")
        flood = line_counts(rx.logs(), "rel-flood")
    drops = dropped_by_reason(summaries)
    expected = batches * 10_000
    case.set(
        "Floods",
        "maximum Telemetry API batches (10,000 events / 1 MiB)",
        load=f"30,000 lines through the platform + {batches} maximal POSTs ({expected:,} events)",
        faults="subscription at maxItems 10,000, maxBytes 1 MiB",
        lost=f"{expected - sum(posted.values())} posted events, {30_000 - sum(flood.values())} platform lines "
        f"(platform dropped {by_platform}, extension {drops})",
    )
    case.figure(
        batches_posted=batches,
        answers=sorted(set(statuses)),
        seconds_per_batch=round(post_s / batches, 2),
        events_arrived=sum(posted.values()),
        platform_lines_arrived=sum(flood.values()),
        extension_dropped=drops,
        max_rss_mb=round(hwm / 1024, 1),
    )
    assert statuses == [200] * batches
    assert after.status == "success"
    assert hwm < HWM_BOUND_KB
    assert expected + 30_000 - sum(posted.values()) - sum(flood.values()) <= by_platform + sum(drops.values())
