# ruff: noqa: RUF001, RUF002  (the multiplication sign is intended)
"""Number formatting shared by the page generator (bench/report.py) and its analysis text."""

from __future__ import annotations

import math
from typing import Any


def f(x: Any, nd: int = 1) -> str:
    """A number with thousands separators and `nd` decimals; `n/a` for None and NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float | int):
        return f"{x:,.{nd}f}"
    return str(x)


def x(r: float) -> str:
    """A ratio, as `1.23×`."""
    return "n/a" if r != r else f"{r:.2f}×"


def counter(lines: list[str], name: str) -> int:
    """Sum of `name=N` over the extension's shutdown summary lines."""
    total = 0
    for line in lines:
        for part in line.replace(",", " ").split():
            key, sep, value = part.partition("=")
            if sep and key == name and value.isdigit():
                total += int(value)
    return total
