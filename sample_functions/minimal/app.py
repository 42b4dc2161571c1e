"""Returns at once: the baseline for benchmarks (what the layer adds to a do-nothing function)."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"ok": True}
