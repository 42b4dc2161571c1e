"""One key of a JSON secret: the `jsonKey` of the 2773 endpoints and the `#key` of exporter
header references (`${secretsmanager:NAME#key}`) read a secret the same way.

Each caller maps the two failures to its own answer (an HTTP status, a disabled destination);
no message here quotes the secret.
"""

from __future__ import annotations

import json
from typing import Any


class JsonKeyError(Exception):
    """`missing` True: the document is a JSON object without the key; False: not a JSON object."""

    def __init__(self, missing: bool) -> None:
        super().__init__("no such JSON key" if missing else "not a JSON object")
        self.missing = missing


def json_key_value(text: str | None, key: str) -> Any:
    """The value under `key` of the JSON object `text` holds (any JSON type)."""
    try:
        doc = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise JsonKeyError(missing=False)
    if key not in doc:
        raise JsonKeyError(missing=True)
    return doc[key]
