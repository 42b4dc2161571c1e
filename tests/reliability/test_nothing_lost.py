"""Nothing lost: many invokes with freeze and random idle gaps, every numbered line exactly once.

The function writes numbered text and JSON lines; after a spindown the OTLP receiver must hold
each line exactly once, an invocation span for every request and one set of report metrics per
invocation, including the last one (whose `platform.report` only exists after its `/next`, so it
can only arrive with SHUTDOWN). The second case injects timeouts and crashes (environment resets,
no SIGKILL of the extension) and accounts for what the platform itself reports as dropped.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.otlp_receivers import OtlpHttpReceiver
from tests.integration.helpers import invocation_spans, metric_total, sidecar_env
from tests.reliability.recorder import CaseRecord
from tests.reliability.support import (
    dropped_by_reason,
    expected_lines,
    line_counts,
    make_function,
    platform_dropped,
    quiet,
    scaled,
    shutdown_summaries,
    sidecar_metrics,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

LINES = 3  # text + JSON lines per invoke (x2)
#: "Exactly once" holds only if no request is given up on while the backend may still accept it,
#: so the export budget and timeout are far above what a loaded machine needs (each flush is
#: also bounded by the invoke's deadline).
UNHURRIED = {"SIDECAR_EXPORT_BUDGET_MS": "20000", "OTEL_EXPORTER_OTLP_TIMEOUT": "20000"}
#: Function timeout with faults: the budget (4 s) leaves it time to wait for runtimeDone first.
FAULTS_TIMEOUT_S = 8.0


def _gap(rng: random.Random) -> None:
    """A random idle gap while frozen: mostly none, sometimes long enough to cross a batch timer."""
    time.sleep(rng.choice((0.0, 0.0, 0.01, 0.05, 0.2)))


@pytest.mark.parametrize("policy", ["adaptive", "end"])
def test_every_line_span_and_report_arrives_exactly_once(
    built_layer: Path, tmp_path: Path, case: CaseRecord, policy: str
) -> None:
    invokes = scaled(25)
    rng = random.Random(8)
    tag = f"ok-{policy}"
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(rx.endpoint, tmp_path, SIDECAR_FLUSH_POLICY=policy, **UNHURRIED)
        task = make_function(tmp_path)
        started = time.monotonic()
        with LambdaEnvironment(
            built_layer, task, "app.handler", env=env, freeze=True, timeout_s=30, echo_output=quiet
        ) as lam:
            results = []
            for n in range(invokes):
                _gap(rng)
                results.append(lam.invoke({"tag": tag, "n": n, "lines": LINES}))
            lam.spindown()
            outcome = lam.extension_outcomes["lambda-sidecar"]
            dropped_by_platform = platform_dropped(lam)
            summaries = shutdown_summaries(lam)
        elapsed = time.monotonic() - started
        assert [r.status for r in results] == ["success"] * invokes
        ids = [r.request_id for r in results]
        spans = invocation_spans(rx.spans())
        counts = line_counts(rx.logs())
        metrics = rx.metrics()

    missing_spans = [rid for rid in ids if rid not in spans]
    wanted = [line for n in range(invokes) for line in expected_lines(tag, n, LINES)]
    missing = [line for line in wanted if counts[line] == 0]
    duplicated = {line: c for line, c in counts.items() if c > 1}
    unexpected = set(counts) - set(wanted)
    reports = metric_total(metrics, "aws.lambda.billed_duration")
    own = sidecar_metrics(metrics)
    case.set(
        "Nothing lost",
        f"{invokes} invokes, freeze, random idle gaps, flush policy `{policy}`",
        load=f"{invokes} invokes x {2 * LINES} numbered lines (text + JSON)",
        faults="freeze/thaw after every invoke; last report only at SHUTDOWN",
        lost=f"{len(missing)} lines, {len(missing_spans)} spans, {invokes - int(reports)} reports",
    )
    case.figure(
        invokes=invokes,
        lines_expected=len(wanted),
        lines_received_once=sum(1 for line in wanted if counts[line] == 1),
        duplicates=len(duplicated),
        spans=len(spans),
        reports=int(reports),
        platform_dropped=dropped_by_platform,
        extension_dropped=dropped_by_reason(summaries),
        exported_self_metrics=sorted(own),
        seconds=round(elapsed, 1),
    )
    assert dropped_by_platform == 0
    assert not missing, missing[:10]
    assert not duplicated, list(duplicated.items())[:10]
    assert not unexpected, sorted(unexpected)[:10]
    assert not missing_spans
    assert len(spans) == invokes
    assert reports == invokes  # the last one came with SHUTDOWN
    assert metric_total(metrics, "faas.invocations") == invokes
    assert outcome.exit_code == 0 and outcome.exited_before_deadline
    assert summed_drops(summaries) == 0, summaries
    assert "lambda_sidecar.telemetry_events" in own


def summed_drops(summaries: list[dict[str, int]]) -> int:
    return sum(dropped_by_reason(summaries).values())


def test_timeouts_and_crashes_lose_only_what_the_platform_reports(
    built_layer: Path, tmp_path: Path, case: CaseRecord
) -> None:
    invokes = scaled(24, cap=240)
    rng = random.Random(88)
    tag = "faults"
    # ~1 in 12 invokes times out, ~1 in 12 crashes the runtime, ~1 in 8 raises (never the first)
    faulty = rng.sample(range(1, invokes), k=max(3, invokes // 12 * 2 + invokes // 8))
    kinds = {n: ("sleep", "crash", "fail")[i % 3] for i, n in enumerate(faulty)}
    plan: list[dict[str, object]] = []
    for n in range(invokes):
        event: dict[str, object] = {"tag": tag, "n": n, "lines": LINES}
        if n in kinds:
            event[kinds[n]] = 3 * FAULTS_TIMEOUT_S if kinds[n] == "sleep" else True
        plan.append(event)
    with OtlpHttpReceiver() as rx:
        env = sidecar_env(
            rx.endpoint,
            tmp_path,
            SIDECAR_FLUSH_POLICY="adaptive",
            SIDECAR_EXPORT_BUDGET_MS="4000",
            OTEL_EXPORTER_OTLP_TIMEOUT="20000",
        )
        task = make_function(tmp_path)
        with LambdaEnvironment(
            built_layer,
            task,
            "app.handler",
            env=env,
            freeze=True,
            timeout_s=FAULTS_TIMEOUT_S,
            echo_output=quiet,
        ) as lam:
            results = []
            for event in plan:
                _gap(rng)
                results.append(lam.invoke(event))
            lam.spindown()
            history = lam.extension_history
            dropped_by_platform = platform_dropped(lam)
            summaries = shutdown_summaries(lam)
        spans = invocation_spans(rx.spans())
        counts = line_counts(rx.logs())
        metrics = rx.metrics()

    statuses = [r.status for r in results]
    want_status = [
        "error" if e.get("crash") or e.get("fail") else "timeout" if e.get("sleep") else "success"
        for e in plan
    ]
    ids = [r.request_id for r in results]
    missing_spans = [rid for rid in ids if rid not in spans]
    wanted = [line for n in range(invokes) for line in expected_lines(tag, n, LINES)]
    missing = [line for line in wanted if counts[line] == 0]
    duplicated = {line: c for line, c in counts.items() if c > 1}
    resets = sum(1 for e in plan if e.get("crash") or e.get("sleep"))
    case.set(
        "Nothing lost",
        f"{invokes} invokes with {resets} resets (function timeouts and crashes)",
        load=f"{invokes} invokes x {2 * LINES} numbered lines, freeze",
        faults=f"{sum(1 for e in plan if e.get('sleep'))} timeouts, {sum(1 for e in plan if e.get('crash'))} "
        f"runtime crashes, {sum(1 for e in plan if e.get('fail'))} function errors",
        lost=f"{len(missing)} lines (platform reported {dropped_by_platform} dropped), "
        f"{len(missing_spans)} spans",
    )
    case.figure(
        invokes=invokes,
        resets=resets,
        lines_expected=len(wanted),
        lines_missing=len(missing),
        duplicates=len(duplicated),
        spans=len(spans),
        platform_dropped=dropped_by_platform,
        extension_dropped=dropped_by_reason(summaries),
        shutdowns=len(summaries),
        exits_before_deadline=sum(1 for o in history if o.exited_before_deadline),
        shutdown_exits=len(history),
    )
    assert statuses == want_status
    assert len(missing) <= dropped_by_platform, missing[:10]
    assert not duplicated, list(duplicated.items())[:10]
    assert not missing_spans, missing_spans
    for event, result in zip(plan, results, strict=True):
        if event.get("crash") or event.get("sleep") or event.get("fail"):
            assert spans[result.request_id].status.code == 2, event
    assert all(o.exited_before_deadline and o.exit_code == 0 for o in history), history
    assert len(history) == resets + 1
    assert summed_drops(summaries) == 0, summaries
    assert metric_total(metrics, "faas.invocations") >= invokes - resets
