"""Fixtures of the reliability suite: the per-case record and its writing after each test."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator

import pytest

from tests.reliability.recorder import CaseRecord, file_for, write
from tests.reliability.support import SCALE

_RECORD_KEY = pytest.StashKey[CaseRecord]()


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Iterator[CaseRecord]:
    """The fault-matrix row of this test; fill it with `case.set(...)` and `case.figure(...)`."""
    record = CaseRecord(nodeid=request.node.nodeid, scale=SCALE)
    file_for(record.nodeid).unlink(missing_ok=True)
    request.node.stash[_RECORD_KEY] = record
    record.duration_s = time.monotonic()
    yield record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    record = item.stash.get(_RECORD_KEY, None)
    if call.when == "call" and record is not None and record.filled:
        record.outcome = "passed" if report.passed else ("skipped" if report.skipped else "failed")
        record.duration_s = round(time.monotonic() - record.duration_s, 2)
        write(record)
    return report
