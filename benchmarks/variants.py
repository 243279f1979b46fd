"""What was tried and not shipped: detectors trained or decoded another way than the shipped ones, each measured by
``mia evaluate`` beside a shipped detector on the same pairs. One set of variants per page (writes
docs/results/variants-SET.json):

    python benchmarks/variants.py --shared ../shared --set accuracy      # Accuracy: how the default was chosen
    python benchmarks/variants.py --shared ../shared --set documents     # Documents: training on documents
    python benchmarks/variants.py --shared ../shared --set rephrasing    # Rephrasing: training and what was tried
    python benchmarks/variants.py --shared ../shared --set heavy         # Rephrasing: heavy revision in documents

Every detector a set trains is trained here, with today's code, by ``mia train`` in a child process (its wall time
and its own peak RSS recorded), on data named in the set; pair files, trained detectors and each run's JSON go to
a new folder under ``--work``, never into the repository. Word-level figures are ``evaluate``'s (``detect``'s
output), every baseline in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import record, shipped_detector_files, write  # noqa: E402
from mia.cli import main as mia  # noqa: E402

CODE = ["mia/alignment", "mia/detector", "mia/evaluate", "mia/models", "mia/text", "mia/training",
        "benchmarks/variants.py"]
HEAVY = ["--copies", "noisy", "--substitute", "0.35", "--delete", "0.1", "--insert", "0.1", "--swap", "0.15",
         "--seed", "5"]
TILING = "greedy string tiling (>= 3)"


@dataclass(frozen=True)
class Run:
    """One ``mia evaluate`` run: a detector (shipped name or a key of the set's trainings) on a pair set."""

    detector: str
    pairs: str
    options: tuple[str, ...] = ()


@dataclass
class VariantSet:
    """Pair files to make (name -> ``mia`` argv without ``--out``), detectors to train (key -> ``train`` argv without
    ``--out``; ``{name}`` is a pair file's path), detector copies with record changes (key -> (shipped name, changes
    to ``documents``)), and the tables, each made from the finished runs by ``tables``."""

    pairs: dict[str, list[str]]
    trainings: dict[str, list[str]] = field(default_factory=dict)
    copies: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    words: str = "regex"
    embedding_layer: str = "none"
    tables: Callable[[Results], dict[str, dict[str, Any]]] | None = None
    shipped: tuple[str, ...] = ("minilm-reuse",)


class Results:
    """The finished runs of a set: ``scores(run, scorer)`` word level, ``per_pair(run, scorer)``, the trainings'
    costs and the detectors' records."""

    def __init__(self) -> None:
        self.evaluations: dict[Run, dict[str, Any]] = {}
        self.trained: dict[str, dict[str, Any]] = {}

    def scores(self, run: Run, scorer: str = "detector") -> dict[str, float]:
        return self.evaluations[run]["word_level"]["scorers"][scorer]

    def per_pair(self, run: Run, scorer: str = "detector") -> dict[str, float]:
        return self.evaluations[run]["word_level"]["per_pair_averaged"]["scorers"][scorer]

    def f1(self, run: Run, scorer: str = "detector") -> str:
        return f3(self.scores(run, scorer)["f1"])

    def prf(self, run: Run, scorer: str = "detector", *, per_pair: bool = False) -> str:
        found = self.per_pair(run, scorer) if per_pair else self.scores(run, scorer)
        return f"{f3(found['f1'])} ({f3(found['precision'])} / {f3(found['recall'])})"

    def pairs(self, run: Run) -> int:
        return int(self.evaluations[run]["pairs"])


def f3(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def quiet(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = mia(argv)
    if code:
        raise SystemExit(f"mia {' '.join(argv)} failed with exit code {code}")


def child_train(argv: list[str]) -> dict[str, float]:
    """``python -m mia train ARGV`` in a child process: wall seconds and its own peak RSS (MB)."""
    code = ("import resource, sys; from mia.cli import main; code = main(sys.argv[1:]); "
            "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
            "raise SystemExit(code)")
    with tempfile.TemporaryFile("w+") as log:  # progress bars: to a file, not a pipe that could fill
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, "train", *argv], stdout=subprocess.DEVNULL, stderr=log,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        seconds = time.perf_counter() - started
        log.seek(0)
        stderr = log.read()
    if done.returncode:
        raise SystemExit(f"`mia train {' '.join(argv)}` failed:\n{stderr[-2000:]}")
    peak_kb = next(int(line.split()[1]) for line in stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024, 1)}


def accuracy(shared: Path) -> VariantSet:
    """How the default was chosen: training data, feature columns and decoding, on the first 100 Gatsby pairs of
    each shape; and the earlier shipped detectors on every shuffled pair."""
    gatsby = str(shared / "corpora" / "gatsby.txt")
    trainings = {"shuffled, pair": ["--copies", "shuffled", "--offsets", "pair", "--decode", "threshold"],
                 "mixed, pair": ["--offsets", "pair", "--decode", "threshold"],
                 "mixed, diagonal": ["--offsets", "diagonal"],
                 "mixed, wide": []}
    decodings = {"shuffled, pair": ["threshold"], "mixed, pair": ["threshold"],
                 "mixed, diagonal": ["threshold", "mutual-argmax", "itermax"],
                 "mixed, wide": ["threshold", "mutual-argmax", "itermax"]}
    choices = [(key, decode, shape) for key, ways in decodings.items() for decode in ways
               for shape in ("shuffled 100", "noisy 100")]
    earlier = ["minilm-verbatim", "minilm-verbatim-context", "minilm-reuse"]
    runs = [Run(key, shape, ("--decode", decode)) for key, decode, shape in choices]
    runs += [Run("minilm-reuse", shape) for shape in ("shuffled 100", "noisy 100")]
    runs += [Run(name, shape) for name in earlier for shape in ("shuffled", "noisy")]

    def tables(results: Results) -> dict[str, dict[str, Any]]:
        rows = []
        for key, ways in decodings.items():
            columns = results.trained[key]["columns"]
            for decode in ways:
                rows.append([f"{key} ({columns:,})", decode,
                             *(results.f1(Run(key, shape, ("--decode", decode))) for shape in ("shuffled 100",
                                                                                               "noisy 100"))])
        rows.append(["shipped `minilm-reuse` (mixed, wide; trained by an earlier version)", "mutual-argmax",
                     *(results.f1(Run("minilm-reuse", shape)) for shape in ("shuffled 100", "noisy 100"))])
        rows.append([TILING, "", *(results.f1(Run("minilm-reuse", shape), TILING)
                                   for shape in ("shuffled 100", "noisy 100"))])
        earlier_rows = []
        for name in earlier:
            meta = json.loads((ROOT / "mia" / "data" / "detectors" / name / "detector.json").read_text())
            earlier_rows.append([f"`{name}`", meta.get("relation", ""), f"{meta['features']['count']:,}",
                                 meta.get("decode", "threshold"),
                                 *(results.prf(Run(name, shape)) for shape in ("shuffled", "noisy"))])
        earlier_rows.append([TILING, "", "", "", *(results.prf(Run("minilm-reuse", shape), TILING)
                                                   for shape in ("shuffled", "noisy"))])
        return {
            "choices": {"columns": ["training data, features (columns)", "decoding", "shuffled F1", "noisy F1"],
                        "rows": rows,
                        "note": "Each trained here on the packaged corpus with seed 0 (`mia train` with "
                                "`--copies shuffled` or the default mixed copies, `--offsets pair|diagonal|wide`); "
                                "word F1 on the first 100 Gatsby pairs of each shape (`mia generate --limit 100`), "
                                "decoded as `evaluate --decode` says."},
            "earlier": {"columns": ["detector", "relation", "columns", "decoding", "Gatsby shuffled F1 (P / R)",
                                    "Gatsby noisy F1 (P / R)"], "rows": earlier_rows,
                        "note": f"Every Gatsby pair ({results.pairs(Run('minilm-reuse', 'shuffled'))} shuffled, "
                                f"{results.pairs(Run('minilm-reuse', 'noisy'))} noisy); each shipped detector as "
                                "`detect` runs it."},
        }

    return VariantSet(
        pairs={"shuffled 100": ["generate", "--corpus", gatsby, "--limit", "100"],
               "noisy 100": ["generate", "--corpus", gatsby, "--copies", "noisy", "--limit", "100"],
               "shuffled": ["generate", "--corpus", gatsby],
               "noisy": ["generate", "--corpus", gatsby, "--copies", "noisy"]},
        trainings=trainings, runs=runs, tables=tables, shipped=tuple(earlier))


def documents(shared: Path) -> VariantSet:
    """Training on documents, the links printed outside passages, and a decoding floor, against the shipped
    detector on Gatsby documents and paragraphs."""
    gatsby = str(shared / "corpora" / "gatsby.txt")
    trainings = {"--documents 0.25": ["--documents", "0.25"], "--documents 0.1": ["--documents", "0.1"]}
    copies = {"floor 0.9": ("minilm-reuse", {"argmax_floor": 0.9, "passages": {"min_outside_phrase_words": 1}})}
    every = ("--min-outside-phrase", "1")
    runs = [Run("minilm-reuse", "documents"), Run("minilm-reuse", "documents", every),
            Run("floor 0.9", "documents"), Run("minilm-reuse", "shuffled"), Run("minilm-reuse", "noisy")]
    runs += [Run(key, shape) for key in trainings for shape in ("documents", "shuffled", "noisy")]

    def tables(results: Results) -> dict[str, dict[str, Any]]:
        def paragraphs(key: str) -> list[str]:
            return [results.f1(Run(key, "shuffled")), results.f1(Run(key, "noisy"))]

        train_rows = [
            ["`minilm-reuse` (shipped; paragraph pairs only), as `detect` prints it",
             results.prf(Run("minilm-reuse", "documents")), *paragraphs("minilm-reuse"), "", ""],
            ["`minilm-reuse`, every link printed (`--min-outside-phrase 1`)",
             results.prf(Run("minilm-reuse", "documents", every)), "(the same)", "(the same)", "", ""],
        ]
        for key in trainings:
            cost = results.trained[key]
            train_rows.append([f"`mia train {key}` (every link: it records no passage rule)",
                               results.prf(Run(key, "documents")), *paragraphs(key),
                               f"{cost['seconds'] / 60:.1f}", f"{cost['peak_rss_mb']:,.0f}"])
        train_rows.append([TILING, results.prf(Run("minilm-reuse", "documents"), TILING),
                           results.f1(Run("minilm-reuse", "shuffled"), TILING),
                           results.f1(Run("minilm-reuse", "noisy"), TILING), "", ""])
        links_rows = [
            ["Gatsby documents, word F1 (P / R)", results.prf(Run("minilm-reuse", "documents", every)),
             results.prf(Run("minilm-reuse", "documents"))],
            ["the same, per pair averaged", results.prf(Run("minilm-reuse", "documents", every), per_pair=True),
             results.prf(Run("minilm-reuse", "documents"), per_pair=True)],
            ["a copy with `documents.argmax_floor` 0.9, every link", results.prf(Run("floor 0.9", "documents")),
             ""],
        ]
        return {
            "training": {"columns": ["detector (trained on the packaged corpus, seed 0)", "Gatsby documents F1 (P / R)",
                                     "Gatsby shuffled F1", "Gatsby noisy F1", "training min", "training peak MB"],
                         "rows": train_rows,
                         "note": f"{results.pairs(Run('minilm-reuse', 'documents'))} Gatsby document pairs "
                                 "(`mia generate --copies mixed --documents 1.0 --limit 120`: one reused passage "
                                 "each among unrelated paragraphs, evaluation noise) and every Gatsby paragraph pair "
                                 f"({results.pairs(Run('minilm-reuse', 'shuffled'))} shuffled, "
                                 f"{results.pairs(Run('minilm-reuse', 'noisy'))} noisy); the trained detectors here, "
                                 "with today's code; (the same): a paragraph pair that fits the model has no "
                                 "passages, so the setting does not apply to it."},
            "links": {"columns": ["measure (the same pairs)", "every link (1)", "shipped (as `detect` prints)"],
                      "rows": links_rows,
                      "note": "`mia evaluate --pairs gatsby-documents.jsonl` with `--min-outside-phrase 1` and "
                              "without; the floor copy: `minilm-reuse` with `documents.argmax_floor` 0.9 and "
                              "`min_outside_phrase_words` 1 written into its record."},
        }

    return VariantSet(
        pairs={"documents": ["generate", "--corpus", gatsby, "--copies", "mixed", "--documents", "1.0",
                             "--limit", "120"],
               "shuffled": ["generate", "--corpus", gatsby],
               "noisy": ["generate", "--corpus", gatsby, "--copies", "noisy"]},
        trainings=trainings, copies=copies, runs=runs, tables=tables)


def rephrasing(shared: Path) -> VariantSet:
    """``minilm-align``'s training again with today's code (its cost), and what did not close the gap to the
    embedding aligner on MTRef dev."""
    multimwa = shared / "corpora" / "multimwa"
    align = ["--relation", "paraphrase word alignment", "--embedding-layer", "3"]
    trainings = {"as shipped": ["--pairs", "{mtref-train}", *align],
                 "MTRef + Wiki train": ["--pairs", "{mtref+wiki-train}", *align],
                 "--neg-per-pos 30": ["--pairs", "{mtref-train}", *align, "--neg-per-pos", "30"],
                 "--offsets diagonal": ["--pairs", "{mtref-train}", *align, "--offsets", "diagonal"]}
    rows_of = [("shipped `minilm-align`", "minilm-align", ()),
               ("the same, `--decode itermax`", "minilm-align", ("--decode", "itermax")),
               ("the same, `--decode threshold`", "minilm-align", ("--decode", "threshold")),
               *((f"trained again: {key}", key, ()) for key in trainings)]
    runs = [Run(detector, dev, options) for _, detector, options in rows_of for dev in ("MTRef dev", "Wiki dev")]

    def tables(results: Results) -> dict[str, dict[str, Any]]:
        rows = []
        for label, detector, options in rows_of:
            cost = results.trained.get(detector)
            rows.append([label, results.prf(Run(detector, "MTRef dev", options)),
                         results.f1(Run(detector, "Wiki dev", options)),
                         f"{cost['pairs']:,}" if cost else "", f"{cost['seconds'] / 60:.1f}" if cost else "",
                         f"{cost['peak_rss_mb']:,.0f}" if cost else ""])
        shipped = Run("minilm-align", "MTRef dev")
        rows.append(["embedding argmax (layer 3), the same pairs",
                     results.prf(shipped, "embedding argmax (layer 3)"),
                     results.f1(Run("minilm-align", "Wiki dev"), "embedding argmax (layer 3)"), "", "", ""])
        return {"tried": {"columns": ["detector", "MTRef dev F1 (P / R)", "Wiki dev F1", "training pairs",
                                      "training min", "training peak MB"], "rows": rows,
                          "note": "Whitespace words; each trained here with `mia train --pairs ... --relation "
                                  "'paraphrase word alignment' --embedding-layer 3` and the option named, seed 0; "
                                  f"MTRef dev {results.pairs(shipped)} pairs in the shipped detector's run (a pair "
                                  "repeating one a detector was fit on is left out)."}}

    return VariantSet(
        pairs={name: ["import-alignments", "--multimwa", str(multimwa / f"{name}.tsv")]
               for name in ("mtref-train", "wiki-train")}
        | {"MTRef dev": ["import-alignments", "--multimwa", str(multimwa / "mtref-dev.tsv")],
           "Wiki dev": ["import-alignments", "--multimwa", str(multimwa / "wiki-dev.tsv")]},
        trainings=trainings, runs=runs, words="whitespace", embedding_layer="3", tables=tables,
        shipped=("minilm-align",))


def heavy(shared: Path) -> VariantSet:
    """Heavy revisions of Gatsby paragraphs alone and inside documents: where ``minilm-reuse``'s links go."""
    gatsby = str(shared / "corpora" / "gatsby.txt")
    every = ("--min-outside-phrase", "1")
    rows_of = [("alone", "minilm-reuse", "alone", ()),
               ("in documents, every window pair, every link (`--candidates all --min-outside-phrase 1`)",
                "minilm-reuse", "documents", ("--candidates", "all", *every)),
               ("in documents, sentence candidates, every link (`--min-outside-phrase 1`)", "minilm-reuse",
                "documents", every),
               ("in documents, the rule until 2026-12-07 (`--min-longest-phrase 8`)", "minilm-reuse", "documents",
                ("--min-longest-phrase", "8")),
               ("in documents, `--min-passage-words 8 --min-longest-phrase 4`", "minilm-reuse", "documents",
                ("--min-passage-words", "8", "--min-longest-phrase", "4")),
               ("in documents, as `detect` prints them", "minilm-reuse", "documents", ()),
               ("`minilm-align` in documents, as `detect` prints them", "minilm-align", "documents", ())]
    runs = [Run(detector, pairs, options) for _, detector, pairs, options in rows_of]

    def tables(results: Results) -> dict[str, dict[str, Any]]:
        def row(label: str, run: Run, scorer: str) -> list[str]:
            found, per_pair = results.scores(run, scorer), results.evaluations[run]["per_pair"]
            missed = sum(1 for pair in per_pair if pair[scorer]["recall"] == 0)
            return [label, f3(found["recall"]), f3(found["precision"]), f3(found["f1"]),
                    f3(results.per_pair(run, scorer)["recall"]), f"{missed} of {len(per_pair)}"]

        rows = [row(label, Run(detector, pairs, options), "detector") for label, detector, pairs, options in rows_of]
        rows += [row(f"{TILING}, {pairs}", Run("minilm-reuse", pairs), TILING) for pairs in ("alone", "documents")]
        shipped = results.evaluations[Run("minilm-reuse", "documents")]["per_pair"]
        missed = [pair["gold_links"] for pair in shipped if pair["detector"]["recall"] == 0]
        return {"heavy": {"columns": ["the same heavy revisions", "word R", "P", "F1", "per-pair R",
                                      "pairs with no gold link found"], "rows": rows,
                          "note": f"{results.pairs(Run('minilm-reuse', 'alone'))} heavy revisions of Gatsby "
                                  "paragraphs (`mia generate --copies noisy --substitute 0.35 --delete 0.1 --insert "
                                  "0.1 --swap 0.15 --seed 5 --limit 60`), alone and inside documents (the same with "
                                  "`--documents 1 --document-words 300`); `minilm-reuse` unless named. The pairs in "
                                  "which the shipped rule finds no gold link hold a median of "
                                  f"{statistics.median(missed) if missed else 0:g} gold links (all pairs: "
                                  f"{statistics.median(pair['gold_links'] for pair in shipped):g})."}}

    return VariantSet(
        pairs={"alone": ["generate", "--corpus", gatsby, *HEAVY, "--limit", "60"],
               "documents": ["generate", "--corpus", gatsby, *HEAVY, "--limit", "60", "--documents", "1",
                             "--document-words", "300"]},
        runs=runs, tables=tables, shipped=("minilm-reuse", "minilm-align"))


SETS: dict[str, Callable[[Path], VariantSet]] = {"accuracy": accuracy, "documents": documents,
                                                  "rephrasing": rephrasing, "heavy": heavy}


def make_pairs(variants: VariantSet, work: Path) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for name, argv in variants.pairs.items():
        paths[name] = work / f"{name.replace(' ', '-')}.jsonl"
        quiet([*argv, "--out", str(paths[name])])
    if "mtref-train" in paths and "wiki-train" in paths:  # the union, for the "more data" training
        paths["mtref+wiki-train"] = work / "mtref+wiki-train.jsonl"
        with paths["mtref+wiki-train"].open("w") as union:
            for name in ("mtref-train", "wiki-train"):  # ids are unique within a file: made unique across the two
                for line in paths[name].read_text().splitlines():
                    pair = json.loads(line)
                    union.write(json.dumps({**pair, "id": f"{name}:{pair['id']}"}) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", required=True, help="the folder holding corpora/ (gatsby.txt, multimwa/)")
    parser.add_argument("--set", required=True, choices=sorted(SETS), help="which variants (one page's figures)")
    parser.add_argument("--work", default="/tmp/mia-variants", help="a new folder under it holds every file made")
    args = parser.parse_args(argv)
    variants = SETS[args.set](Path(args.shared))
    Path(args.work).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{args.set}-", dir=args.work))
    print(f"working in {work}", flush=True)
    paths = make_pairs(variants, work)
    results = Results()
    detectors: dict[str, str] = {}
    for key, train_argv in variants.trainings.items():
        folder = work / f"det-{key.strip('-').replace(' ', '-').replace('+', 'and')}"
        filled = [arg.format(**{name: str(path) for name, path in paths.items()}) if arg.startswith("{") else arg
                  for arg in train_argv]
        cost = child_train([*filled, "--out", str(folder), "--device", "cpu"])
        meta = json.loads((folder / "detector.json").read_text())
        results.trained[key] = {**cost, "columns": meta["features"]["count"], "pairs": meta["data"]["pairs"],
                                "argv": filled}
        detectors[key] = str(folder)
        print(f"trained {key}: {cost}", flush=True)
    for key, (shipped, changes) in variants.copies.items():
        folder = work / f"copy-{key.replace(' ', '-')}"
        shutil.copytree(ROOT / "mia" / "data" / "detectors" / shipped, folder)
        meta = json.loads((folder / "detector.json").read_text())
        documents = meta.setdefault("documents", {})
        for name, value in changes.items():
            if isinstance(value, dict):
                documents.setdefault(name, {}).update(value)
            else:
                documents[name] = value
        (folder / "detector.json").write_text(json.dumps(meta, indent=1))
        detectors[key] = str(folder)
    timings = []
    for number, run in enumerate(variants.runs):
        out = work / f"run-{number}.json"
        started = time.perf_counter()
        quiet(["evaluate", "--pairs", str(paths[run.pairs]), "--detector", detectors.get(run.detector, run.detector),
               "--words", variants.words, "--embedding-layer", variants.embedding_layer, "--format", "json",
               "--out", str(out), *run.options])
        results.evaluations[run] = json.loads(out.read_text())
        seconds = round(time.perf_counter() - started, 1)
        timings.append([run.detector, run.pairs, " ".join(run.options), seconds])
        print(f"{run}: {results.f1(run)} in {seconds} s", flush=True)
    tables = variants.tables(results) if variants.tables else {}
    tables["runs"] = {"columns": ["detector", "pairs", "options", "evaluate wall s"], "rows": timings}
    path = write(f"variants-{args.set}", record(
        f"variants-{args.set}", measures=CODE + shipped_detector_files(variants.shipped), tables=tables,
        data={"trained": results.trained,
              "word_level": {f"{run.detector} / {run.pairs} / {' '.join(run.options)}": result["word_level"]
                             for run, result in results.evaluations.items()}}))
    for name, table in tables.items():
        print(f"\n{name}: " + " | ".join(table["columns"]))
        for row in table["rows"]:
            print(" | ".join(str(c) for c in row))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
