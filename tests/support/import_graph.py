"""The project's import graph, read with ast (nothing is imported), and the rules it must keep.

An edge goes from a module to each project module it imports: ``from a.b import c`` is an edge
to ``a.b.c`` when that is a module, else to the package ``a.b``; imports under
``if TYPE_CHECKING:`` and inside functions count like any other. Importing a module runs its
parents' ``__init__`` too, but that is not an edge: a package's face may import its own
modules without making a circle with them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Edge", "circles", "forbidden_edges", "import_graph"]

ROOTS = ("agent", "onchain")
# Adapters talk to one outside thing each; they may share only net.
ADAPTERS = frozenset({"intake", "net", "pricing", "venues", "store"})
# What adapters never reach into: the parts that use them, and what assembles them.
ABOVE_ADAPTERS = frozenset({"pipeline", "ledger", "settlement", "app", "cli"})


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def _module_names(root: Path) -> dict[str, Path]:
    names = {}
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


def _targets(node: ast.AST, modules: Mapping[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] in ROOTS:
                yield alias.name
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module.split(".")[0] not in ROOTS:
            return
        for alias in node.names:
            submodule = f"{node.module}.{alias.name}"
            yield submodule if submodule in modules else node.module


def import_graph(root: Path) -> dict[str, list[Edge]]:
    """Every project module under ``root`` and the project modules it imports."""
    modules = _module_names(root)
    graph: dict[str, list[Edge]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = [
            Edge(name, target, node.lineno)
            for node in ast.walk(tree)
            for target in _targets(node, modules)
            if target != name
        ]
    return graph


def _package(module: str) -> tuple[str, str]:
    """("agent", "pipeline") for agent.pipeline.legs; ("onchain", "") for onchain.spl."""
    parts = module.split(".")
    return parts[0], parts[1] if parts[0] == "agent" and len(parts) > 1 else ""


def _rule_broken(source: str, target: str) -> str | None:
    source_root, source_package = _package(source)
    target_root, target_package = _package(target)
    if source_root == "onchain":
        return "onchain never imports agent" if target_root == "agent" else None
    if target_root == "agent" and target_package in ("", source_package):
        return None
    if source_package == "domain":
        return "domain imports nothing else of the project"
    if source_package in ADAPTERS:
        if target_package in ABOVE_ADAPTERS:
            return f"an adapter ({source_package}) never imports {target_package}"
        if target_package in ADAPTERS and target_package != "net":
            return f"adapters share only net ({source_package} imports {target_package})"
    if source_package == "net" and target_root == "agent":
        return "net imports nothing else of agent"
    return None


def forbidden_edges(graph: Mapping[str, Iterable[Edge]]) -> list[tuple[Edge, str]]:
    """Each edge that breaks a dependency rule, with the rule in words."""
    broken = []
    for edges in graph.values():
        for edge in edges:
            rule = _rule_broken(edge.source, edge.target)
            if rule is not None:
                broken.append((edge, rule))
    return broken


def circles(graph: Mapping[str, Iterable[Edge]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each sorted."""
    targets = {
        name: sorted({e.target for e in edges if e.target in graph})
        for name, edges in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        # Iterative, so a long chain of imports cannot exhaust Python's recursion limit.
        work = [(node, iter(targets[node]))]
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(targets[child])))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(targets):
        if name not in index:
            visit(name)
    return sorted(found)
