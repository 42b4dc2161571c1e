"""Platform events as CloudWatch-style lines: absent fields are left out, as Lambda does."""

from __future__ import annotations

import pytest

from extension.processors import platform_lines as lines
from extension.sources.telemetry_api.schema import InitStart, PhaseDone, Report


def _start(version: str | None, arn: str | None) -> InitStart:
    return InitStart("on-demand", "init", None, None, None, None, version, arn, None)


def _done(phase: str | None, status: str | None, error: str | None, ms: float | None) -> PhaseDone:
    return PhaseDone("on-demand", phase, status, error, ms, (), None)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_start(None, None), "INIT_START"),
        (_start("python:3.12.v40", None), "INIT_START Runtime Version: python:3.12.v40"),
        (
            _start("python:3.12.v40", "arn:aws:lambda:eu-west-1::runtime:abc"),
            "INIT_START Runtime Version: python:3.12.v40\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:abc",
        ),
    ],
)
def test_phase_start_line(record: InitStart, expected: str) -> None:
    assert lines.phase_start_line("init", record) == expected


def test_phase_report_line() -> None:
    assert (
        lines.phase_report_line("init", _done(None, None, None, None)) == "INIT_REPORT Init Duration: 0.00 ms"
    )
    assert lines.phase_report_line("restore", _done("invoke", "error", "Runtime.ExitError", 12.345)) == (
        "RESTORE_REPORT Restore Duration: 12.35 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ExitError"
    )


def test_report_line_leaves_out_what_is_absent() -> None:
    rec = Report("r1", "success", None, 1.5, None, 128, None, 20.0, None, (), None, None)
    assert (
        lines.report_line(rec)
        == "REPORT RequestId: r1\tDuration: 1.50 ms\tMemory Size: 128 MB\tInit Duration: 20.00 ms"
    )
