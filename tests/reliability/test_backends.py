"""Backends failing: the OTLP destination absent, refusing, hanging, slow, closing connections or
failing TLS; AWS APIs throttling, failing and timing out behind the fault proxy.

For every fault: invocations keep succeeding (none is held until its deadline), the extension's
memory stays bounded, and every numbered line either arrives once the backend recovers or is
counted as dropped with a reason by the extension itself. Durations are recorded next to a
healthy baseline for docs/reliability.md, not asserted (test_dead_backend.py asserts what a
failing backend may cost, relative to a large budget).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator import LambdaEnvironment
from emulator.backends.fault_proxy import Fault, FaultProxy
from emulator.backends.moto_server import TEST_CREDENTIALS, boto3_client, moto_server
from emulator.backends.otlp_receivers import OtlpHttpReceiver, make_self_signed_cert, unused_port
from tests.integration.helpers import invocation_spans, sidecar_env
from tests.reliability.recorder import CaseRecord
from tests.reliability.support import (
    EXTENSION,
    dropped_by_reason,
    expected_lines,
    line_counts,
    make_function,
    proc_status_kb,
    quiet,
    scaled,
    shutdown_summaries,
    summed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BUDGET_MS = 300
OTLP_TIMEOUT_MS = 5000  # far above the budget: a flush that ignored the budget would show
LINES = 2
RSS_BOUND_KB = 200 * 1024


@dataclass
class Run:
    durations_ms: dict[str, float]
    statuses: list[str]
    report_statuses: list[str]
    max_rss_kb: int
    summaries: list[dict[str, int]]
    exit_ok: bool
    ids: list[str]


def _run(
    lam: LambdaEnvironment,
    tag: str,
    invokes: int,
    start: int = 0,
    between: Callable[[int], None] | None = None,
) -> tuple[list[Any], int]:
    results, max_rss = [], 0
    for n in range(start, start + invokes):
        if between is not None:
            between(n)
        results.append(lam.invoke({"tag": tag, "n": n, "lines": LINES}))
        pid = lam.pids.get(EXTENSION)
        if pid:
            max_rss = max(max_rss, proc_status_kb(pid).get("VmRSS", 0))
    return results, max_rss


def _collect(lam: LambdaEnvironment, results: list[Any], max_rss: int) -> Run:
    reports = {e["record"]["requestId"]: e["record"] for e in lam.events_of("platform.report")}
    ids = [r.request_id for r in results]
    outcome = lam.extension_outcomes[EXTENSION]
    return Run(
        durations_ms={rid: float(reports[rid]["metrics"]["durationMs"]) for rid in ids if rid in reports},
        statuses=[r.status for r in results],
        report_statuses=[reports[rid]["status"] for rid in ids if rid in reports],
        max_rss_kb=max_rss,
        summaries=shutdown_summaries(lam),
        exit_ok=outcome.exit_code == 0 and bool(outcome.exited_before_deadline),
        ids=ids,
    )


def _env(endpoint: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return sidecar_env(
        endpoint,
        tmp_path,
        SIDECAR_EXPORT_BUDGET_MS=str(BUDGET_MS),
        OTEL_EXPORTER_OTLP_TIMEOUT=str(OTLP_TIMEOUT_MS),
        SIDECAR_RETRY_INITIAL_MS="50",
        SIDECAR_RETRY_MAX_MS="500",
        **extra,
    )


@pytest.fixture(scope="module")
def baseline(built_layer: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The same load against a healthy receiver: the durations faults are compared with."""
    tmp = tmp_path_factory.mktemp("baseline")
    with (
        OtlpHttpReceiver() as rx,
        LambdaEnvironment(
            built_layer,
            make_function(tmp),
            "app.handler",
            env=_env(rx.endpoint, tmp),
            freeze=True,
            echo_output=quiet,
        ) as lam,
    ):
        results, rss = _run(lam, "base", scaled(10, cap=50))
        lam.spindown()
        return _collect(lam, results, rss)


