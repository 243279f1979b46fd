"""The README's results table, made from the results files the documentation renders (``docs/results/*.json``) and
the shipped default detector's card, so that the front page shows the figures of the site and drifts with neither.

    python scripts/readme_results.py          # rewrites the table between the README's mia:results markers
    python scripts/readme_results.py --check  # exit 1 when the README's table differs from the results files

Each row: a benchmark's headline measure of mia's detector beside the best baseline on the same pairs in the same
run (the higher of the two in bold); the test suite checks that the README holds exactly this table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results"
CARD = ROOT / "mia" / "data" / "detectors" / "minilm-reuse" / "detector.json"
BEGIN = "<!-- mia:results begin (made by python scripts/readme_results.py: do not edit by hand) -->"
END = "<!-- mia:results end -->"

Row = tuple[str, str, float, float, str]  # benchmark cell, measure, mia, best baseline, baseline's name


def results(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


def best_baseline(scores: dict[str, dict[str, float]], measure: str) -> tuple[float, str]:
    """The best scorer but the detector by ``measure``: its score and name."""
    name = max((n for n in scores if n != "detector"), key=lambda n: scores[n][measure])
    return scores[name][measure], name


def word_row(cell: str, scores: dict[str, dict[str, float]]) -> Row:
    value, name = best_baseline(scores, "f1")
    return cell, "word F1", scores["detector"]["f1"], value, name


def table_cell(data: dict[str, Any], table: str, row_start: str, column: str) -> str:
    """One cell of a rendered table: the row whose first cell starts with ``row_start``."""
    found = data["tables"][table]
    row = next(r for r in found["rows"] if str(r[0]).startswith(row_start))
    return str(row[found["columns"].index(column)])


def alignment_rows() -> list[Row]:
    runs = results("alignment")["data"]
    return [
        word_row("[verbatim copies](docs/benchmarks/accuracy.md): Gatsby, sentences shuffled",
                 runs["gatsby shuffled / minilm-reuse"]["scorers"]),
        word_row("[edited copies](docs/benchmarks/accuracy.md): Gatsby, a third of the words changed",
                 runs["gatsby noisy / minilm-reuse"]["scorers"]),
        word_row("[paraphrase alignment](docs/benchmarks/rephrasing.md): MultiMWA MTRef dev (`minilm-align`)",
                 runs["MTRef dev / minilm-align"]["scorers"]),
        word_row("[paraphrase alignment](docs/benchmarks/rephrasing.md): MultiMWA Wiki dev (`minilm-align`)",
                 runs["Wiki dev / minilm-align"]["scorers"]),
    ]


def card_rows() -> list[Row]:
    metrics = json.loads(CARD.read_text())["metrics"]
    return [word_row(f"[the training mix](docs/benchmarks/accuracy.md): {metrics['pairs']} test pairs, unrelated "
                     "sentences mixed in", metrics["word_level"])]


def document_rows() -> list[Row]:
    variants = results("documents")["data"]["variants"]
    rows = []
    for variant, label in (("verbatim", "verbatim"), ("obfuscated", "obfuscated"), ("heavy", "heavily revised")):
        if variant not in variants:
            continue
        scores = variants[variant]["scorers"]
        value, name = best_baseline(scores, "plagdet")
        rows.append((f"[documents](docs/benchmarks/documents.md): PAN 2013, {label} ({variants[variant]['pairs']} "
                     "pairs)", "plagdet", scores["detector"]["plagdet"], value, name))
    return rows


def head_rows() -> list[Row]:
    heads = results("heads")
    comparison = heads["data"]["comparisons"]["reference-seed0 vs other-seed0"]["rankings"]
    by = {row["ranking"].split(" (")[0]: row["spearman"] for row in comparison}
    patch = results("patch")
    top = float(table_cell(patch, "top_k", "test pairs, every part", "top k noised together"))
    random = float(table_cell(patch, "top_k", "test pairs, every part", "random k: median"))
    return [("[heads](docs/benchmarks/heads.md): head ranking, packaged corpus vs Gatsby", "Spearman (own AUC)",
             by["heads by own held-out ROC AUC"], by["heads by summed weight"], "by weight"),
            ("[patching](docs/benchmarks/patching.md): top 10 heads by necessity, noised", "share of the match lost",
             top, random, "random 10 (median)")]


SOURCES: tuple[Callable[[], list[Row]], ...] = (alignment_rows, card_rows, document_rows, head_rows)
SOURCE_FILES = ("alignment", "documents", "heads", "patch")  # the docs/results files those rows read
ORDER = ("verbatim copies", "edited copies", "the training mix", "paraphrase alignment", "documents", "heads",
         "patching")


def table() -> str:
    """The README's results table, as Markdown (with the line naming its sources)."""
    rows = [row for source in SOURCES for row in source()]
    rows.sort(key=lambda row: ORDER.index(row[0][1:].split("]")[0]))
    lines = ["| benchmark (held out) | measure | mia | beside it |", "|---|---|---|---|"]
    for cell, measure, mine, theirs, name in rows:
        first, second = f"{mine:.3f}", f"{theirs:.3f}"
        if round(mine, 3) > round(theirs, 3):
            first = f"**{first}**"
        elif round(theirs, 3) > round(mine, 3):
            second = f"**{second}**"
        lines.append(f"| {cell} | {measure} | {first} | {second} {name} |")
    dates = sorted({results(name)["date"][:10] for name in SOURCE_FILES})
    lines += ["", f"Made by `python scripts/readme_results.py` from `docs/results/` ({', '.join(SOURCE_FILES)})",
              f"and the shipped detector's card (results of {' to '.join(dict.fromkeys((dates[0], dates[-1])))}; "
              "each page names their command)."]
    return "\n".join(lines)


def stale() -> list[str]:
    """The results files the table reads whose measured code has changed since they were made."""
    from benchmarks.results import source_hash

    found = {name: results(name) for name in SOURCE_FILES}
    return [name for name, data in found.items() if source_hash(data["measures"]) != data["source_hash"]]


def replaced(readme: str) -> str:
    """``readme`` with the table between the markers made again."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise SystemExit(f"README.md needs one {BEGIN!r} and one {END!r}")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the README's table (exit 1 if it differs)")
    args = parser.parse_args(argv)
    readme = README.read_text()
    made = replaced(readme)
    if args.check:
        if made != readme:
            print("README.md's results table differs from the results files: run python scripts/readme_results.py")
            return 1
        return 0
    README.write_text(made)
    late = stale()
    print("README.md's results table made again" + (f"; older than their code: {', '.join(late)}" if late else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
