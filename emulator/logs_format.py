"""What the Logs API (``PUT /2020-08-15/logs``, the Telemetry API's legacy sibling) delivers.

Its own platform message shapes (``platform.start {requestId}``, ``platform.end``,
``platform.report``, ``platform.fault``, ``platform.logsSubscription``; string records),
translated from the Telemetry API events every subscriber is offered.
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-logs-api.html
"""

from __future__ import annotations

from typing import Any

from emulator.events import Event

_PASS_THROUGH = (
    "platform.extension",
    "platform.logsDropped",
    "platform.initRuntimeDone",
    "platform.initReport",
)


def to_logs_api(event: Event, schema: str) -> list[dict[str, Any]]:
    """Translate one Telemetry API event into zero or more Logs API messages."""
    fields = event.record if isinstance(event.record, dict) else {}

    def message(type_: str, record: Any) -> dict[str, Any]:
        return {"time": event.time, "type": type_, "record": record}

    if event.type in ("function", "extension"):
        return [message(event.type, event.text if event.text is not None else event.record)]
    if event.type == "platform.start":
        return [message("platform.start", {"requestId": fields.get("requestId")})]
    if event.type == "platform.runtimeDone":
        if schema >= "2021-03-18":
            return [
                message(
                    "platform.runtimeDone",
                    {"requestId": fields.get("requestId"), "status": fields.get("status")},
                )
            ]
        return []
    if event.type == "platform.report":
        out = []
        if fields.get("status", "success") != "success":
            fault = f"RequestId: {fields.get('requestId')} Status: {fields.get('status')}"
            if fields.get("errorType"):
                fault += f"\tErrorType: {fields['errorType']}"
            out.append(message("platform.fault", fault))
        out.append(message("platform.end", {"requestId": fields.get("requestId")}))
        out.append(
            message(
                "platform.report",
                {"requestId": fields.get("requestId"), "metrics": fields.get("metrics", {})},
            )
        )
        return out
    if event.type == "platform.telemetrySubscription":
        return [message("platform.logsSubscription", fields)]
    if event.type in _PASS_THROUGH:
        return [message(event.type, fields)]
    return []
