"""What a cache entry is: its key (`CacheKey`) and what it holds (`Payload`, `ConfigPayload`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

SECRETS = "secretsmanager"
SSM = "ssm"


@dataclass(frozen=True)
class CacheKey:
    """(service, identifier exactly as given, version/stage or version/label, withDecryption).

    Name and ARN forms of one secret are separate entries, as in the AWS agent: resolving one to
    the other would cost an extra call for no correctness gain."""

    service: str
    name: str
    version: str = ""  # secrets: VersionId; parameters: version number
    label: str = ""  # secrets: VersionStage; parameters: label
    decrypt: bool = False


@dataclass(frozen=True)
class Payload:
    """A secret or parameter as served: the exact response body plus its parsed form for extras
    (JSON keys, batch answers, exporter header references)."""

    body: bytes
    doc: dict[str, Any]
    version: str  # VersionId (secrets) or Version (parameters): the cheap change check compares it

    @property
    def size(self) -> int:
        return 2 * len(self.body) + 256

    @classmethod
    def of(cls, doc: dict[str, Any], version: str) -> Payload:
        return cls(json.dumps(doc, separators=(",", ":")).encode(), doc, version)


@dataclass(frozen=True)
class ConfigPayload:
    """One AppConfig configuration as served on port 2772."""

    body: bytes
    content_type: str
    version_label: str | None
    configuration_version: str | None

    @property
    def size(self) -> int:
        return len(self.body) + 256


def iso_ms(value: Any) -> str | None:
    """AWS JSON timestamps (epoch seconds, float) -> `2024-01-02T03:04:05.678Z`, as the AWS agent."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(float(value), dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return None


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
