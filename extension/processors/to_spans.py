"""Invocation, init and restore spans: one span per lifecycle phase, as AWS maps Telemetry API events
to OpenTelemetry spans (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-otel-spans.html).

A phase span is built from its Start/RuntimeDone/Report events, never one span per event. The
`spans` lists of RuntimeDone and Report (responseLatency, responseDuration, runtimeOverhead,
extensionOverhead) become child spans (default) or span events (`SIDECAR_SPAN_STYLE=events`).
Start time falls back to `RuntimeDone.time - durationMs`, then `Report.time - durationMs`,
because the Start event may be missing from a batch (as in a real timeout capture).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from extension.processors.invocations import Invocation
from extension.processors.outcome import error_type_of
from extension.processors.phases import Phase
from extension.processors.xray import derived_id
from extension.signals import AttrValue, SpanData, SpanEvent, SpanKind, SpanLink, StatusCode
from extension.sources.telemetry_api.schema import PhaseSpan

MIB = 1024 * 1024
_CHILD_SALT = b"lsc-child"


def status_of(status: str | None, error_type: str | None) -> tuple[StatusCode, str | None]:
    """Span status and `error.type` from a Telemetry API status (`success|error|failure|timeout`)."""
    if status is None:
        return (StatusCode.ERROR, error_type) if error_type else (StatusCode.UNSET, None)
    if status == "success":
        return StatusCode.OK, None
    return StatusCode.ERROR, error_type_of(status, error_type)


_MAX_DURATION_MS = 86_400_000.0  # a day: far above Lambda's 15 min, keeps garbage from overflowing


def _ns(ms: float | None) -> int:
    return int(min(ms, _MAX_DURATION_MS) * 1_000_000) if ms is not None and ms > 0 else 0


def _children(
    entries: Sequence[PhaseSpan],
    trace_id: bytes,
    parent_id: bytes,
    sampled: bool,
    status: StatusCode,
    style: str,
) -> tuple[list[SpanData], list[SpanEvent]]:
    spans: list[SpanData] = []
    events: list[SpanEvent] = []
    for index, entry in enumerate(entries):
        if entry.start_ns is None:
            continue
        if style == "events":
            events.append(SpanEvent(entry.name, entry.start_ns, {"durationMs": entry.duration_ms or 0.0}))
            continue
        span_id = derived_id(f"{parent_id.hex()}/{index}/{entry.name}", 8, _CHILD_SALT)
        end = entry.start_ns + _ns(entry.duration_ms)
        spans.append(
            SpanData(
                trace_id,
                span_id,
                parent_id,
                entry.name,
                SpanKind.INTERNAL,
                entry.start_ns,
                end,
                status,
                sampled=sampled,
            )
        )
    return spans, events


class _Done(Protocol):
    """What a phase's runtimeDone and report records share (RuntimeDone, Report, PhaseDone)."""

    @property
    def status(self) -> str | None: ...
    @property
    def error_type(self) -> str | None: ...
    @property
    def spans(self) -> tuple[PhaseSpan, ...]: ...


def _outcome(rd: _Done | None, rep: _Done | None) -> tuple[str | None, str | None]:
    """(status, errorType): the report's when it has them, else the runtimeDone's."""
    status = (rep.status if rep is not None else None) or (rd.status if rd is not None else None)
    error_type = (rep.error_type if rep is not None else None) or (rd.error_type if rd is not None else None)
    return status, error_type


def _with_children(span: SpanData, rd: _Done | None, rep: _Done | None, style: str) -> list[SpanData]:
    """`span` plus its children (or span events) from the `spans` lists of runtimeDone and report."""
    entries = (rd.spans if rd is not None else ()) + (rep.spans if rep is not None else ())
    children, events = _children(entries, span.trace_id, span.span_id, span.sampled, span.status, style)
    return [replace(span, events=tuple(events)) if events else span, *children]


