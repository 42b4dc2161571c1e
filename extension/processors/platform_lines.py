"""Platform events rendered as the CloudWatch-style lines users already know and parse.

`START RequestId: … Version: …`, `END RequestId: …`, `REPORT RequestId: …\tDuration: … ms\t…`
and the INIT/RESTORE/EXTENSION/TELEMETRY lines, tab-separated as Lambda writes them to
CloudWatch Logs, so existing log parsers and queries keep working on the OTLP copy.
"""

from __future__ import annotations

from extension.sources.telemetry_api.schema import (
    ExtensionState,
    InitStart,
    LogsDropped,
    PhaseDone,
    Report,
    Start,
    Subscription,
)


def start_line(rec: Start) -> str:
    return f"START RequestId: {rec.request_id or '-'} Version: {rec.version or '$LATEST'}"


def end_line(request_id: str | None) -> str:
    return f"END RequestId: {request_id or '-'}"


def _fields(*pairs: tuple[str, object]) -> list[str]:
    """`Label: value` for each pair with a value: Lambda leaves absent fields out of its lines."""
    return [f"{label}: {value}" for label, value in pairs if value is not None and value != ""]


def _duration(ms: float | None, digits: int = 2) -> str | None:
    return None if ms is None else f"{ms:.{digits}f} ms"


def _megabytes(mb: int | None) -> str | None:
    return None if mb is None else f"{mb} MB"


def report_line(rec: Report) -> str:
    failed = rec.status is not None and rec.status != "success"
    fields = _fields(
        ("Duration", _duration(rec.duration_ms)),
        ("Billed Duration", _duration(rec.billed_duration_ms, 0)),
        ("Memory Size", _megabytes(rec.memory_size_mb)),
        ("Max Memory Used", _megabytes(rec.max_memory_used_mb)),
        ("Init Duration", _duration(rec.init_duration_ms)),
        ("Restore Duration", _duration(rec.restore_duration_ms)),
        ("Status", rec.status if failed else None),
        ("Error Type", rec.error_type if failed else None),
    )
    return "\t".join([f"REPORT RequestId: {rec.request_id or '-'}", *fields])


def phase_start_line(kind: str, rec: InitStart) -> str:
    fields = _fields(
        ("Runtime Version", rec.runtime_version), ("Runtime Version ARN", rec.runtime_version_arn)
    )
    return f"{kind.upper()}_START" + (" " + "\t".join(fields) if fields else "")


def phase_report_line(kind: str, rec: PhaseDone) -> str:
    label = "Init Duration" if kind == "init" else "Restore Duration"
    head = f"{kind.upper()}_REPORT {label}: {_duration(rec.duration_ms or 0.0)}"
    fields = _fields(("Phase", rec.phase), ("Status", rec.status), ("Error Type", rec.error_type))
    return "\t".join([head, *fields])


def extension_line(rec: ExtensionState) -> str:
    line = f"EXTENSION\tName: {rec.name or '-'}\tState: {rec.state or '-'}\tEvents: [{','.join(rec.events)}]"
    return line + (f"\tError Type: {rec.error_type}" if rec.error_type else "")


def subscription_line(rec: Subscription) -> str:
    return f"TELEMETRY\tName: {rec.name or '-'}\tState: {rec.state or '-'}\tTypes: [{','.join(rec.types)}]"


def logs_dropped_line(rec: LogsDropped) -> str:
    records = rec.dropped_records if rec.dropped_records is not None else "?"
    size = rec.dropped_bytes if rec.dropped_bytes is not None else "?"
    return f"Lambda dropped {records} telemetry records ({size} bytes): {rec.reason or 'no reason given'}"
