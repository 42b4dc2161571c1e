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


def _ms(value: float | None) -> str:
    return f"{value:.2f}"


def start_line(rec: Start) -> str:
    return f"START RequestId: {rec.request_id or '-'} Version: {rec.version or '$LATEST'}"


def end_line(request_id: str | None) -> str:
    return f"END RequestId: {request_id or '-'}"


def report_line(rec: Report) -> str:
    parts = [f"REPORT RequestId: {rec.request_id or '-'}"]
    if rec.duration_ms is not None:
        parts.append(f"Duration: {_ms(rec.duration_ms)} ms")
    if rec.billed_duration_ms is not None:
        parts.append(f"Billed Duration: {rec.billed_duration_ms:.0f} ms")
    if rec.memory_size_mb is not None:
        parts.append(f"Memory Size: {rec.memory_size_mb} MB")
    if rec.max_memory_used_mb is not None:
        parts.append(f"Max Memory Used: {rec.max_memory_used_mb} MB")
    if rec.init_duration_ms is not None:
        parts.append(f"Init Duration: {_ms(rec.init_duration_ms)} ms")
    if rec.restore_duration_ms is not None:
        parts.append(f"Restore Duration: {_ms(rec.restore_duration_ms)} ms")
    if rec.status is not None and rec.status != "success":
        parts.append(f"Status: {rec.status}")
        if rec.error_type:
            parts.append(f"Error Type: {rec.error_type}")
    return "\t".join(parts)


def phase_start_line(kind: str, rec: InitStart) -> str:
    parts = [f"{kind.upper()}_START"]
    if rec.runtime_version:
        parts.append(f"Runtime Version: {rec.runtime_version}")
    if rec.runtime_version_arn:
        parts.append(f"Runtime Version ARN: {rec.runtime_version_arn}")
    return parts[0] + (" " + "\t".join(parts[1:]) if len(parts) > 1 else "")


def phase_report_line(kind: str, rec: PhaseDone) -> str:
    label = "Init Duration" if kind == "init" else "Restore Duration"
    parts = [f"{kind.upper()}_REPORT {label}: {_ms(rec.duration_ms or 0.0)} ms"]
    if rec.phase:
        parts.append(f"Phase: {rec.phase}")
    if rec.status:
        parts.append(f"Status: {rec.status}")
    if rec.error_type:
        parts.append(f"Error Type: {rec.error_type}")
    return "\t".join(parts)


def extension_line(rec: ExtensionState) -> str:
    line = f"EXTENSION\tName: {rec.name or '-'}\tState: {rec.state or '-'}\tEvents: [{','.join(rec.events)}]"
    return line + (f"\tError Type: {rec.error_type}" if rec.error_type else "")


def subscription_line(rec: Subscription) -> str:
    return f"TELEMETRY\tName: {rec.name or '-'}\tState: {rec.state or '-'}\tTypes: [{','.join(rec.types)}]"


def logs_dropped_line(rec: LogsDropped) -> str:
    records = rec.dropped_records if rec.dropped_records is not None else "?"
    size = rec.dropped_bytes if rec.dropped_bytes is not None else "?"
    return f"Lambda dropped {records} telemetry records ({size} bytes): {rec.reason or 'no reason given'}"
