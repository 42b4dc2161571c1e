"""The README's configuration tables, rendered from the declarations in `extension.variables`.

`python -m extension.config_docs` rewrites the part of README.md between the two markers below;
`python -m extension.config_docs --check` exits 1 when it differs (the test suite runs the same
comparison). Never imported by the extension at run time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from extension import variables as v

BEGIN = (
    "<!-- configuration tables: generated from extension/variables.py (python -m extension.config_docs) -->"
)
END = "<!-- end of generated configuration tables -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def default_cell(variable: v.Variable) -> str:
    """The default column: an explicit description, else the fallback variables then the literal."""
    if variable.default_doc:
        return variable.default_doc
    literal = f"`{variable.render()}`" if variable.render() else ""
    chain = ", then ".join(f"`{fallback.name}`" for fallback in variable.fallbacks)
    if chain and literal:
        return f"{chain}, else {literal}"
    return chain or literal or "—"


def meaning_cell(variable: v.Variable) -> str:
    extra = [f"also read as `{alias}` (with a warning)" for alias in variable.aliases]
    if variable.read_by:
        extra.append(f"read by `{variable.read_by}`")
    return "; ".join([variable.doc, *extra])


def rows(section: str) -> list[tuple[list[v.Variable], str, str]]:
    """(variables, default cell, meaning cell) per table row of `section`, in declaration order;
    variables with the same `row` key share a row."""
    grouped: dict[str, list[v.Variable]] = {}
    for variable in v.declared():
        if variable.section == section:
            grouped.setdefault(variable.row or variable.name, []).append(variable)
    result = []
    for members in grouped.values():
        defaults = list(dict.fromkeys(default_cell(m) for m in members))
        meanings = list(dict.fromkeys(meaning_cell(m) for m in members))
        result.append((members, " / ".join(defaults), " ".join(meanings)))
    return result


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    lines = [BEGIN]
    for section in v.SECTIONS:
        lines += ["", f"**{section}**", "", "| variable | default | meaning |", "| --- | --- | --- |"]
        for members, default, meaning in rows(section):
            names = " / ".join(f"`{m.name}`" for m in members)
            lines.append(f"| {names} | {_escape(default)} | {_escape(meaning)} |")
    lines += ["", END]
    return "\n".join(lines)


def replace_block(readme: str, block: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + block + readme[end:]


def main(argv: list[str]) -> int:
    readme = README.read_text()
    updated = replace_block(readme, render())
    if "--check" in argv:
        if updated != readme:
            print("README.md configuration tables are out of date: run python -m extension.config_docs")
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