def _durations(run: Run) -> tuple[float, float]:
    """(median, max) of the durations, for the report next to the baseline's. Not asserted: the
    machine's load decides them; what a failing backend may cost the function is asserted, as
    a relation to a large budget, in test_dead_backend.py."""
    return statistics.median(run.durations_ms.values()), max(run.durations_ms.values())


@dataclass(frozen=True)
class OtlpFault:
    name: str
    describe: str
    recovers: bool


OTLP_FAULTS = [
    OtlpFault("absent", "nothing listening on the endpoint, then a receiver starts there", True),
    OtlpFault("503", "503 with Retry-After: 1, then 200", True),
    OtlpFault("429", "429 with Retry-After: 1, then 200", True),
    OtlpFault("hang", "accepts and never answers, then answers", True),
    OtlpFault("slow", "answers after 1.5 s (proxy latency), then at once", True),
    OtlpFault("close", "closes the connection mid-request, then answers", True),
    OtlpFault("tls", "TLS certificate not trusted (never recovers)", False),
]


@pytest.mark.parametrize("fault", OTLP_FAULTS, ids=[f.name for f in OTLP_FAULTS])
def test_otlp_backend_failing(
    built_layer: Path, tmp_path: Path, case: CaseRecord, baseline: Run, fault: OtlpFault
) -> None:
    faulty, healthy = scaled(8, cap=40), scaled(4, cap=20)
    tag = f"otlp-{fault.name}"
    with ExitStack() as stack:
        rx = OtlpHttpReceiver()
        endpoint: str
        recover: Callable[[], None]
        if fault.name == "absent":
            port = unused_port()
            endpoint = f"http://127.0.0.1:{port}"
            rx = OtlpHttpReceiver(port=port)

            def recover() -> None:
                stack.enter_context(rx)

        elif fault.name == "tls":
            rx = stack.enter_context(OtlpHttpReceiver(tls=make_self_signed_cert(str(tmp_path))))
            endpoint = rx.endpoint

            def recover() -> None:
                pass

        elif fault.name == "slow":
            stack.enter_context(rx)
            proxy = stack.enter_context(FaultProxy(rx.endpoint))
            proxy.latency_s = 1.5
            endpoint = proxy.url

            def recover() -> None:
                proxy.latency_s = 0.0

        else:
            stack.enter_context(rx)
            endpoint = rx.endpoint
            if fault.name in ("503", "429"):
                rx.status(int(fault.name), retry_after=1)
            elif fault.name == "hang":
                rx.hang()
            else:
                rx.close_connection()
            recover = rx.ok

        env = _env(endpoint, tmp_path)
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, freeze=True, echo_output=quiet
        ) as lam:
            bad, rss1 = _run(lam, tag, faulty)
            recover()
            time.sleep(1.1)  # let a Retry-After / backoff expire
            good, rss2 = _run(lam, tag, healthy, start=faulty)
            lam.spindown()
            run = _collect(lam, bad + good, max(rss1, rss2))
        received = line_counts(rx.logs())
        spans = invocation_spans(rx.spans())

    wanted = [line for n in range(faulty + healthy) for line in expected_lines(tag, n, LINES)]
    missing = [line for line in wanted if received[line] == 0]
    duplicates = sum(c - 1 for c in received.values() if c > 1)
    drops = dropped_by_reason(run.summaries)
    failed_attempts = summed(run.summaries, "export_failed")
    med, top = _durations(run)
    case.set(
        "Backends failing",
        f"OTLP destination: {fault.name}",
        load=f"{faulty} invokes during the fault, {healthy} after, freeze",
        faults=fault.describe,
        lost=(f"{len(missing)} lines; dropped and counted: {sum(drops.values())} records {drops or ''}"),
    )
    case.figure(
        invokes=faulty + healthy,
        failed_attempts=failed_attempts,
        lines_missing=len(missing),
        duplicates=duplicates,
        spans_received=len(spans),
        dropped=drops,
        median_duration_ms=round(med, 1),
        max_duration_ms=round(top, 1),
        baseline_median_ms=round(statistics.median(baseline.durations_ms.values()), 1),
        max_rss_mb=round(run.max_rss_kb / 1024, 1),
    )
    assert run.statuses == ["success"] * (faulty + healthy)
    assert run.report_statuses == ["success"] * (faulty + healthy)
    assert run.exit_ok
    assert run.max_rss_kb < RSS_BOUND_KB
    assert failed_attempts >= 1, run.summaries
    if fault.recovers:
        assert not missing, missing[:10]
        assert set(run.ids) <= set(spans)
    else:
        assert len(missing) == len(wanted)
        assert drops.get("permanent_error", 0) + drops.get("shutdown_deadline", 0) >= len(wanted), drops


