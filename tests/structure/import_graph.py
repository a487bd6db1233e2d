"""Which of our modules imports which, read from the source (nothing is imported to find out).

What counts as "A imports B" (docs/development.md, Layers):
- every import statement in A: at the top, inside a function, under `if TYPE_CHECKING:`, in a
  `try:`. An import inside a function still runs when the function does, and a type-only
  import still ties A's meaning to B: a loop hidden in either is still a loop.
- `from P import N` is an import of the module P.N when there is one, else of P; relative
  imports are resolved against A's package.
- a package's `__init__` is not counted when one of its submodules is imported: Python runs it
  first, but that is the package holding its parts, not a dependency anyone wrote.
- a module loaded by its name as a string (`importlib.import_module`: the schedule registry's
  sources, the `qiyas` command table, the hil CLI) is not an import: those are the seams that
  load a part only when it is configured or asked for, and the part may import its loader.
Modules are named by their path below the root (`agent/ont/get.py` is `agent.ont.get`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

Graph = dict[str, set[str]]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def build(root: Path, packages: Iterable[str]) -> Graph:
    """The import graph of every module below root/<package> for each package named."""
    files = (path for package in packages for path in sorted((root / package).rglob("*.py")))
    paths = {module_name(root, path): path for path in files}
    graph: Graph = {}
    for name, path in paths.items():
        imported: set[str | None] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(_ours(alias.name, paths) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    imported.add(full if full in paths else _ours(base, paths))
        graph[name] = {m for m in imported if m is not None and m != name}
    return graph


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _ours(name: str, paths: dict[str, Path]) -> str | None:
    """The module of ours that `import name` loads: name itself, or its nearest parent."""
    while name and name not in paths:
        name = name.rpartition(".")[0]
    return name or None


def reachable(graph: Graph, start: str) -> set[str]:
    """Every module that importing start loads, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def cycles(graph: Graph) -> list[list[str]]:
    """Each group of modules that reach one another through imports, sorted."""
    reach = {m: reachable(graph, m) for m in graph}
    groups = {
        frozenset({m, *(w for w in reach[m] if m in reach[w])}) for m in graph if m in reach[m]
    }
    return sorted(sorted(g) for g in groups)


def describe(graph: Graph, group: list[str]) -> str:
    """A loop's imports, one `A -> B` per line, for the failure message."""
    members = set(group)
    return "\n".join(f"  {a} -> {b}" for a in group for b in sorted(graph[a] & members))
