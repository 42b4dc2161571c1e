"""Secret references in exporter headers: `${secretsmanager:NAME}`, `${secretsmanager:NAME#jsonKey}`,
`${ssm:/param/name}`, anywhere inside a value (`Bearer ${secretsmanager:k}`).

They let an API key live in Secrets Manager or SSM instead of a plain environment variable. They
are resolved once, when the destination starts, through the extension's own cache; the resolved
values only ever live in the exporter's header map (never logged: errors name the reference).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import NamedTuple

#: `resolve_secret(service, name)` -> the secret string / parameter value.
Resolver = Callable[[str, str], Awaitable[str]]

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


def _ref(m: re.Match[str]) -> SecretRef:
    return SecretRef(m.group(1), m.group(2).strip(), m.group(3) if m.group(3) else None, m.group(0))


def find_refs(value: str) -> list[SecretRef]:
    """Every reference in `value`, in order (pure; no resolution)."""
    return [_ref(m) for m in _REF.finditer(value)]


def has_refs(headers: tuple[tuple[str, str], ...]) -> bool:
    return any(_REF.search(v) for _, v in headers)


def extract_json_key(secret: str, key: str, ref: SecretRef) -> str:
    try:
        data = json.loads(secret)
    except ValueError:
        raise SecretRefError(f"{ref.describe()}: the secret is not JSON") from None
    if not isinstance(data, dict) or key not in data:
        raise SecretRefError(f"{ref.describe()}: key not found in the JSON secret")
    value = data[key]
    if isinstance(value, dict | list) or value is None:
        raise SecretRefError(f"{ref.describe()}: the JSON value is not a string or number")
    return value if isinstance(value, str) else json.dumps(value)


class CachingResolver:
    """Resolves each (service, name) once per start, even when several headers or signals use it."""

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._cache: dict[tuple[str, str], str] = {}

    async def value(self, ref: SecretRef) -> str:
        key = (ref.service, ref.name)
        if key not in self._cache:
            try:
                self._cache[key] = await self._resolve(ref.service, ref.name)
            except SecretRefError:
                raise
            except Exception as exc:
                raise SecretRefError(f"{ref.describe()}: {type(exc).__name__}") from None
            if not isinstance(self._cache[key], str):
                raise SecretRefError(f"{ref.describe()}: resolver returned no string")
        secret = self._cache[key]
        return extract_json_key(secret, ref.json_key, ref) if ref.json_key else secret

    async def substitute(self, value: str) -> str:
        pieces: list[str] = []
        pos = 0
        for m in _REF.finditer(value):
            pieces.append(value[pos : m.start()])
            pieces.append(await self.value(_ref(m)))
            pos = m.end()
        pieces.append(value[pos:])
        return "".join(pieces)

    async def headers(self, headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple([(k, await self.substitute(v)) for k, v in headers])
