"""Secret references in exporter headers: `${secretsmanager:NAME}`, `${secretsmanager:NAME#jsonKey}`,
`${ssm:/param/name}`, anywhere inside a value (`Bearer ${secretsmanager:k}`).

They let an API key live in Secrets Manager or SSM instead of a plain environment variable. They
are resolved when the destination starts, through the extension's own cache, and again (fresh,
bypassing the cache) when the destination answers 401/403, so a rotated key is picked up. The
resolved values only ever live in the exporter's header map (never logged: errors name the
reference). A value that cannot be an HTTP header (CR, LF or NUL, RFC 9110 section 5.5) is an
error naming the reference, never sent.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple, Protocol

from extension.cache.json_key import JsonKeyError, json_key_value
from extension.config import ExportersSettings
from extension.processors.redaction import register_secret


class Resolver(Protocol):
    """`resolve(service, name)` -> the secret string / parameter value; `fresh=True` bypasses
    the cache (asked only after the destination rejected the current value)."""

    async def __call__(self, service: str, name: str, *, fresh: bool = False) -> str: ...


_REF = re.compile(r"\$\{(secretsmanager|ssm):([^}#]+)(?:#([^}]*))?\}")


class SecretRefError(Exception):
    """A reference could not be resolved; the message names the reference, never a value."""


class SecretRef(NamedTuple):
    service: str  # "secretsmanager" | "ssm"
    name: str
    json_key: str | None
    text: str  # the whole `${...}` as written

    def describe(self) -> str:
        return f"${{{self.service}:{self.name}{'#' + self.json_key if self.json_key else ''}}}"


def _ref(match: re.Match[str]) -> SecretRef:
    return SecretRef(
        match.group(1), match.group(2).strip(), match.group(3) if match.group(3) else None, match.group(0)
    )


def find_refs(value: str) -> list[SecretRef]:
    """Every reference in `value`, in order (pure; no resolution)."""
    return [_ref(m) for m in _REF.finditer(value)]


def has_refs(headers: tuple[tuple[str, str], ...]) -> bool:
    return any(_REF.search(v) for _, v in headers)


def exporters_have_refs(exporters: ExportersSettings) -> bool:
    """True when a configured destination's headers need the secret resolver."""
    groups = [exporters.http_json.headers] if exporters.http_json is not None else []
    if exporters.otlp is not None:
        groups += [signal.headers for signal in exporters.otlp.configured().values()]
    return any(has_refs(h) for h in groups)


_INVALID_IN_HEADER = frozenset("\r\n\0")


def check_header_value(value: str, ref: SecretRef) -> str:
    """`value` if it can be sent as (part of) a header value; else an error naming `ref`."""
    if any(c in _INVALID_IN_HEADER for c in value):
        raise SecretRefError(
            f"{ref.describe()}: the resolved value contains CR, LF or NUL and cannot be a header value"
        )
    return value


def extract_json_key(secret: str, key: str, ref: SecretRef) -> str:
    try:
        value = json_key_value(secret, key)
    except JsonKeyError as err:
        reason = "key not found in the JSON secret" if err.missing else "the secret is not JSON"
        raise SecretRefError(f"{ref.describe()}: {reason}") from None
    if isinstance(value, dict | list) or value is None:
        raise SecretRefError(f"{ref.describe()}: the JSON value is not a string or number")
    return value if isinstance(value, str) else json.dumps(value)


class CachingResolver:
    """Resolves each (service, name) once per start, even when several headers or signals use it.
    `fresh`: every name is asked for with `fresh=True` (bypassing the extension's cache)."""

    def __init__(self, resolve: Resolver, *, fresh: bool = False) -> None:
        self._resolve = resolve
        self._fresh = fresh
        self._cache: dict[tuple[str, str], str] = {}

    async def value(self, ref: SecretRef) -> str:
        key = (ref.service, ref.name)
        if key not in self._cache:
            try:
                if self._fresh:
                    self._cache[key] = await self._resolve(ref.service, ref.name, fresh=True)
                else:
                    self._cache[key] = await self._resolve(ref.service, ref.name)
            except SecretRefError:
                raise
            except Exception as exc:
                raise SecretRefError(f"{ref.describe()}: {type(exc).__name__}") from None
            if not isinstance(self._cache[key], str):
                raise SecretRefError(f"{ref.describe()}: resolver returned no string")
        secret = self._cache[key]
        value = extract_json_key(secret, ref.json_key, ref) if ref.json_key else secret
        register_secret(value)  # redacted wherever a function prints it (README: Security)
        return check_header_value(value, ref)

    async def substitute(self, value: str) -> str:
        pieces: list[str] = []
        pos = 0
        for match in _REF.finditer(value):
            pieces.append(value[pos : match.start()])
            pieces.append(await self.value(_ref(match)))
            pos = match.end()
        pieces.append(value[pos:])
        return "".join(pieces)

    async def headers(self, headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple([(k, await self.substitute(v)) for k, v in headers])
