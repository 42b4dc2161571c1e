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


#: Function timeout: far above anything the flood needs, so an invoke held until its deadline
#: (a runtimeDone lost in the platform's drops, waited for) stands out from any slow machine.
FLOOD_TIMEOUT_S = 60
#: Records of other kinds than the numbered lines (spans, metrics, platform records) per invoke:
#: an upper bound, so that the drop counters cannot count one line twice.
OTHER_RECORDS_PER_INVOKE = 200
#: The extension's queue in the `held` case: far below one invoke's lines.
HELD_BUFFER = 500

FLOOD_BACKENDS = {
    "fast": "healthy backend, export budget far above any request (the queue may or may not overflow)",
    "held": "backend holds every export until the flood is over, queue of 500 records",
    "slow": "backend answering in 0.5 s > the 300 ms budget",
}


@pytest.mark.parametrize("backend", list(FLOOD_BACKENDS))
def test_logging_far_faster_than_export(
    built_layer: Path, tmp_path: Path, case: CaseRecord, backend: str
) -> None:
    """Whatever the machine's speed, every line arrives or is counted as dropped (by the platform
    or the extension), and no drop is counted twice. `fast`: whether the queue overflowed
    depends on the machine and is not asserted. `held`: the backend holds every export during
    the flood, so the queue must overflow and only what it holds can arrive. `slow`: requests
    the extension gave up on still arrive and are sent again (at-least-once): counts are then
    lower bounds."""
    invokes, per_invoke = scaled(3, cap=6), 12_000
    buffer_items = HELD_BUFFER if backend == "held" else 3000
    with OtlpHttpReceiver() as rx, FaultProxy(rx.endpoint) as slow:
        slow.latency_s = 0.5 if backend == "slow" else 0.0
        if backend == "held":
            rx.hang()  # held requests are never accepted: nothing of them counts as arrived
        env = sidecar_env(
            slow.url,
            tmp_path,
            SIDECAR_FLUSH_POLICY="end",
            SIDECAR_BUFFER_MAX_ITEMS=str(buffer_items),
            SIDECAR_EXPORT_BUDGET_MS="20000" if backend == "fast" else "300",
            OTEL_EXPORTER_OTLP_TIMEOUT="20000",
        )
        with LambdaEnvironment(
            built_layer,
            make_function(tmp_path),
            "app.handler",
            env=env,
            timeout_s=FLOOD_TIMEOUT_S,
            echo_output=quiet,
        ) as lam:
            results = [
                lam.invoke({"tag": "flood", "n": n, "lines": 0, "flood": per_invoke}) for n in range(invokes)
            ]
            hwm = proc_status_kb(lam.pids[EXTENSION])["VmHWM"]
            slow.latency_s = 0.0
            rx.ok()
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
    abandoned = summed(summaries, "export_failed")  # attempts given up on (possibly re-sent)
    arrived = sum(received.values())
    distinct = len(received)
    own = sidecar_metrics(metrics)
    logs_dropped_metric = metric_total(metrics, "aws.lambda.logs_dropped")
    case.set(
        "Floods",
        f"function logging far faster than export ({FLOOD_BACKENDS[backend]})",
        load=f"{invokes} invokes x {per_invoke:,} lines of ~120 B (buffer {buffer_items:,} records)",
        faults=("slow backend; " if backend == "slow" else "held backend; " if backend == "held" else "")
        + "platform buffer overflow; extension queue full",
        lost=f"{written - distinct:,} lines, all counted: platform {by_platform:,}, extension {drops}",
    )
    case.figure(
        lines_written=written,
        lines_arrived=arrived,
        abandoned_requests=abandoned,
        duplicates=arrived - distinct,
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
    # A runtimeDone lost in the platform's drops must not hold the invoke until its deadline.
    assert longest_ms < FLOOD_TIMEOUT_S * 1000 / 2
    assert hwm < HWM_BOUND_KB
    # every line arrived or is counted as dropped ...
    lost = written - distinct
    counted = by_platform + sum(drops.values())
    assert lost <= counted, (written, distinct, by_platform, drops)
    assert (platform_drop_events > 0) == (by_platform > 0)
    if backend == "held":  # forced: nothing could be exported during the flood
        assert drops.get("queue_full", 0) > 0, drops
        assert distinct <= HELD_BUFFER
        assert written - by_platform - HELD_BUFFER <= sum(drops.values())
    if abandoned == 0 or backend == "held":  # nothing accepted twice: every count exactly once
        assert arrived == distinct
        # no line both arrived and counted, none counted twice (a few records of other kinds are)
        assert counted <= lost + OTHER_RECORDS_PER_INVOKE * invokes, (lost, by_platform, drops)
        assert logs_dropped_metric == by_platform
        assert own.get("lambda_sidecar.dropped", 0) == sum(drops.values())
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
