"""Failures of upstream (AWS) calls, classified once so the cache knows what it may mask.

`retryable` failures (throttling, 5xx, timeouts, network) may be answered with a stale value and
put the key in backoff; `not_found` failures are cached briefly (negative caching); every other
failure (AccessDenied, validation) is returned to the caller as it is. Messages carry AWS's text or
a description of the transport failure, never a secret value or the local token.
"""

from __future__ import annotations

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "ThrottledError",
    }
)
SERVER_CODES = frozenset(
    {
        "InternalServiceError",
        "InternalServerError",
        "InternalServerException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ParameterNotFound",
        "ParameterVersionNotFound",
        "ParameterVersionLabelNotFound",
    }
)


class UpstreamError(Exception):
    """One failed upstream call: an AWS error code + message and the HTTP status to answer with."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        return (
            self.code in THROTTLING_CODES
            or self.code in SERVER_CODES
            or self.status >= 500
            or self.status == 429
        )

    @property
    def not_found(self) -> bool:
        return self.code in NOT_FOUND_CODES

    @property
    def kind(self) -> str:
        """Short fixed label for counters (never user data)."""
        if self.code in THROTTLING_CODES or self.status == 429:
            return "throttled"
        if self.not_found:
            return "not_found"
        if self.status >= 500:
            return "server"
        return "client"


class UpstreamTimeout(UpstreamError):
    """The call did not finish within its time budget (answered with 504)."""

    def __init__(self, message: str) -> None:
        super().__init__("TimeoutError", message, 504)

    @property
    def kind(self) -> str:
        return "timeout"


class UpstreamUnreachable(UpstreamError):
    """Connection or response-parsing failure (answered with 502)."""

    def __init__(self, message: str) -> None:
        super().__init__("ConnectionError", message, 502)

    @property
    def kind(self) -> str:
        return "connection"