SECRET = "reliability/db"


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[str, FaultProxy]]:
    with moto_server() as url:
        boto3_client(url, "secretsmanager").create_secret(
            Name=SECRET, SecretString='{"password": "not-a-canary"}'
        )
        with FaultProxy(url) as proxy:
            yield url, proxy


def test_aws_throttling_errors_and_timeouts_serve_the_cached_value(
    built_layer: Path, tmp_path: Path, case: CaseRecord, baseline: Run, aws: tuple[str, FaultProxy]
) -> None:
    _, proxy = aws
    proxy.clear()
    per_fault = scaled(3, cap=10)
    faults: list[tuple[str, Fault]] = [
        ("throttling (400 ThrottlingException)", Fault.throttle()),
        ("throttling (429)", Fault.throttle(429)),
        ("5xx (500 InternalServiceError)", Fault.server_error()),
        ("5xx (503)", Fault.server_error(503)),
        ("timeout (2 s latency > 300 ms AWS timeout)", Fault.latency(2.0)),
        ("connection reset", Fault.connection_reset()),
    ]
    with OtlpHttpReceiver() as rx:
        secrets_port = unused_port()
        env = _env(
            rx.endpoint,
            tmp_path,
            PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(secrets_port),
            AWS_ENDPOINT_URL=proxy.url,
            SECRETS_MANAGER_TIMEOUT_MILLIS="300",
            **TEST_CREDENTIALS,
        )
        url = f"http://127.0.0.1:{secrets_port}/secretsmanager/get?secretId={SECRET}&refreshNow=true"
        with LambdaEnvironment(
            built_layer, make_function(tmp_path), "app.handler", env=env, freeze=True, echo_output=quiet
        ) as lam:
            results = [lam.invoke({"secret_url": url})]  # primes the cache
            for _, fault in faults:
                proxy.always(fault)
                results += [lam.invoke({"secret_url": url}) for _ in range(per_fault)]
            proxy.clear()
            results.append(lam.invoke({"secret_url": url}))
            lam.spindown()
            run = _collect(lam, results, 0)
    stale = sum(v for s in run.summaries for k, v in s.items() if k == "cache_requests{stale}")
    med, top = _durations(run)
    case.set(
        "Backends failing",
        "AWS APIs (Secrets Manager behind the fault proxy)",
        load=f"{len(results)} invokes reading a secret with refreshNow=true",
        faults="; ".join(name for name, _ in faults) + f" ({per_fault} invokes each)",
        lost="nothing: the cached value was served (X-Cache: stale) for every failed refresh",
    )
    case.figure(
        invokes=len(results),
        failed_refreshes=per_fault * len(faults),
        served_stale=stale,
        upstream_requests=proxy.total("GetSecretValue"),
        median_duration_ms=round(med, 1),
        max_duration_ms=round(top, 1),
    )
    assert run.statuses == ["success"] * len(results), [r.response for r in results]
    assert all(r.response == {"secret_length": 28} for r in results)
    assert stale >= per_fault * len(faults), run.summaries
    assert run.exit_ok
