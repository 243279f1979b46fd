"""Choosing the passage rule for documents on the PAN development pairs' ``choose`` half (never the ``report`` half).

    python benchmarks/pan_choose.py --out benchmarks/results/pan-choose.json

The detector runs once per pair and variant (verbatim, obfuscated, heavy: see ``pan_benchmark.py``) with every
phrase kept; then each passage rule of a grid (gap, the fewest linked words a phrase needs to take part, the fewest
linked words of a passage and of its longest phrase) merges those phrases, and PAN's plagdet is computed per variant.
The rule with the best mean plagdet over verbatim and obfuscated is chosen; rules tied on it are told apart by the
heavy variant's plagdet (heavily revised copies keep few long phrases: a rule that asks more of them than the two
variants need loses them), and rules tied on both by the strictest (the longest phrase, the most words, the shortest
gap). The choice is printed and written; it goes into the detector's record (``documents.passages``) by hand, with
this command beside it. ``--results NAME`` also writes ``docs/results/NAME.json`` (stamped) for the documentation:
the chosen rule beside mia's defaults, the best rule of each longest phrase, and the rule the mean of all three
variants would choose.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pan_benchmark import EDITS, halves, read_dev, variant_pairs  # noqa: E402

from benchmarks.results import record, shipped_detector_files, write  # noqa: E402
from mia.alignment.detection import DetectionError  # noqa: E402
from mia.alignment.passages import PassageRule, merge_passages  # noqa: E402
from mia.detector.detector import Detector  # noqa: E402
from mia.evaluate.pan_measures import pan_scores  # noqa: E402
from mia.text.noise import corpus_vocabulary  # noqa: E402

GRID = {"gap": (100, 200, 300), "min_phrase": (1, 2, 3, 4), "min_words": (8, 14, 20, 30),
        "min_longest": (3, 4, 5, 6, 8, 12, 16, 20, 25)}
CHOOSE_ON = ("verbatim", "obfuscated")  # the mean plagdet chosen on; "heavy" breaks its ties
MEASURES = ["mia/alignment", "mia/detector", "mia/evaluate", "mia/models", "mia/text", "benchmarks/pan_choose.py",
            "benchmarks/pan_benchmark.py"]


def documentation_record(detector: str, pairs: int, rows: list[tuple[str, dict]]) -> dict:
    """The rules table of a page: each row's rule and its plagdet per variant and mean over the two chosen on."""
    def f3(value: float) -> str:
        return f"{value:.3f}"

    return record("pan-choose", measures=MEASURES + shipped_detector_files([detector]), tables={"rules": {
        "columns": ["rule", "phrase words >=", "gap", "passage words >=", "longest phrase >=", "verbatim",
                    "obfuscated", "heavy", "mean (verbatim, obfuscated)"],
        "rows": [[label, *(row["rule"][key] for key in ("min_phrase_words", "gap_chars", "min_words",
                                                        "min_longest_phrase")),
                  *(f3(row[name]["plagdet"]) for name in ("verbatim", "obfuscated", "heavy")),
                  f3(row["mean_plagdet"])] for label, row in rows],
        "note": f"Plagdet of {detector} on the choose half of the PAN 2013 development pairs ({pairs} pairs), "
                "each variant detected once and merged by every rule of the grid "
                + ", ".join(f"{name} {values}" for name, values in GRID.items())}}, data=dict(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs-file", default="../shared/corpora/pan13-none-dev.jsonl.gz")
    parser.add_argument("--detector", default="minilm-reuse")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/pan-choose.json")
    parser.add_argument("--results", metavar="NAME",
                        help="also write docs/results/NAME.json for the documentation (stamped)")
    args = parser.parse_args()
    pairs = halves(read_dev(args.pairs_file))["choose"][: args.limit]
    detector = Detector.load(args.detector)
    model = detector.load_model(device="cpu")
    vocabulary = corpus_vocabulary([p.a for p in pairs])
    variants = {name: variant_pairs(pairs, name, vocabulary, args.seed) for name in ("verbatim", *EDITS)}
    everything = PassageRule(gap=max(GRID["gap"]), min_words=0, min_longest=0)
    phrases: dict[str, list] = {}
    for name, chosen in variants.items():
        phrases[name] = []
        for detection in detector.iter_detect(model, chosen, passages=everything):
            if isinstance(detection, DetectionError):
                continue
            phrases[name].append((detection.pair, [(p.a_start, p.a_end, p.b_start, p.b_end, p.words, p.score)
                                                   for p in detection.phrases]))
        print(f"{name}: {len(phrases[name])} pairs detected", flush=True)
    results = []
    for gap, min_phrase, min_words, min_longest in itertools.product(*GRID.values()):
        rule = PassageRule(gap=gap, min_words=min_words, min_longest=min_longest, min_phrase=min_phrase)
        row = {"rule": rule.to_dict()}
        for name, found in phrases.items():
            cases = [(pair.id, *link) for pair, _ in found for link in pair.links]
            detections = [(pair.id, p.a_start, p.a_end, p.b_start, p.b_end) for pair, spans in found
                          for p in merge_passages(spans, rule)]
            row[name] = pan_scores(cases, detections).to_dict()
        row["mean_plagdet"] = float(np.mean([row[name]["plagdet"] for name in CHOOSE_ON]))
        results.append(row)
    results.sort(key=lambda r: (-r["mean_plagdet"], -r["heavy"]["plagdet"], -r["rule"]["min_longest_phrase"],
                                -r["rule"]["min_words"], r["rule"]["gap_chars"]))
    best = results[0]
    print("best:", json.dumps(best, indent=1))
    default = next(r for r in results if r["rule"] == PassageRule().to_dict())
    print("mia's defaults:", json.dumps(default, indent=1))
    by_all_three = max(results, key=lambda r: (np.mean([r[name]["plagdet"] for name in variants]),
                                               r["rule"]["min_longest_phrase"], r["rule"]["min_words"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "pairs": len(pairs),
                                          "best": best, "defaults": default, "best_by_all_three": by_all_three,
                                          "top": results[:10]}, indent=1) + "\n")
    if args.results:
        rows = [("**chosen**", best), ("mia's defaults", default)]
        for longest in GRID["min_longest"]:  # the best rule that asks for each longest phrase
            found = next(r for r in results if r["rule"]["min_longest_phrase"] == longest)
            if found is not best:
                rows.append((f"the best asking a longest phrase of {longest}", found))
        rows.append(("the best by the mean of all three variants (not chosen)", by_all_three))
        print(f"wrote {write(args.results, documentation_record(args.detector, len(pairs), rows))}")


if __name__ == "__main__":
    main()
