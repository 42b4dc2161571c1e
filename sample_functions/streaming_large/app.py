"""Returns a large response (about 1 MB by default; `{"bytes": N}` up to 5 MB, under Lambda's
6 MB limit for buffered responses), with a checksum so a caller can verify it arrived whole."""

from __future__ import annotations

import hashlib
from typing import Any

MAX_BYTES = 5_000_000
_PATTERN = "lambda-sidecar large response 0123456789abcdefghijklmnopqrstuvwxyz\n"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    size = max(0, min(int(event.get("bytes", 1_000_000)), MAX_BYTES))
    data = (_PATTERN * (size // len(_PATTERN) + 1))[:size]
    return {"bytes": size, "sha256": hashlib.sha256(data.encode()).hexdigest(), "data": data}
