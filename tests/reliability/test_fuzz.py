"""Hypothesis fuzzing of every local HTTP endpoint: the Telemetry API listener, 2773 and 2772.

First in-process on loopback (fast: many examples), then a smaller pass against the real
extension process in the emulator. For every request: an answer (no hang), never a 500 (our code
failing), and afterwards the server still answers, with `internal_errors` still zero.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from emulator import LambdaEnvironment
from emulator.backends.moto_server import TEST_CREDENTIALS
from emulator.backends.otlp_receivers import unused_port
from extension.cache.service import CacheService
from extension.cache.sockets import bind_cache_sockets
from extension.config import from_env
from extension.sources.telemetry_api.listener import TelemetryApiSource
from extension.sources.telemetry_api.schema import TelemetryEvent
from extension.stats import Stats
from tests.integration.helpers import sidecar_env
from tests.reliability.fuzzing import TOKEN, LoopThread, loopback_socket, requests, send
from tests.reliability.recorder import CaseRecord
from tests.reliability.support import (
    EXTENSION,
    listener_port,
    make_function,
    quiet,
    scaled,
    shutdown_summaries,
)

pytestmark = pytest.mark.timeout(600)

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@dataclass
class InProcess:
    stats: Stats
    events: list[TelemetryEvent]
    ports: dict[str, int]


def _cache_env() -> dict[str, str]:
    return {
        **TEST_CREDENTIALS,
        "AWS_REGION": "us-east-1",
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{unused_port()}",  # AWS unreachable: error paths too
        "SECRETS_MANAGER_TIMEOUT_MILLIS": "200",
        "SSM_PARAMETER_STORE_TIMEOUT_MILLIS": "200",
        "AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS": "200",
    }


@pytest.fixture(scope="module")
def in_process() -> Iterator[InProcess]:
    loop = LoopThread()
    stats = Stats()
    events: list[TelemetryEvent] = []
    settings_ = from_env(_cache_env())
    settings_ = dataclasses.replace(
        settings_, cache=dataclasses.replace(settings_.cache, secrets_port=0, appconfig_port=0)
    )
    sockets = bind_cache_sockets(settings_.cache)
    assert sockets.secrets is not None and sockets.appconfig is not None
    ports = {
        "secrets": int(sockets.secrets.getsockname()[1]),
        "appconfig": int(sockets.appconfig.getsockname()[1]),
    }

    async def start() -> tuple[TelemetryApiSource, CacheService]:
        # Served under one of the generated paths, so that fuzzed requests reach the batch parsing.
        listener = TelemetryApiSource(loopback_socket(), events.extend, stats, 262144, "/telemetry")
        cache = CacheService(settings_, stats, sockets)
        await listener.start()
        await cache.start()
        return listener, cache

    async def stop(listener: TelemetryApiSource, cache: CacheService) -> None:
        deadline = asyncio.get_running_loop().time() + 2.0
        await listener.shutdown(deadline)
        await cache.shutdown(deadline)

    listener, cache = loop.run(start())
    ports["telemetry"] = listener.port
    try:
        yield InProcess(stats, events, ports)
    finally:
        loop.run(stop(listener, cache))
        loop.stop()


def _fuzz(port: int, examples: int, statuses: Counter[int]) -> None:
    @settings(FUZZ, max_examples=examples)
    @given(req=requests())
    def one(req: tuple[str, str, dict[str, str], bytes]) -> None:
        status = send(port, *req)
        statuses[status] += 1
        assert status != 0, f"connection closed without an answer: {req!r:.300}"
        assert status != 500, f"500 for {req!r:.300}"

    one()


@pytest.mark.parametrize("endpoint", ["telemetry", "secrets", "appconfig"])
def test_fuzz_in_process(in_process: InProcess, case: CaseRecord, endpoint: str) -> None:
    port = in_process.ports[endpoint]
    statuses: Counter[int] = Counter()
    _fuzz(port, scaled(300, cap=3000), statuses)
    internal = in_process.stats.total("internal_errors")
    alive = send(port, "GET", "/ping", {}, b"")
    case.set(
        "Bad input",
        f"hypothesis fuzzing, in-process: {'port 2773' if endpoint == 'secrets' else 'port 2772' if endpoint == 'appconfig' else 'Telemetry API listener'}",
        load=f"{sum(statuses.values())} generated requests",
        bad_inputs="methods, paths (known + garbage, %-escapes), query strings, headers (token right/wrong/"
        "wrong-case, XFF), content types, bodies (binary, any JSON, 50k-deep nesting)",
        lost="n/a",
    )
    case.figure(
        requests=sum(statuses.values()), statuses=dict(sorted(statuses.items())), internal_errors=internal
    )
    assert alive in (200, 403, 404, 405)
    assert internal == 0, in_process.stats.snapshot()


@pytest.mark.integration
def test_fuzz_the_real_extension_process(built_layer: Path, tmp_path: Path, case: CaseRecord) -> None:
    secrets_port, appconfig_port = unused_port(), unused_port()
    env = sidecar_env(
        None,
        tmp_path,
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(secrets_port),
        AWS_APPCONFIG_EXTENSION_HTTP_PORT=str(appconfig_port),
        SIDECAR_EXPORTERS="file",
        SIDECAR_FILE_PATH=str(tmp_path / "out.jsonl"),
        **{k: v for k, v in _cache_env().items() if k != "AWS_SESSION_TOKEN"},
    )
    statuses: Counter[int] = Counter()
    examples = scaled(60, cap=500)
    with LambdaEnvironment(
        built_layer, make_function(tmp_path), "app.handler", env=env, echo_output=quiet
    ) as lam:
        first = lam.invoke({"tag": "fuzz"})
        pid = lam.pids[EXTENSION]
        ports = {"telemetry": listener_port(lam), "secrets": secrets_port, "appconfig": appconfig_port}
        for port in ports.values():
            _fuzz(port, examples, statuses)
        second = lam.invoke({"tag": "fuzz"})
        same = lam.pids.get(EXTENSION) == pid
        lam.spindown()
        outcome = lam.extension_outcomes[EXTENSION]
        summary = shutdown_summaries(lam)[-1]
    internal = sum(v for k, v in summary.items() if k.startswith("internal_errors"))
    case.set(
        "Bad input",
        "hypothesis fuzzing of the running extension (listener, 2773, 2772)",
        load=f"{sum(statuses.values())} generated requests over 3 ports, 2 invokes",
        bad_inputs="as above, against the built layer in the emulator",
        lost="nothing: same process, invokes succeed, clean exit",
    )
    case.figure(
        requests=sum(statuses.values()), statuses=dict(sorted(statuses.items())), internal_errors=internal
    )
    assert first.status == second.status == "success"
    assert same and outcome.exit_code == 0 and outcome.exited_before_deadline
    assert internal == 0, summary
