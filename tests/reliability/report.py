"""Render the fault matrix of docs/reliability.md from the suite's own output.

    .venv/bin/pytest tests/reliability                     # writes build/reliability/*.json
    .venv/bin/python -m tests.reliability.report           # prints the markdown
    .venv/bin/python -m tests.reliability.report --write   # replaces the generated part of the doc

Only the part between the two GENERATED markers of docs/reliability.md is replaced; the prose
around it is kept. Every figure in the table comes from the JSON files the tests wrote.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from tests.reliability.recorder import OUT_DIR, ROOT, CaseRecord, load_all

DOC = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- GENERATED: python -m tests.reliability.report --write -->"
END = "<!-- END GENERATED -->"
GROUPS = ["Nothing lost", "Backends failing", "Floods", "Bad input", "Lifecycle faults", "Security"]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figures(figures: dict[str, Any]) -> str:
    parts = []
    for key, value in figures.items():
        if isinstance(value, float):
            value = f"{value:g}"
        elif isinstance(value, dict | list):
            value = json.dumps(value, separators=(", ", ": "), default=str)
        parts.append(f"`{key}`: {value}")
    return "; ".join(parts)


def _order(record: CaseRecord) -> tuple[int, str]:
    group = GROUPS.index(record.group) if record.group in GROUPS else len(GROUPS)
    return group, record.nodeid


def render(records: list[CaseRecord]) -> str:
    records = sorted(records, key=_order)
    passed = sum(1 for r in records if r.outcome == "passed")
    scales = sorted({r.scale for r in records})
    newest = max((r.finished_at for r in records), default=0.0)
    when = (
        datetime.datetime.fromtimestamp(newest, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if newest
        else "-"
    )
    total_s = sum(r.duration_s for r in records)
    out = [
        BEGIN,
        "",
        f"**{passed} of {len(records)} cases passed** (run finished {when}; "
        f"`SIDECAR_RELIABILITY_SCALE` = {', '.join(f'{s:g}' for s in scales) or '-'}; "
        f"{total_s:.0f} s of test time in total).",
        "",
        "| area | case | load held | faults survived / bad inputs tried | what was lost | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        tried = r.faults or ""
        if r.bad_inputs:
            tried = (tried + "; " if tried else "") + r.bad_inputs
        mark = {"passed": "pass", "failed": "**FAIL**"}.get(r.outcome, r.outcome)
        out.append(
            f"| {_cell(r.group)} | {_cell(r.case)} | {_cell(r.load)} | {_cell(tried)} | {_cell(r.lost)} | {mark} |"
        )
    out += ["", "### Figures per case", ""]
    for r in records:
        out.append(f"- **{_cell(r.group)} / {_cell(r.case)}** ({r.duration_s:g} s): {_figures(r.figures)}")
    out += ["", END]
    return "\n".join(out)


def write_doc(markdown: str, doc: Path = DOC) -> None:
    text = doc.read_text() if doc.exists() else f"# Reliability and security\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(head + markdown + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {DOC.relative_to(ROOT)}")
    parser.add_argument("--dir", type=Path, default=OUT_DIR, help="where the suite wrote its JSON")
    args = parser.parse_args(argv)
    records = load_all(args.dir)
    if not records:
        print(f"no results in {args.dir}: run `pytest tests/reliability` first", file=sys.stderr)
        return 1
    markdown = render(records)
    if args.write:
        write_doc(markdown)
        print(f"wrote {DOC.relative_to(ROOT)} ({len(records)} cases)")
    else:
        print(markdown)
    return 0 if all(r.outcome == "passed" for r in records) else 3


if __name__ == "__main__":
    sys.exit(main())
