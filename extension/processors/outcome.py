"""What a Telemetry API `status` says about an invocation or phase: did it fail, and with which
`error.type` (OpenTelemetry semantic conventions).

Lambda's statuses are `success`, `error`, `failure` and `timeout`; a timeout comes without an
`errorType`, so it is named `Sandbox.Timedout` as Lambda names it in the invoke response
(https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html). Spans and
metrics both read it from here, so a span's `error.type` and the `faas.errors` label agree.
"""

from __future__ import annotations

#: What Lambda calls an invocation that ran out of time.
TIMEOUT_ERROR_TYPE = "Sandbox.Timedout"
_ERROR_TYPE_BY_STATUS = {"timeout": TIMEOUT_ERROR_TYPE}


def error_type_of(status: str | None, error_type: str | None) -> str | None:
    """`error.type` of a failed status; None for `success` or no status."""
    if status is None or status == "success":
        return None
    return error_type or _ERROR_TYPE_BY_STATUS.get(status, status)
