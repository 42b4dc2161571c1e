"""X-Ray trace header -> W3C/OTLP ids, and the ids we derive when Lambda gives us none.

The header `Root=1-6352a70e-1e2c502e358361800241fd45;Parent=35465b3a9e2f7c6a;Sampled=1` maps to
trace id `6352a70e1e2c502e358361800241fd45` (epoch part + random part), parent span id and the
sampled flag (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-otel-spans.html). Ids derived
from a request id are deterministic, so the log records of an invocation and its span agree on the
ids whichever is produced first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class XRayContext:
    trace_id: bytes  # 16 bytes
    parent_span_id: bytes | None  # 8 bytes
    sampled: bool | None  # None: the header did not say


def _hex_bytes(text: str, size: int) -> bytes | None:
    if len(text) != size * 2 or not _HEX.issuperset(text):
        return None
    value = bytes.fromhex(text)
    return value if any(value) else None  # all-zero ids are invalid in OTLP


def parse_xray_header(value: str | None) -> XRayContext | None:
    """The trace context of an `X-Amzn-Trace-Id` value; None when it has no usable Root."""
    if not value:
        return None
    trace_id: bytes | None = None
    parent: bytes | None = None
    sampled: bool | None = None
    for part in value.split(";"):
        key, sep, val = part.strip().partition("=")
        if not sep:
            continue
        if key == "Root":
            pieces = val.split("-")
            if len(pieces) == 3 and pieces[0] == "1":
                trace_id = _hex_bytes(pieces[1] + pieces[2], 16)
        elif key == "Parent":
            parent = _hex_bytes(val, 8)
        elif key == "Sampled":
            sampled = True if val == "1" else False if val == "0" else None
    if trace_id is None:
        return None
    return XRayContext(trace_id, parent, sampled)


def span_id_from_hex(value: str | None) -> bytes | None:
    """`tracing.spanId` (16 hex) -> 8 bytes, None when absent or malformed."""
    return _hex_bytes(value, 8) if value else None


def derived_id(seed: str, size: int, salt: bytes = b"") -> bytes:
    """A stable non-zero id of `size` bytes (8 or 16) from a seed such as a request id."""
    digest = hashlib.blake2b(seed.encode("utf-8", "replace"), digest_size=size, person=salt[:16]).digest()
    return digest if any(digest) else b"\x01" * size
