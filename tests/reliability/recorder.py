"""Each reliability case writes what it held, survived and lost to `build/reliability/<case>.json`.

A test fills a `CaseRecord` (through the `case` fixture) while it runs; the conftest hook writes
it after the test's call phase with the outcome, so a failing case shows up as failing in the
report instead of silently keeping an older passing file. `python -m tests.reliability.report`
turns the files into the fault matrix of docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: `SIDECAR_RELIABILITY_OUT` keeps a full run's results apart from the CI run's.
OUT_DIR = Path(os.environ.get("SIDECAR_RELIABILITY_OUT") or ROOT / "build" / "reliability")


@dataclass
class CaseRecord:
    """One row of the fault matrix. `figures` are numbers measured during the run."""

    nodeid: str
    group: str = ""
    case: str = ""
    load: str = ""
    faults: str = ""
    bad_inputs: str = ""
    lost: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    outcome: str = "not run"
    duration_s: float = 0.0
    finished_at: float = 0.0
    scale: float = 1.0

    def set(
        self,
        group: str,
        case: str,
        *,
        load: str = "",
        faults: str = "",
        bad_inputs: str = "",
        lost: str = "",
    ) -> None:
        self.group, self.case, self.load = group, case, load
        self.faults, self.bad_inputs, self.lost = faults, bad_inputs, lost

    def figure(self, **values: Any) -> None:
        self.figures.update(values)

    @property
    def filled(self) -> bool:
        return bool(self.group)


def file_for(nodeid: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("tests/reliability/")[-1]).strip("_")
    return OUT_DIR / f"{slug}.json"


def write(record: CaseRecord) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    record.finished_at = time.time()
    path = file_for(record.nodeid)
    path.write_text(json.dumps(asdict(record), indent=1, sort_keys=True, default=str) + "\n")
    return path


def load_all(directory: Path = OUT_DIR) -> list[CaseRecord]:
    records = []
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
            records.append(CaseRecord(**doc))
        except (ValueError, TypeError):
            continue
    return records
