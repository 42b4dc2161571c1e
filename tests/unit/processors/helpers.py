"""Builders shared by the processor tests: settings from an env mapping, a processor with a fake
clock and deterministic ids, and events from fixtures or inline dicts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from extension.config import Settings, from_env
from extension.processors.processor import TelemetryProcessor
from extension.signals import Resource, Signals, SpanData
from extension.sources.telemetry_api.schema import TelemetryEvent, parse_batch
from extension.stats import Stats
from tests.unit.telemetry_api.fixture_data import load

NOW = 1_900_000_000 * 10**9  # the fake clock: a fixed instant after every fixture
FN = "orders-api"


def settings(**env: str) -> Settings:
    return from_env({"AWS_LAMBDA_FUNCTION_NAME": FN, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", **env})


def _ids() -> Iterator[int]:
    return itertools.count(1)


def processor(stats: Stats | None = None, **env: str) -> TelemetryProcessor:
    counter = _ids()

    def ids(size: int) -> bytes:
        return next(counter).to_bytes(size, "big")

    return TelemetryProcessor(
        settings(**env), Resource({"service.name": FN}), stats or Stats(), clock=lambda: NOW, id_generator=ids
    )


def events(payload: list[dict[str, Any]]) -> tuple[TelemetryEvent, ...]:
    result = parse_batch(payload)
    assert result.invalid == 0
    return result.events


def fixture_events(name: str) -> tuple[TelemetryEvent, ...]:
    return events(load(name))


def span_named(signals: Signals, name: str) -> SpanData:
    matches = [s for s in signals.spans if s.name == name]
    assert len(matches) == 1, [s.name for s in signals.spans]
    return matches[0]


def metric_values(signals: Signals, name: str) -> list[float]:
    return [m.value for m in signals.metrics if m.name == name]


def ev(type_: str, time: str, record: Any) -> dict[str, Any]:
    return {"time": time, "type": type_, "record": record}
