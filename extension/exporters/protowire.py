"""The Protocol Buffers wire format, as far as the OTLP encoder needs it: varints, fixed-width
numbers and length-delimited fields (https://protobuf.dev/programming-guides/encoding/).

Why not the `protobuf` runtime: importing it with the `opentelemetry-proto` messages costs ~80 ms
of CPU on every cold start, billed to the function, and building messages object by object was
the hot spot of the log path. OTLP's field numbers are stable (the protocol's compatibility
guarantee, https://opentelemetry.io/docs/specs/otlp/#protocol-details), so the encoder in
`otlp_encode.py` writes the bytes directly with these helpers, and the tests decode every message
it writes with `opentelemetry-proto` to check it.

Everything returns `bytes`; a message is built bottom-up (a field's length must be known before
its payload), and the caller joins parts once. Tags of fixed field numbers are computed once at
import (`tag()`), so the hot loops only concatenate.

The reader (`fields`) exists for the one thing the exporter reads back: the `partial_success` of
an export response (a few bytes, or none at all from a healthy collector).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

#: Wire types (https://protobuf.dev/programming-guides/encoding/#structure).
VARINT = 0
I64 = 1
LEN = 2
I32 = 5

_UINT64_MASK = (1 << 64) - 1
#: One-byte varints (0..127): most tags, enum values and lengths of short strings.
_ONE_BYTE: tuple[bytes, ...] = tuple(bytes((i,)) for i in range(128))

pack_fixed64 = struct.Struct("<Q").pack
pack_fixed32 = struct.Struct("<I").pack
pack_double = struct.Struct("<d").pack


def varint(value: int) -> bytes:
    """Base-128 varint. Negative numbers are int64 two's complement (always ten bytes), as
    protobuf encodes `int64`/`int32`/enum fields; callers keep values within 64 bits."""
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    value &= _UINT64_MASK
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(field_number: int, wire_type: int) -> bytes:
    """A field's key: `(field_number << 3) | wire_type`, as a varint."""
    return varint((field_number << 3) | wire_type)


def length_delimited(field_tag: bytes, payload: bytes) -> bytes:
    """A `LEN` field (string, bytes, sub-message or packed repeated numbers)."""
    return field_tag + varint(len(payload)) + payload


def packed_fixed64(field_tag: bytes, values: list[int] | tuple[int, ...]) -> bytes:
    """A packed `repeated fixed64` field (empty lists are omitted, as proto3 does)."""
    if not values:
        return b""
    return length_delimited(field_tag, struct.pack(f"<{len(values)}Q", *values))


def packed_double(field_tag: bytes, values: list[float] | tuple[float, ...]) -> bytes:
    """A packed `repeated double` field (empty lists are omitted, as proto3 does)."""
    if not values:
        return b""
    return length_delimited(field_tag, struct.pack(f"<{len(values)}d", *values))


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of one message, in order: an int for
    VARINT/I64/I32 (unsigned), the payload bytes for LEN. Raises `WireError` on malformed input
    or on the deprecated group wire types."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        value: int | bytes
        if wire_type == VARINT:
            value, pos = _read_varint(data, pos)
        elif wire_type == I64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            value = int.from_bytes(data[pos : pos + 8], "little")
            pos += 8
        elif wire_type == I32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            value = int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        elif wire_type == LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > end:
                raise WireError("truncated length-delimited field")
            value = data[pos : pos + size]
            pos += size
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value
