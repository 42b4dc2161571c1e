"""The request and response a listener's handler sees: plain values, no I/O.

Header values stay bytes until a handler asks for text, and then decode strictly: a value that is
not valid UTF-8 raises `InvalidHeader` naming the header (never the value), so each handler decides
what such a request deserves (the cache endpoints answer 403 when it is the token) instead of the
server guessing with a lossy decoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl


class InvalidHeader(ValueError):
    """A header value is not valid UTF-8 (the message names the header only)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"header {name!r} is not valid UTF-8")
        self.name = name


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers; the first of repeated fields wins for `[]`."""

    __slots__ = ("_fields",)

    def __init__(self, fields: list[tuple[str, bytes]]) -> None:
        #: (lower-case name, raw value) in arrival order.
        self._fields = fields

    def raw(self, name: str) -> bytes | None:
        """The value as received, without decoding (for constant-time comparisons of tokens)."""
        wanted = name.lower()
        for key, value in self._fields:
            if key == wanted:
                return value
        return None

    def __getitem__(self, name: str) -> str:
        value = self.raw(name)
        if value is None:
            raise KeyError(name)
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidHeader(name.lower()) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.raw(name) is not None

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._fields:
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return len({key for key, _ in self._fields})

    def __repr__(self) -> str:  # names only: values may be secrets
        return f"Headers({list(self)!r})"


class Request:
    """One parsed HTTP/1.1 request with its whole body (bounded by the server's body limit)."""

    __slots__ = ("body", "headers", "method", "path", "query_string")

    def __init__(self, method: str, path: str, query_string: str, headers: Headers, body: bytes) -> None:
        self.method = method
        #: The path as sent (percent-encoding kept: a secret name may contain `%2F`).
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case ('' when absent)."""
        raw = self.headers.get("Content-Type", "")
        return raw.split(";", 1)[0].strip().lower()

    def query(self) -> list[tuple[str, str]]:
        """Every query parameter in order, percent-decoded."""
        return parse_qsl(self.query_string, keep_blank_values=True)

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path})"


class Response:
    """What a handler returns; `headers` must not repeat Content-Type/Content-Length."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: dict[str, str] = {} if headers is None else headers

    @classmethod
    def text(cls, text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8", headers)

    @classmethod
    def json(cls, doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(doc, separators=(",", ":")).encode(), "application/json", headers)

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"
