"""The README's configuration tables and the declarations in extension/variables.py agree, both ways.

The tables are generated (`python -m extension.config_docs`); these tests read the README as a
user does -- rows of `| names | default | meaning |` -- so a hand edit, a stale table or a new
declaration without a row each fail here.
"""

from __future__ import annotations

import re
from pathlib import Path

from extension import config_docs
from extension import variables as v

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def readme_rows() -> list[tuple[list[str], str]]:
    """(variable names, default cell) of every row of the generated tables."""
    block = README[README.index(config_docs.BEGIN) : README.index(config_docs.END)]
    rows = []
    for line in block.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        rows.append((names, cells[1].replace("\\|", "|")))
    return rows


def test_every_row_names_declared_variables_with_their_defaults() -> None:
    by_name = {var.name: var for var in v.declared()}
    for names, default in readme_rows():
        undeclared = [n for n in names if n not in by_name]
        assert not undeclared, f"README documents undeclared {undeclared}"
        cells = list(dict.fromkeys(config_docs.default_cell(by_name[n]) for n in names))
        assert default == " / ".join(cells), f"README default of {names}: {default!r}"


def test_every_declared_variable_has_exactly_one_row() -> None:
    documented = [n for names, _ in readme_rows() for n in names]
    assert sorted(documented) == sorted(var.name for var in v.declared())


def test_literal_defaults_in_the_readme_are_the_values_used() -> None:
    """A default cell that is a literal (`2773`) parses, by the variable's own parser, to the
    default the code uses; the cache port and max-stale default live in one place."""
    by_name = {var.name: var for var in v.declared()}
    for names, _ in readme_rows():
        for name in names:
            var = by_name[name]
            literal = re.fullmatch(r"`([^`]+)`", config_docs.default_cell(var))
            if literal and not var.fallbacks and not var.default_doc:
                assert var.parse(literal.group(1)) == var.default  # type: ignore[attr-defined]
    assert "| `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` | `2773` |" in README
    assert "| `SIDECAR_MAX_STALE_SECONDS` | `900` |" in README


def test_the_generated_tables_are_current() -> None:
    assert config_docs.replace_block(README, config_docs.render()) == README, (
        "run: python -m extension.config_docs"
    )


def test_the_launcher_reads_sidecar_python_with_the_declared_default() -> None:
    launcher = (ROOT / v.SIDECAR_PYTHON.read_by).read_text()
    assert f"${{{v.SIDECAR_PYTHON.name}:-{v.SIDECAR_PYTHON.default}}}" in launcher
