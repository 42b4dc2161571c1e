"""A dead backend costs the function at most one export budget, then nothing.

The OTLP backend hangs (accepts, never answers), refuses connections, or answers 503 slowly
(later than most of the budget). The export budget is set large (5 s) and the exporter's own
timeout far above it, so an invoke that waits for the backend shows an `extensionOverhead` of
seconds, and one that does not shows the Telemetry API's buffering delay. Under the default flush
policy (which waits for every infrequent invoke's runtimeDone and exports before `/next`):

- from the second invoke of the fault on, no invoke waits for the backend (overhead far below the
  budget: the one-budget cost is the first invoke's);
- once the backend answers again, the queued data arrives while invokes go on (probes made
  alongside the function code, not only at SHUTDOWN), and in the end every line arrives.

Only the relation "far below the budget" is asserted, never a duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator import LambdaEnvironment
from emulator.backends.fault_proxy import FaultProxy
from emulator.backends.otlp_receivers import OtlpHttpReceiver, unused_port
from tests.integration.helpers import sidecar_env
from tests.reliability.support import (
    EXTENSION,
    dropped_by_reason,
    expected_lines,
    line_counts,
    make_function,
    quiet,
    shutdown_summaries,
    summed,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BUDGET_MS = 5000
#: An invoke that did not wait for the backend is far below this (it waits ~25 ms for runtimeDone).
FAR_BELOW_MS = BUDGET_MS / 2
#: The slow backend answers 503 after this long: inside the budget, so before the fix every
#: invoke waited for it.
SLOW_5XX_S = 4.0
FAULTY, LINES = 6, 2
#: Far above the budget: the extension bounds its wait by the invoke's deadline too.
FUNCTION_TIMEOUT_S = 30
#: Bound on the wait for the queued data once the backend is back (a condition, polled).
RECOVERY_TIMEOUT_S = 90.0


@dataclass
class Backend:
    endpoint: str
    receiver: OtlpHttpReceiver
    recover: Callable[[], None]


@contextmanager
def failing_backend(kind: str) -> Iterator[Backend]:
    with ExitStack() as stack:
        if kind == "refuse":
            port = unused_port()
            rx = OtlpHttpReceiver(port=port)
            yield Backend(f"http://127.0.0.1:{port}", rx, lambda: stack.enter_context(rx))
            return
        rx = stack.enter_context(OtlpHttpReceiver())
        if kind == "hang":
            rx.hang()
            yield Backend(rx.endpoint, rx, rx.ok)
            return
        rx.status(503)  # no Retry-After: the extension's own backoff applies
        proxy = stack.enter_context(FaultProxy(rx.endpoint))
        proxy.latency_s = SLOW_5XX_S

        def recover() -> None:
            rx.ok()
            proxy.latency_s = 0.0

        yield Backend(proxy.url, rx, recover)


def _overheads_ms(lam: LambdaEnvironment, ids: list[str]) -> list[float]:
    by_id = {
        e["record"]["requestId"]: next(
            (s["durationMs"] for s in e["record"].get("spans", []) if s["name"] == "extensionOverhead"),
            0.0,
        )
        for e in lam.events_of("platform.report")
    }
    return [float(by_id[rid]) for rid in ids]


@pytest.mark.parametrize("kind", ["hang", "refuse", "slow-5xx"])
def test_a_dead_backend_costs_at_most_one_budget(built_layer: Path, tmp_path: Path, kind: str) -> None:
    tag = f"dead-{kind}"
    with failing_backend(kind) as backend:
        env = sidecar_env(
            backend.endpoint,
            tmp_path,
            SIDECAR_FLUSH_POLICY="adaptive",
            SIDECAR_EXPORT_BUDGET_MS=str(BUDGET_MS),
            OTEL_EXPORTER_OTLP_TIMEOUT="60000",
            SIDECAR_RETRY_INITIAL_MS="50",
            SIDECAR_RETRY_MAX_MS="400",
        )
        with LambdaEnvironment(
            built_layer,
            make_function(tmp_path),
            "app.handler",
            env=env,
            timeout_s=FUNCTION_TIMEOUT_S,
            freeze=True,
            echo_output=quiet,
        ) as lam:
            faulty = [lam.invoke({"tag": tag, "n": n, "lines": LINES}) for n in range(FAULTY)]
            backend.recover()
            wanted_faulty = {line for n in range(FAULTY) for line in expected_lines(tag, n, LINES)}
            n, arrived_before_shutdown = FAULTY, False
            deadline = time.monotonic() + RECOVERY_TIMEOUT_S
            while time.monotonic() < deadline:
                # the function sleeps, so a probe has the function's run time to get through
                lam.invoke({"tag": tag, "n": n, "lines": LINES, "sleep": 0.2})
                n += 1
                if wanted_faulty <= set(line_counts(backend.receiver.logs())):
                    arrived_before_shutdown = True
                    break
            lam.spindown()
            overheads = _overheads_ms(lam, [r.request_id for r in faulty])
            summaries = shutdown_summaries(lam)
            outcome = lam.extension_outcomes[EXTENSION]
        received = line_counts(backend.receiver.logs())

    assert [r.status for r in faulty] == ["success"] * FAULTY
    assert outcome.exit_code == 0 and outcome.exited_before_deadline
    # the first invoke may pay one budget; from the second on, nobody waits for the dead backend
    assert all(ms < FAR_BELOW_MS for ms in overheads[1:]), overheads
    assert summed(summaries, "destination_failing") >= 1, summaries
    # back up: the queued data is delivered by probes while invokes go on, then everything arrives
    assert arrived_before_shutdown, sorted(set(wanted_faulty) - set(received))[:5]
    wanted = [line for i in range(n) for line in expected_lines(tag, i, LINES)]
    assert [line for line in wanted if received[line] == 0] == []
    assert dropped_by_reason(summaries) == {}
