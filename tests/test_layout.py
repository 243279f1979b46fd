"""The package's shape: dependencies point one way, no import cycle, no function grows past a screen."""

from __future__ import annotations

import ast
from pathlib import Path

import mia

PACKAGE = Path(mia.__file__).parent
# The layers, bottom to top; a module may import its own layer and the layers below it, never one above. The
# shared modules (errors, io, _version, workers, progress) sit under everything and import only each other.
# `search` sits beside `heads` and `report` (on the detector and evaluation); `workflow` composes training,
# evaluation and head description; the command line sits on everything.
SHARED = {"errors", "io", "_version", "workers", "progress"}
ALLOWED = {
    "shared": set(),
    "text": {"text"},
    "models": {"text", "models"},
    "alignment": {"text", "models", "alignment"},
    "detector": {"text", "models", "alignment", "detector"},
    "training": {"text", "models", "alignment", "detector", "training"},
    "evaluate": {"text", "models", "alignment", "detector", "evaluate"},
    "heads": {"text", "models", "alignment", "detector", "training", "evaluate", "heads"},
    "report": {"text", "models", "alignment", "detector", "training", "evaluate", "heads", "report"},
    "search": {"text", "models", "alignment", "detector", "evaluate", "search"},
    "workflow": {"text", "models", "alignment", "detector", "training", "evaluate", "heads", "workflow"},
}
CLI = ("cli", "__init__", "__main__")
EVERYTHING = {"text", "models", "alignment", "detector", "training", "evaluate", "heads", "report", "search",
              "workflow", *CLI}
MAX_FUNCTION_LINES = 60  # body lines of one function, its docstring left out


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


def layer_of(path: Path) -> str:
    """The layer of a module: its folder, or for a top-level module its own name (shared ones: ``shared``)."""
    parts = path.relative_to(PACKAGE).parts
    name = parts[0] if len(parts) > 1 else path.stem
    return "shared" if name in SHARED else name


def violation(path: Path, name: str) -> str | None:
    """Why ``path`` may not import the mia module ``name`` (None when it may)."""
    layer = layer_of(path)
    allowed = EVERYTHING if layer in CLI else ALLOWED[layer]
    target = name.split(".")[1]
    target = "shared" if target in SHARED else target
    return None if target == "shared" or target in allowed else f"{module_name(path)} ({layer}) imports {name}"


def test_layers_import_only_what_is_below_them():
    found = [problem for path in PACKAGE.rglob("*.py") for name in imports(path, top_level_only=False)
             if (problem := violation(path, name))]
    assert found == []


def test_the_layering_rule_catches_an_arrow_back_up():
    """The rule fails on a lower layer importing a higher one, top-level modules included."""
    assert violation(PACKAGE / "training" / "training.py", "mia.evaluate.metrics")
    assert violation(PACKAGE / "detector" / "detector.py", "mia.training.training")
    assert violation(PACKAGE / "alignment" / "windowed.py", "mia.detector.detector")
    assert violation(PACKAGE / "models" / "attention.py", "mia.detector.detector")
    assert violation(PACKAGE / "io.py", "mia.text.pairs")  # a shared module importing a layer
    assert violation(PACKAGE / "workflow.py", "mia.report.text")
    assert violation(PACKAGE / "search" / "search.py", "mia.heads.ranking")
    assert not violation(PACKAGE / "evaluate" / "evaluation.py", "mia.detector.detector")
    assert not violation(PACKAGE / "cli" / "app.py", "mia.report.text")


def function_lengths(source: str) -> dict[str, int]:
    """Each function's (and method's) body in lines, its docstring left out, by ``line:name``."""
    lengths = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            documented = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1
            first = body[1] if documented else body[0]
            lengths[f"{node.lineno}:{node.name}"] = (node.end_lineno or first.lineno) - first.lineno + 1
    return lengths


def test_functions_stay_short():
    """The size rule follows concepts: a function reads on one screen; a module holds one idea, however long."""
    long = {f"{module_name(p)}:{name}": n for p in PACKAGE.rglob("*.py")
            for name, n in function_lengths(p.read_text()).items() if n > MAX_FUNCTION_LINES}
    assert long == {}


def test_the_function_rule_counts_the_body_without_the_docstring():
    source = 'def f():\n    """Doc\n    string."""\n    a = 1\n    return a\n\n\ndef g():\n    return 2\n'
    assert function_lengths(source) == {"1:f": 2, "8:g": 1}


def test_a_detector_record_is_read_through_its_card():
    """``metadata[...]`` and ``metadata.get(...)`` are read only where the record is read (the card and the record's
    validation); everywhere else through ``detector.card``, typed. Writing is allowed."""
    import re

    readers = {"mia.detector.card", "mia.detector.record", "mia.detector.record_sections", "mia.training.data"}
    read = re.compile(r"metadata(\.get\(|\[[^\]]*\](?!\s*=[^=]))")
    found = [f"{module_name(p)}:{n}" for p in PACKAGE.rglob("*.py") if module_name(p) not in readers
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if read.search(line.split("#")[0]) and not line.strip().startswith(('"""', "``"))
             and '"""' not in line and "``metadata" not in line]
    assert found == []


def test_no_stage_holds_more_than_a_sixth_of_the_package():
    """A folder per path: the largest stage (a folder, or a top-level module) holds at most 15% of the lines."""
    sizes: dict[str, int] = {}
    for path in PACKAGE.rglob("*.py"):
        sizes[layer_of(path)] = sizes.get(layer_of(path), 0) + len(path.read_text().splitlines())
    total = sum(sizes.values())
    assert {stage: n for stage, n in sizes.items() if n > 0.15 * total} == {}
