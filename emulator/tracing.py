"""X-Ray style trace context for each invocation.

Lambda hands every invocation an ``X-Amzn-Trace-Id`` header value; the runtime receives it in
``Lambda-Runtime-Trace-Id``, extensions in the INVOKE event's ``tracing`` and telemetry
consumers in ``platform.start``/``runtimeDone``/``report`` together with a ``spanId``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TraceContext:
    """The X-Ray header of one invocation plus the platform's span id for it."""

    value: str
    span_id: str

    @classmethod
    def new(cls, sampled: bool = True) -> TraceContext:
        """A fresh ``Root=1-<8hex>-<24hex>;Parent=<16hex>;Sampled=1`` header."""
        root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
        value = f"Root={root};Parent={secrets.token_hex(8)};Sampled={1 if sampled else 0}"
        return cls(value=value, span_id=secrets.token_hex(8))

    def invoke_field(self) -> dict[str, Any]:
        """The INVOKE event's ``tracing`` object."""
        return {"type": "X-Amzn-Trace-Id", "value": self.value}

    def telemetry_field(self) -> dict[str, Any]:
        """The ``tracing`` object of platform.start/runtimeDone/report (with ``spanId``)."""
        return {"spanId": self.span_id, "type": "X-Amzn-Trace-Id", "value": self.value}
