"""Results files that the documentation renders its tables from (``docs/results/*.json``).

Each benchmark that feeds a page writes one record: its figures (``tables``: named tables of columns and rows, and
any ``data``), the command that made them, the date, the machine, mia's version, and the SHA-256 of the code they
measure (``measures``: files or folders of this repository). The documentation build (``docs/hooks.py``) renders
the tables with that stamp and flags a table whose code has changed since (its hash differs): a figure is never
shown as current when the code it describes is not the code that made it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


def shipped_detector_files(names: Iterable[str]) -> list[str]:
    """The files of those ``names`` that are shipped detectors (``mia/data/detectors/NAME``), for ``measures``; a
    detector folder given by its path (``/tmp/det``, ``models/x``) is named in the command, not hashed."""
    shipped = ROOT / "mia" / "data" / "detectors"
    return [f"mia/data/detectors/{name}/{file}" for name in names
            if Path(name).name == name and (shipped / name).is_dir() for file in ("detector.json", "weights.npz")]


def measured_files(measures: Sequence[str]) -> list[Path]:
    """The Python files under ``measures`` (paths relative to the repository: files or folders), sorted."""
    files: set[Path] = set()
    for entry in measures:
        path = ROOT / entry
        if path.is_dir():
            files.update(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        elif path.is_file():
            files.add(path)
        else:
            raise FileNotFoundError(f"measured path {entry!r} is not in the repository")
    return sorted(files)


def source_hash(measures: Sequence[str]) -> str:
    """SHA-256 over the measured files' paths and contents (line ends as stored)."""
    digest = hashlib.sha256()
    for path in measured_files(measures):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def machine() -> str:
    """This machine in one line: cores, memory, CPU architecture, OS, Python and torch."""
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_version = "none"
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    return (f"{os.cpu_count()} cores{memory}, {platform.machine()}, {platform.system()}, "
            f"Python {platform.python_version()}, torch {torch_version}")


def this_command() -> str:
    """This process's command line, the script named from the repository's root."""
    script = Path(sys.argv[0]).resolve()
    name = script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else sys.argv[0]
    return " ".join(["python", name, *sys.argv[1:]])


def record(name: str, *, measures: Sequence[str], tables: dict[str, dict[str, Any]], data: Any = None,
           command: str | None = None) -> dict[str, Any]:
    """A stamped results record. ``tables``: name -> ``{"columns": [...], "rows": [[...], ...]}`` (and an optional
    ``note``); ``command``: how to make it again (default: this process's command line)."""
    from mia import __version__

    for table_name, table in tables.items():
        width = len(table["columns"])
        if any(len(row) != width for row in table["rows"]):
            raise ValueError(f"table {table_name}: every row needs {width} cells")
    return {
        "benchmark": name,
        "command": command or this_command(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "mia_version": __version__,
        "measures": list(measures),
        "source_hash": source_hash(measures),
        "tables": tables,
        "data": data,
    }


def write(name: str, result: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Write ``result`` to ``folder/name.json`` (the folder is made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return path
