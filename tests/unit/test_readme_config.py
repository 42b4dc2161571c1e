"""The README's configuration table lists every variable the config module reads."""

from __future__ import annotations

import re
from pathlib import Path

from extension import config

ROOT = Path(__file__).resolve().parents[2]


def _variable_names() -> set[str]:
    names = set()
    for attr, value in vars(config).items():
        if attr.isupper() and isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", value):
            if value.endswith("_") or attr in {"DEFAULT_REGION"}:
                continue  # prefixes, not variables
            names.add(value)
    return names


def test_every_variable_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    expanded = readme.replace("{TRACES,METRICS,LOGS}_*", "TRACES_")
    missing = sorted(n for n in _variable_names() if n not in expanded)
    assert not missing, f"README configuration table lacks: {missing}"
