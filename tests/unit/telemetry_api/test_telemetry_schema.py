"""Parsing the Telemetry API wire format: every fixture, every quirk, and arbitrary garbage."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extension.sources.telemetry_api.schema import (
    EventType,
    ExtensionState,
    InitStart,
    LogsDropped,
    PhaseDone,
    Report,
    RuntimeDone,
    Start,
    Subscription,
    parse_batch,
    parse_time_ns,
    split_text_line,
)
from tests.unit.telemetry_api.fixture_data import FIXTURE_NAMES, load

MS = 1_000_000


def ns(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp() * 1000) * MS


def test_fixture_set_is_complete() -> None:
    assert len(FIXTURE_NAMES) == 9


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_parses_without_loss(name: str) -> None:
    payload = load(name)
    result = parse_batch(payload)
    assert result.error is None
    assert (result.invalid, result.unknown_types) == (0, 0)
    assert len(result.events) == len(payload)
    for event, raw in zip(result.events, payload, strict=True):
        assert event.raw is raw
        assert event.kind is EventType(raw["type"])
        assert event.time_ns is not None and event.time_ns > 1_600_000_000 * 10**9


def test_cold_start_records_are_typed() -> None:
    start, done, report = parse_batch(load("cold-start-success.json")).events
    assert isinstance(start.record, Start)
    assert start.record.version == "$LATEST"
    assert start.record.tracing is not None and start.record.tracing.span_id == "24cd7d670fa455f0"
    assert start.request_id == "459921b5-681c-4a96-beb0-81e0aa586026"
    assert start.time_ns == ns("2022-10-21T14:05:03.165+00:00")
    assert isinstance(done.record, RuntimeDone)
    assert (done.record.status, done.record.duration_ms, done.record.produced_bytes) == ("success", 2599.0, 8)
    assert [s.name for s in done.record.spans] == ["responseLatency", "responseDuration"]
    assert done.record.spans[0].start_ns == ns("2022-10-21T14:05:03.165+00:00")
    assert isinstance(report.record, Report)
    r = report.record
    assert (r.billed_duration_ms, r.memory_size_mb, r.max_memory_used_mb, r.init_duration_ms) == (
        2600,
        128,
        94,
        549.04,
    )
    assert r.spans == () and r.error_type is None and r.restore_duration_ms is None


def test_2022_era_init_records_have_missing_fields_as_none() -> None:
    events = parse_batch(load("init-success.json")).events
    init_start, sub, runtime_done, ext, init_report = (e.record for e in events)
    assert isinstance(init_start, InitStart)
    assert init_start.initialization_type == "on-demand" and init_start.phase == "init"
    assert init_start.function_name is None and init_start.runtime_version is None
    assert (
        isinstance(runtime_done, PhaseDone)
        and runtime_done.phase is None
        and runtime_done.status == "success"
    )
    assert (
        isinstance(init_report, PhaseDone) and init_report.status is None and init_report.duration_ms == 500.0
    )
    assert isinstance(sub, Subscription) and sub.types == ("platform", "function")
    assert isinstance(ext, ExtensionState) and ext.events == ("SHUTDOWN", "INVOKE") and ext.state == "Ready"
    assert all(e.request_id is None for e in events)


def test_oldest_init_start_and_string_records_with_newline() -> None:
    events = parse_batch(load("init-extension-logs.json")).events
    first = events[0].record
    assert isinstance(first, InitStart) and first.initialization_type == "on-demand" and first.phase is None
    logs = events[1:]
    assert all(e.kind is EventType.EXTENSION and isinstance(e.record, str) for e in logs)
    assert all(isinstance(e.record, str) and e.record.endswith("\n") for e in logs)  # kept as received
    assert all(e.request_id is None for e in logs)


def test_suppressed_init_quirks() -> None:
    events = parse_batch(load("init-error-suppressed.json")).events
    phases = [e.record.phase for e in events if isinstance(e.record, InitStart)]
    assert phases == ["init", "invoke"]
    states = [e.record.state for e in events if isinstance(e.record, Subscription)]
    assert states == ["Subscribed", "Already subscribed"]
    log = events[-1]
    assert log.kind is EventType.FUNCTION and log.request_id is None  # the Node "undefined" column


def test_invalid_iso_time_in_doc_example_is_read_tolerantly() -> None:
    events = parse_batch(load("snapstart-restore.json")).events
    restore_start, restore_done, restore_report = (e.record for e in events)
    assert isinstance(restore_start, InitStart) and restore_start.instance_max_memory == 256
    assert isinstance(restore_done, PhaseDone) and isinstance(restore_report, PhaseDone)
    assert restore_done.spans[0].start_ns == ns("2022-08-02T12:01:23.521+00:00")
    assert restore_report.duration_ms == 15.19 and restore_report.spans[0].duration_ms == 30.0


def test_timeout_and_logs_dropped_and_json_records() -> None:
    done, report = parse_batch(load("timeout.json")).events
    assert (
        isinstance(done.record, RuntimeDone)
        and done.record.status == "timeout"
        and done.record.produced_bytes == 0
    )
    assert isinstance(report.record, Report) and report.record.status == "timeout"
    (dropped,) = parse_batch(load("logs-dropped.json")).events
    assert isinstance(dropped.record, LogsDropped)
    assert (dropped.record.dropped_bytes, dropped.record.dropped_records) == (12345, 123)
    assert dropped.record.reason is not None and dropped.record.reason.startswith("Some logs were dropped")
    fn, ext = parse_batch(load("record-shapes-json-format.json")).events
    assert isinstance(fn.record, dict) and fn.request_id == "79b4f56e-95b1-4643-9700-2807f4e68189"
    assert ext.kind is EventType.EXTENSION and ext.request_id == fn.request_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-10-21T14:05:03.165Z", ns("2022-10-21T14:05:03.165+00:00")),
        ("2022-08-02T12:01:23:521Z", ns("2022-08-02T12:01:23.521+00:00")),
        ("2022-08-02 12:01:23,521+0000", ns("2022-08-02T12:01:23.521+00:00")),
        ("2022-08-02T14:01:23.521+02:00", ns("2022-08-02T12:01:23.521+00:00")),
        ("2022-08-02T14:01:23:521+0200", ns("2022-08-02T12:01:23.521+00:00")),
        ("2022-08-02T12:01:23", ns("2022-08-02T12:01:23+00:00")),
        (1659441683521, ns("2022-08-02T12:01:23.521+00:00")),
        (1659441683.521, ns("2022-08-02T12:01:23.521+00:00")),
        ("yesterday", None),
        ("2022-13-45T99:99:99Z", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        (10**400, None),
    ],
)
def test_parse_time_ns(value: object, expected: int | None) -> None:
    result = parse_time_ns(value)
    if expected is None:
        assert result is None
    else:
        assert result is not None and abs(result - expected) < 1000  # float seconds lose < 1 us


def test_split_text_line_python_and_node_formats() -> None:
    py = split_text_line("[WARNING]\t2026-03-01T10:15:30.200Z\tabc-123\tlow stock\tfor item 7")
    assert py is not None
    assert (py.level, py.timestamp, py.request_id, py.message) == (
        "WARNING",
        "2026-03-01T10:15:30.200Z",
        "abc-123",
        "low stock\tfor item 7",
    )
    node = split_text_line("2026-03-01T10:15:30.200Z\tabc-123\tERROR\tboom")
    assert node is not None and (node.level, node.request_id, node.message) == ("ERROR", "abc-123", "boom")
    assert split_text_line("2026-03-01T10:15:30.200Z\tundefined\tINFO\tx") == (
        "INFO",
        "2026-03-01T10:15:30.200Z",
        None,
        "x",
    )
    assert split_text_line("plain text") is None
    assert split_text_line("a\tb\tc\td") is None


def test_non_array_body_is_an_error() -> None:
    for body in ({"type": "function"}, "text", 3, None):
        result = parse_batch(body)
        assert result.error is not None and result.events == ()


def test_bad_events_are_counted_and_unknown_types_kept() -> None:
    unknown = {"time": "2026-03-01T10:15:30.123Z", "type": "platform.somethingNew", "record": {"x": 1}}
    payload: list[Any] = [
        1,
        "str",
        None,
        {"record": {}},  # no type
        {"type": 7, "record": {}},
        {"type": "platform.start", "record": "not an object"},
        {"type": "function"},  # no record
        {
            "type": "platform.report",
            "record": {"metrics": "nope", "spans": [1, {"start": 3}], "requestId": 5},
        },
        {"type": "function", "record": 42, "time": "bad time"},
        unknown,
        {"type": "platform.end", "record": {"requestId": "r1"}},
        {"type": "platform.fault", "record": "RequestId: r1 Process exited before completing request"},
        {
            "type": "platform.logsSubscription",
            "record": {"name": "x", "state": "Subscribed", "types": ["platform"]},
        },
    ]
    result = parse_batch(payload)
    assert result.error is None
    assert result.invalid == 7
    assert result.unknown_types == 1
    report, fn, unk, end, fault, logs_sub = result.events
    assert (
        isinstance(report.record, Report)
        and report.record.request_id is None
        and report.record.duration_ms is None
    )
    assert fn.record == "42" and fn.time_ns is None
    assert (
        unk.kind is None
        and unk.type == "platform.somethingNew"
        and unk.record == {"x": 1}
        and unk.raw is unknown
    )
    assert end.kind is EventType.END and end.request_id == "r1"
    assert fault.kind is EventType.FAULT and isinstance(fault.record, str)
    assert logs_sub.kind is EventType.LOGS_SUBSCRIPTION


def test_numbers_as_strings_and_bools_in_numeric_fields() -> None:
    (event,) = parse_batch(
        [
            {
                "type": "platform.report",
                "record": {
                    "requestId": "r",
                    "metrics": {"durationMs": "12.5", "billedDurationMs": True, "memorySizeMB": 1e400},
                },
            }
        ]
    ).events
    assert isinstance(event.record, Report)
    assert event.record.duration_ms == 12.5
    assert event.record.billed_duration_ms is None and event.record.memory_size_mb is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
event_types = st.sampled_from([t.value for t in EventType] + ["platform.unknown", ""])
envelopes = st.fixed_dictionaries(
    {"type": event_types | json_values},
    optional={"time": st.text(max_size=30) | json_values, "record": json_values},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.lists(envelopes | json_values, max_size=10)))
def test_parse_batch_never_raises(payload: object) -> None:
    result = parse_batch(payload)
    if isinstance(payload, list):
        assert result.error is None
        assert len(result.events) + result.invalid == len(payload)
        for event in result.events:
            _ = event.request_id  # must not raise either
    else:
        assert result.error is not None


def test_parse_time_ns_cache_stays_bounded_and_correct() -> None:
    from extension.sources.telemetry_api import schema

    texts = [f"2024-01-01T00:00:{i // 1000:02d}.{i % 1000:03d}Z" for i in range(1000)]
    first = [parse_time_ns(t) for t in texts]
    assert len(schema._TIME_CACHE) <= schema._TIME_CACHE_MAX
    assert [parse_time_ns(t) for t in texts] == first  # repeated: cached or re-parsed, the same
    assert first[1] - first[0] == 1_000_000
    assert parse_time_ns("not a time") is None and parse_time_ns("not a time") is None
