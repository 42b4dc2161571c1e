"""Arbitrary (but JSON-shaped) event streams never break the processor or produce unencodable data."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from extension.signals import Signals
from extension.sources.telemetry_api.schema import EventType, parse_batch
from extension.stats import Stats
from tests.unit.processors.helpers import NOW, processor

U64 = 2**64
REQUEST_IDS = st.sampled_from(["a", "b", "c", "undefined", ""])
TIMES = st.one_of(
    st.sampled_from(["2026-03-01T10:15:30.100Z", "2026-03-01T10:15:31.900Z", "2022-08-02T12:01:23:521Z"]),
    st.text(max_size=12),
    st.integers(),
    st.floats(),
    st.none(),
)
NUMBERS = st.one_of(st.floats(), st.integers(), st.text(max_size=6), st.none(), st.booleans())
STATUS = st.sampled_from(["success", "error", "failure", "timeout", "weird", None])
SPANS = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["responseLatency", "extensionOverhead"])},
        optional={"start": TIMES, "durationMs": NUMBERS},
    ),
    max_size=3,
)
TRACING = st.fixed_dictionaries(
    {},
    optional={
        "spanId": st.sampled_from(["24cd7d670fa455f0", "0000000000000000", "xyz"]),
        "value": st.sampled_from(
            ["Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1", "Root=", "garbage"]
        ),
    },
)
PLATFORM_RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "requestId": REQUEST_IDS,
        "status": STATUS,
        "errorType": st.sampled_from(["Runtime.ExitError", None]),
        "phase": st.sampled_from(["init", "invoke", None]),
        "initializationType": st.sampled_from(["on-demand", "snap-start", None]),
        "metrics": st.dictionaries(
            st.sampled_from(
                [
                    "durationMs",
                    "billedDurationMs",
                    "memorySizeMB",
                    "maxMemoryUsedMB",
                    "initDurationMs",
                    "producedBytes",
                ]
            ),
            NUMBERS,
        ),
        "spans": SPANS,
        "tracing": TRACING,
        "droppedRecords": NUMBERS,
        "droppedBytes": NUMBERS,
    },
)
LOG_RECORDS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["[INFO]\t2026-03-01T10:15:30.200Z\ta\thello\n", "2026\tb\tERROR\tx", '{"level": 3}']),
    st.dictionaries(
        st.sampled_from(["message", "level", "timestamp", "requestId", "x", "stackTrace"]),
        st.one_of(st.text(max_size=8), st.integers(), st.lists(st.integers(), max_size=2)),
    ),
)
EVENTS = st.one_of(
    st.builds(
        lambda t, time, rec: {"type": t, "time": time, "record": rec},
        st.sampled_from(
            [k.value for k in EventType if k not in (EventType.FUNCTION, EventType.EXTENSION)]
            + ["platform.unknown"]
        ),
        TIMES,
        PLATFORM_RECORDS,
    ),
    st.builds(
        lambda t, time, rec: {"type": t, "time": time, "record": rec},
        st.sampled_from(["function", "extension"]),
        TIMES,
        LOG_RECORDS,
    ),
)
ACTIONS = st.lists(
    st.one_of(
        st.lists(EVENTS, max_size=6).map(lambda evs: ("batch", evs)),
        st.tuples(st.just("invoke"), REQUEST_IDS, st.integers(min_value=-1, max_value=2**70)),
    ),
    max_size=6,
)


def _check(signals: Signals) -> None:
    for span in signals.spans:
        assert len(span.trace_id) == 16 and len(span.span_id) == 8
        assert 0 <= span.start_ns <= span.end_ns < U64
        for child in span.events:
            assert 0 <= child.time_ns < U64
    for log in signals.logs:
        assert 0 <= log.time_ns < U64
    for m in signals.metrics:
        assert "faas.invocation_id" not in m.attributes


@settings(max_examples=150, deadline=None)
@given(ACTIONS, st.sampled_from(["spindown", "timeout", "failure"]), st.booleans())
def test_any_stream_is_processed_without_internal_errors(
    actions: list[Any], reason: str, platform_logs: bool
) -> None:
    stats = Stats()
    env = {"SIDECAR_PLATFORM_LOGS": "true"} if platform_logs else {}
    proc = processor(stats, **env)
    for action in actions:
        if action[0] == "batch":
            _check(proc.process(parse_batch(action[1]).events))
        elif action[1]:
            proc.on_invoke(action[1], action[2], None, NOW - 10**9)
    _check(proc.on_shutdown(reason, NOW))
    proc.health_metrics(NOW)
    assert stats.total("processing_errors") == 0
