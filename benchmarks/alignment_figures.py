"""The word-level figures of the documentation (Accuracy and Rephrasing), from one command (writes
docs/results/alignment.json):

    python benchmarks/alignment_figures.py --shared ../shared

Pairs: Gatsby's paragraphs with shuffled copies and with noisy copies (``mia generate``, seed 0, every paragraph), and
MultiMWA's MTRef and Wiki dev splits (``mia import-alignments --multimwa``). Each set is measured by ``mia evaluate``
(every baseline on the same pairs, in the same run) with the shipped detectors: ``minilm-reuse`` (also with threshold
decoding on Gatsby) and ``minilm-align``; regex words on Gatsby, whitespace words on the alignment sets, as the
field counts them. Pair files and each run's JSON go to ``--work``, never into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import record, shipped_detector_files, write  # noqa: E402
from mia.cli import main as mia  # noqa: E402

MEASURES = ["mia/alignment", "mia/detector", "mia/evaluate", "mia/models", "mia/text",
            *shipped_detector_files(["minilm-reuse", "minilm-align"])]
BASELINES = ["same word", "run of >= 3 words", "longest matching blocks", "greedy string tiling (>= 3)",
             "embedding argmax (layer 3)"]


def run(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = mia(argv)
    if code:
        raise SystemExit(f"mia {' '.join(argv)} failed with exit code {code}")


def evaluate(pairs: Path, out: Path, *extra: str) -> dict:
    start = time.perf_counter()
    run(["evaluate", "--pairs", str(pairs), "--format", "json", "--out", str(out), *extra])
    result = json.loads(out.read_text())
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    return result


def scores(result: dict) -> dict[str, dict]:
    return result["word_level"]["scorers"]


def f3(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def secondary(runs: dict[tuple[str, str], dict]) -> list[list[str]]:
    """The Accuracy page's secondary measures on Gatsby, from the default detector's runs (every scorer of one run)."""
    shuffled, noisy = runs[("gatsby shuffled", "minilm-reuse")], runs[("gatsby noisy", "minilm-reuse")]
    rows = []
    for scorer in shuffled["token_level"]["scorers"]:
        rows.append(["token level, average precision", scorer,
                     *(f3(r["token_level"]["scorers"][scorer]["average_precision"]) for r in (shuffled, noisy))])
    for scorer in ("detector", "greedy string tiling (>= 3)"):
        rows.append(["per pair, word F1", scorer,
                     *(f3(r["word_level"]["per_pair_averaged"]["scorers"][scorer]["f1"]) for r in (shuffled, noisy))])
    for scorer in shuffled["phrase_level"]["scorers"]:
        rows.append([f"phrase level, recall / precision ({shuffled['phrase_level']['gold']} / "
                     f"{noisy['phrase_level']['gold']} copied sentences)", scorer,
                     *(f"{f3(r['phrase_level']['scorers'][scorer]['recall'])} / "
                       f"{f3(r['phrase_level']['scorers'][scorer]['precision'])}" for r in (shuffled, noisy))])
    return rows


def run_figures() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", required=True, help="the folder holding corpora/gatsby.txt and corpora/multimwa/")
    parser.add_argument("--work", default="/tmp/mia-alignment-figures")
    args = parser.parse_args()
    corpora, work = Path(args.shared) / "corpora", Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sets = {"gatsby shuffled": work / "gatsby-shuffled.jsonl", "gatsby noisy": work / "gatsby-noisy.jsonl",
            "MTRef dev": work / "mtref-dev.jsonl", "Wiki dev": work / "wiki-dev.jsonl"}
    run(["generate", "--corpus", str(corpora / "gatsby.txt"), "--out", str(sets["gatsby shuffled"])])
    run(["generate", "--corpus", str(corpora / "gatsby.txt"), "--copies", "noisy", "--out", str(sets["gatsby noisy"])])
    for name, stem in (("MTRef dev", "mtref-dev"), ("Wiki dev", "wiki-dev")):
        run(["import-alignments", "--multimwa", str(corpora / "multimwa" / f"{stem}.tsv"), "--out", str(sets[name])])
    runs: dict[tuple[str, str], dict] = {}
    for name in ("gatsby shuffled", "gatsby noisy"):
        slug = name.replace(" ", "-")
        runs[(name, "minilm-reuse")] = evaluate(sets[name], work / f"{slug}-reuse.json")
        runs[(name, "threshold")] = evaluate(sets[name], work / f"{slug}-threshold.json", "--decode", "threshold")
        runs[(name, "minilm-align")] = evaluate(sets[name], work / f"{slug}-align.json", "--detector", "minilm-align")
    for name in ("MTRef dev", "Wiki dev"):
        slug = name.replace(" ", "-").lower()
        for detector in ("minilm-reuse", "minilm-align"):
            runs[(name, detector)] = evaluate(sets[name], work / f"{slug}-{detector}.json", "--detector", detector,
                                              "--words", "whitespace")

    def row(label: str, kind: str, scorer: str) -> list[str]:
        cells = [label]
        for name in ("gatsby shuffled", "gatsby noisy"):
            found = scores(runs[(name, kind)])[scorer]
            cells += [f3(found["precision"]), f3(found["recall"]), f3(found["f1"])]
        return cells

    gatsby = [row("detector (minilm-reuse, mutual-argmax: detect's output)", "minilm-reuse", "detector"),
              row("detector, threshold decoding", "threshold", "detector"),
              *(row(b, "minilm-reuse", b) for b in BASELINES)]
    pairs = {name: runs[(name, "minilm-reuse")]["pairs"] for name in sets}
    align_pairs = {name: runs[(name, "minilm-align")]["pairs"] for name in sets}

    def aligned(label: str, detector: str, scorer: str) -> list[str]:
        mtref = scores(runs[("MTRef dev", detector)])[scorer]
        return [label, f3(mtref["precision"]), f3(mtref["recall"]), f3(mtref["f1"]), f3(mtref.get("aer")),
                f3(scores(runs[("Wiki dev", detector)])[scorer]["f1"]),
                f3(scores(runs[("gatsby shuffled", detector)])[scorer]["f1"]),
                f3(scores(runs[("gatsby noisy", detector)])[scorer]["f1"])]

    rephrasing = [aligned("minilm-align (paraphrase alignments)", "minilm-align", "detector"),
                  aligned("minilm-reuse (generated copies; the default)", "minilm-reuse", "detector"),
                  *(aligned(b, "minilm-align", b) for b in BASELINES)]
    tables = {
        "gatsby": {"columns": ["scorer", "shuffled P", "R", "F1", "noisy P", "R", "F1"], "rows": gatsby,
                   "note": f"Word level (regex words); {pairs['gatsby shuffled']} shuffled and "
                           f"{pairs['gatsby noisy']} noisy pairs."},
        "rephrasing": {"columns": ["scorer", "MTRef dev P", "R", "F1", "AER", "Wiki dev F1", "Gatsby shuffled F1",
                                   "Gatsby noisy F1"], "rows": rephrasing,
                       "note": f"Whitespace words on MTRef dev ({pairs['MTRef dev']} pairs) and Wiki dev "
                               f"({pairs['Wiki dev']}), regex words on Gatsby; the baselines from minilm-align's runs, "
                               "on its pairs (a pair repeating one it was fit on is left out, as evaluate does: "
                               f"{align_pairs['MTRef dev']} MTRef dev pairs there)."},
        "secondary": {"columns": ["measure (minilm-reuse's runs)", "scorer", "shuffled", "noisy"],
                      "rows": secondary(runs),
                      "note": "token level: average precision of each scorer's token-pair scores; per pair: the "
                              "alignment papers' protocol (P and R per pair, averaged); phrase level: "
                              + runs[("gatsby shuffled", "minilm-reuse")]["phrase_level"]["rule"]},
        "runs": {"columns": ["pairs", "detector", "wall seconds"],
                 "rows": [[name, detector, result["wall_seconds"]] for (name, detector), result in runs.items()]},
    }
    path = write("alignment", record("alignment", measures=MEASURES, tables=tables,
                                     data={f"{n} / {d}": r["word_level"] for (n, d), r in runs.items()}
                                     | {f"{n} / {d} / token and phrase level": {"token_level": r["token_level"],
                                                                                "phrase_level": r["phrase_level"]}
                                        for (n, d), r in runs.items() if d == "minilm-reuse"}))
    for name in ("gatsby", "rephrasing"):
        for line in tables[name]["rows"]:
            print(" | ".join(str(c) for c in line))
    print(f"wrote {path}")


if __name__ == "__main__":
    run_figures()
