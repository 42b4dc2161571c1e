"""The Telemetry API fixtures (real captures and AWS doc examples; provenance in fixtures/MANIFEST.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURE_DIR = Path(__file__).parent / "fixtures"
FIXTURE_NAMES = sorted(p.name for p in FIXTURE_DIR.glob("*.json"))


def load(name: str) -> Any:
    return json.loads((FIXTURE_DIR / name).read_text(encoding="utf-8"))