def invocation_spans(
    inv: Invocation,
    function_name: str,
    style: str,
    *,
    links: tuple[SpanLink, ...] = (),
    end_ns: int | None = None,
    synthetic_error: tuple[str, str] | None = None,
) -> list[SpanData]:
    """The SERVER span of one invocation plus its children. `synthetic_error` (error.type,
    message) marks a span made up at shutdown for an invocation Lambda never reported."""
    rd, rep = inv.runtime_done, inv.report
    end = inv.report_ns or inv.runtime_done_ns or end_ns or inv.start_ns or inv.invoke_ns or 0
    start = inv.start_ns
    if start is None and rd is not None and inv.runtime_done_ns is not None and rd.duration_ms is not None:
        start = inv.runtime_done_ns - _ns(rd.duration_ms)
    if start is None and rep is not None and inv.report_ns is not None and rep.duration_ms is not None:
        start = inv.report_ns - _ns(rep.duration_ms)
    if start is None:
        start = inv.invoke_ns if inv.invoke_ns is not None else end
    start = max(start, 0)  # a duration longer than the time since the epoch is a bad record, not a span
    end = max(end, start)

    attrs: dict[str, AttrValue] = {"faas.invocation_id": inv.request_id, "faas.coldstart": inv.coldstart}
    status_text, error_type = _outcome(rd, rep)
    code, err = status_of(status_text, error_type)
    message = ""
    if synthetic_error is not None:
        code, err, message = StatusCode.ERROR, synthetic_error[0], synthetic_error[1]
        attrs["lambda_sidecar.synthetic"] = True
    if status_text is not None:
        attrs["aws.lambda.status"] = status_text
    if err is not None:
        attrs["error.type"] = err
    if inv.start is not None:
        if inv.start.version:
            attrs["faas.version"] = inv.start.version
        if inv.start.tenant_id:
            attrs["aws.lambda.tenant_id"] = inv.start.tenant_id
    if rd is not None:
        if rd.duration_ms is not None:
            attrs["aws.lambda.runtime_duration_ms"] = rd.duration_ms
        if rd.produced_bytes is not None:
            attrs["aws.lambda.produced_bytes"] = rd.produced_bytes
    if rep is not None:
        _report_attributes(rep.duration_ms, rep.billed_duration_ms, rep.memory_size_mb, attrs)
        if rep.max_memory_used_mb is not None:
            attrs["aws.lambda.max_memory_used_mb"] = rep.max_memory_used_mb
        if rep.init_duration_ms is not None:
            attrs["aws.lambda.init_duration_ms"] = rep.init_duration_ms
        if rep.restore_duration_ms is not None:
            attrs["aws.lambda.restore_duration_ms"] = rep.restore_duration_ms

    parent = SpanData(
        trace_id=inv.trace_id,
        span_id=inv.span_id,
        parent_span_id=inv.parent_span_id,
        name=f"invoke {function_name}",
        kind=SpanKind.SERVER,
        start_ns=start,
        end_ns=end,
        status=code,
        status_message=message,
        attributes=attrs,
        links=links,
        sampled=inv.sampled,
    )
    return _with_children(parent, rd, rep, style)


def _report_attributes(
    duration_ms: float | None, billed_ms: float | None, memory_mb: int | None, attrs: dict[str, AttrValue]
) -> None:
    if duration_ms is not None:
        attrs["aws.lambda.duration_ms"] = duration_ms
    if billed_ms is not None:  # an integer in the schema; keep it one on the wire
        attrs["aws.lambda.billed_duration_ms"] = int(billed_ms) if billed_ms.is_integer() else billed_ms
    if memory_mb is not None:
        attrs["faas.max_memory"] = memory_mb * MIB


def phase_spans(
    ph: Phase,
    function_name: str,
    style: str,
    default_init_type: str,
    *,
    end_ns: int | None = None,
    forced_error: tuple[str, str] | None = None,
) -> list[SpanData]:
    """The `init <fn>` / `restore <fn>` span and its children. `forced_error` closes a phase that
    never reported (a failed init re-run in the invoke phase, or a shutdown mid-init)."""
    rd, rep = ph.runtime_done, ph.report
    end = ph.report_ns or ph.done_ns or end_ns or ph.start_ns or 0
    start = ph.start_ns
    if start is None and rep is not None and rep.duration_ms is not None and ph.report_ns is not None:
        start = ph.report_ns - _ns(rep.duration_ms)
    if start is None:
        start = end
    end = max(end, start)
    status_text, error_type = _outcome(rd, rep)
    code, err = status_of(status_text, error_type)
    message = ""
    if forced_error is not None and code != StatusCode.OK:
        code, err, message = StatusCode.ERROR, err or forced_error[0], forced_error[1]
    attrs: dict[str, AttrValue] = {
        "faas.coldstart": True,
        "aws.lambda.initialization_type": ph.initialization_type or default_init_type,
    }
    if ph.phase:
        attrs["aws.lambda.init.phase"] = ph.phase
    if status_text is not None:
        attrs["aws.lambda.status"] = status_text
    if err is not None:
        attrs["error.type"] = err
    if rep is not None and rep.duration_ms is not None:
        attrs[f"aws.lambda.{ph.kind}_duration_ms"] = rep.duration_ms
    if ph.start is not None:
        if ph.start.runtime_version:
            attrs["aws.lambda.runtime_version"] = ph.start.runtime_version
        if ph.start.instance_id:
            attrs["faas.instance"] = ph.start.instance_id
    span = SpanData(
        trace_id=ph.trace_id,
        span_id=ph.span_id,
        parent_span_id=None,
        name=f"{ph.kind} {function_name}",
        kind=SpanKind.INTERNAL,
        start_ns=start,
        end_ns=end,
        status=code,
        status_message=message,
        attributes=attrs,
        sampled=ph.sampled,
    )
    return _with_children(span, rd, rep, style)
