"""docs/architecture.md draws the module dependencies of `extension` and `emulator`; keep them true.

Each package has one mermaid diagram in the page, opened by a `%% <package>` line. Checked here:
every module of the package appears in its diagram (a new module must be placed on the map),
the diagram names no module that is gone, and every arrow is a real dependency (the importer
reaches the imported module through the import graph). To redraw a diagram after a change, run
`python -m tests.unit.test_architecture_diagrams extension` (or `emulator`) and paste its output.

An arrow means "imports"; an import already implied by a longer path of arrows is not drawn, and
in the extension the ground modules (`GROUND`), which any module may use, are drawn without the
arrows pointing at them.
"""

from __future__ import annotations

import re
import sys

import pytest

from tests.unit.test_import_graph import ROOT, import_graph

DOC = ROOT / "docs" / "architecture.md"
GROUND = {
    "extension": ("config", "config_docs", "log", "signals", "stats", "variables"),
    "emulator": (),
}
_NODE = re.compile(r'(\w+)\["([^"]+)"\]')
_BOX = "box_"
"""Node ids of subgraphs (packages, the ground) start with this; module ids do not."""
_EDGE = re.compile(r"^\s*(\w+) --> (\w+)\s*$")


def _is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/") / "__init__.py").exists()


def modules_of(top: str) -> dict[str, set[str]]:
    """Module (path below `top`, dotted) -> the modules of `top` it imports; packages left out."""
    graph = import_graph(ROOT, (top,))
    short = {m: m.removeprefix(f"{top}.") for m in graph if not _is_package(m)}
    return {short[m]: {short[t] for t in targets if t in short} for m, targets in graph.items() if m in short}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def drawn_edges(top: str) -> dict[str, set[str]]:
    """The arrows worth drawing: no arrow into the ground, none implied by a longer path."""
    graph = modules_of(top)
    ground = set(GROUND[top])
    kept = {m: {t for t in targets if t not in ground or m in ground} for m, targets in graph.items()}
    reach = {m: reachable(kept, m) for m in kept}
    return {
        m: {t for t in targets if not any(t in reach[o] for o in targets - {t})}
        for m, targets in kept.items()
    }


def _node_id(module: str) -> str:
    return "m_" + module.replace(".", "_").strip("_")


def render(top: str) -> str:
    """The mermaid diagram of `top`: one subgraph per package, ground modules in their own box."""
    edges = drawn_edges(top)
    lines = [f"%% {top}", "flowchart LR"]
    tree: dict[str, list[str]] = {}
    for module in sorted(edges):
        package = "(ground)" if module in GROUND[top] else module.rpartition(".")[0]
        tree.setdefault(package, []).append(module)

    def emit(package: str, indent: str) -> None:
        children = sorted(p for p in tree if p != "(ground)" and p.rpartition(".")[0] == package and p)
        nodes = tree.get(package, [])
        for module in nodes if package else []:
            lines.append(f'{indent}{_node_id(module)}["{module.replace(".", "/")}"]')
        for child in children:
            lines.append(f'{indent}subgraph {_BOX}{_node_id(child)}["{child.replace(".", "/")}/"]')
            emit(child, indent + "  ")
            lines.append(f"{indent}end")

    for package in list(tree):  # make sure intermediate packages (no module of their own) exist
        while package and package != "(ground)":
            tree.setdefault(package, [])
            package = package.rpartition(".")[0]
    for module in tree.get("", []):
        lines.append(f'  {_node_id(module)}["{module}"]')
    emit("", "  ")
    if GROUND[top]:
        lines.append(f'  subgraph {_BOX}ground["ground: used by any module (arrows into it not drawn)"]')
        lines.extend(f'    {_node_id(m)}["{m}"]' for m in tree.get("(ground)", []))
        lines.append("  end")
    for module in sorted(edges):
        lines.extend(f"  {_node_id(module)} --> {_node_id(t)}" for t in sorted(edges[module]))
    return "\n".join(lines)


def diagram(top: str, page: str) -> tuple[set[str], set[tuple[str, str]]]:
    """(modules named, arrows) of the diagram of `top` in the text of docs/architecture.md."""
    blocks = re.findall(r"```mermaid\n(.*?)```", page, re.S)
    found = [b for b in blocks if b.startswith(f"%% {top}\n")]
    assert len(found) == 1, f"docs/architecture.md should hold one mermaid diagram opened by '%% {top}'"
    labels = dict(_NODE.findall(found[0]))
    arrows = set()
    for line in found[0].splitlines():
        match = _EDGE.match(line)
        if match:
            arrows.add((labels[match[1]].replace("/", "."), labels[match[2]].replace("/", ".")))
    modules = {label.replace("/", ".") for node, label in labels.items() if not node.startswith(_BOX)}
    return modules, arrows


def problems(top: str, page: str) -> list[str]:
    """What the diagram of `top` gets wrong about the code, one line per problem."""
    modules, arrows = diagram(top, page)
    graph = modules_of(top)
    found = [f"missing from the diagram: {m}" for m in sorted(set(graph) - modules)]
    found += [f"named but gone: {m}" for m in sorted(modules - set(graph))]
    found += [
        f"arrow without an import: {a} --> {b}"
        for a, b in sorted(arrows)
        if a not in graph or b not in reachable(graph, a)
    ]
    return found


@pytest.mark.parametrize("top", ["extension", "emulator"])
def test_the_diagram_matches_the_code(top: str) -> None:
    assert problems(top, DOC.read_text(encoding="utf-8")) == [], (
        f"redraw with: python -m tests.unit.test_architecture_diagrams {top}"
    )


def test_a_module_left_off_the_map_is_reported() -> None:
    page = DOC.read_text(encoding="utf-8")
    left_off = "\n".join(line for line in page.splitlines() if "m_lifecycle_manager" not in line)
    assert problems("extension", left_off) == ["missing from the diagram: lifecycle.manager"]


def test_an_arrow_without_an_import_is_reported() -> None:
    page = DOC.read_text(encoding="utf-8")
    wrong = page.replace("%% extension\n", "%% extension\n  m_stats --> m_app\n", 1)
    assert problems("extension", wrong) == ["arrow without an import: stats --> app"]


if __name__ == "__main__":
    print(render(sys.argv[1] if len(sys.argv) > 1 else "extension"))
