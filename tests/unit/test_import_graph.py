"""The project's import graph: no cycles, and shipped code never imports the test tree.

Imports are read with ``ast`` from every source file, wherever they stand: at the top, under
``if TYPE_CHECKING:``, or inside a function. An import moved into a function or behind
``TYPE_CHECKING`` still couples the two modules, so hiding a cycle that way does not pass here.
``from package import name`` is an import of ``package.name`` when that is a module of the
project (Python loads it), else of ``package`` itself (one of its names is used).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("extension", "emulator", "bench", "layer", "sample_functions")
"""Everything that is not a test: checked for cycles and for imports of ``tests``."""


def all_modules(root: Path, tops: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` under ``tops``."""
    modules: dict[str, Path] = {}
    for top in tops:
        for path in sorted((root / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, module: str) -> Iterator[tuple[str, list[str]]]:
    """``(base, names)`` of every import statement in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            yield base, [alias.name for alias in node.names]


def import_graph(root: Path, tops: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = all_modules(root, tops)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for base, names in imports_of(path, module):
            if not names and base in modules:
                targets.add(base)
            for name in names:
                if f"{base}.{name}" in modules:
                    targets.add(f"{base}.{name}")
                elif base in modules:
                    targets.add(base)
        targets.discard(module)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_cycles_hidden_in_functions_and_type_checking(tmp_path: Path) -> None:
    """A cycle held apart by a TYPE_CHECKING import and a function-level relative import."""
    package = tmp_path / "knot"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "top.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from knot.leaf import f\n"
    )
    (package / "leaf.py").write_text("def f():\n    from . import top\n    return top\n")
    (package / "alone.py").write_text("import knot.leaf\nfrom knot import top\n")
    assert cycles(import_graph(tmp_path, ("knot",))) == [["knot.leaf", "knot.top"]]


@pytest.mark.parametrize("top", PACKAGES)
def test_no_import_cycle(top: str) -> None:
    found = cycles(import_graph(ROOT, PACKAGES))
    touching = [component for component in found if any(m.split(".")[0] == top for m in component)]
    assert touching == [], f"import cycles through {top}/: {touching}"


def dynamic_imports_of(path: Path) -> Iterator[str]:
    """Leading text of the module names given to ``importlib.import_module``/``__import__``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in ("import_module", "__import__"):
            continue
        argument = node.args[0]
        if isinstance(argument, ast.JoinedStr) and argument.values:
            argument = argument.values[0]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            yield argument.value


def test_shipped_code_never_imports_tests() -> None:
    offenders = []
    for module, path in all_modules(ROOT, PACKAGES).items():
        names = [base for base, _ in imports_of(path, module)] + list(dynamic_imports_of(path))
        offenders += [f"{module} imports {name}" for name in names if name.split(".")[0] == "tests"]
    assert offenders == []


def test_the_checker_sees_dynamic_imports_of_tests(tmp_path: Path) -> None:
    (tmp_path / "shipped").mkdir()
    source = tmp_path / "shipped" / "demo.py"
    source.write_text('import importlib\nimportlib.import_module(f"tests.support.{name}")\n')
    assert list(dynamic_imports_of(source)) == ["tests.support."]
