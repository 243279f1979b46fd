"""The package's shape: dependencies point one way, no import cycle, no module grows past a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

import mia

PACKAGE = Path(mia.__file__).parent
# a layer may import only the layers listed for it (and the shared modules: errors, io, _version, workers, progress)
ALLOWED = {
    "text": {"text"},
    "models": {"text", "models"},
    "detector": {"text", "models", "detector", "evaluate"},
    "evaluate": {"text", "models", "detector", "evaluate"},
    "heads": {"text", "models", "detector", "evaluate", "heads"},
    "report": {"text", "models", "detector", "evaluate", "heads", "report"},
    "search": {"text", "models", "detector", "evaluate", "search"},
}
SHARED = {"errors", "io", "_version", "workers", "progress"}
MAX_LINES = 360


def module_name(path: Path) -> str:
    return ".".join(("mia", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The mia modules ``path`` imports (at the top level only, or anywhere)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mia"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("mia"))
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules}


def test_no_import_cycle():
    graph = {module_name(p): imports(p, top_level_only=True) - {module_name(p)} for p in PACKAGE.rglob("*.py")}
    graph = {name: {dep for dep in deps if not name.startswith(dep + ".") and dep != "mia"}
             for name, deps in graph.items() if name != "mia"}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(node):] + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for dep in graph.get(node, ()):
            visit(dep, trail + [node])
        state[node] = 2

    for name in graph:
        visit(name, [])


def test_layers_import_only_what_is_below_them():
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2:
            continue
        layer = parts[0]
        for name in imports(path, top_level_only=False):
            target = name.split(".")[1]
            assert target in ALLOWED[layer] | SHARED, f"{module_name(path)} imports {name}"


def test_modules_stay_readable():
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
