"""Choosing which links of a document pair a detector prints outside its passages, on documents of its own corpus.

    python benchmarks/choose_document_links.py --out benchmarks/results/document-links.json

A pair longer than the model runs as window pairs; most of them hold no copy, and each still offers its best
partners: one- and two-word links between unrelated text. Its passages (the detector's passage rule) already
leave those out; this chooses which links outside every passage are printed as well: those in phrases of at least
``min_outside`` linked words (1: every link). Two shapes of document pairs are made from the detector's own corpus
(none is a test pair):

* **planted**: the detector's validation pairs (its threshold was chosen on them), each planted ``--plantings``
  times among about ``--words`` words of unrelated paragraphs on each side (as ``choose_document_floor.py``);
* **shuffled**: ``--long`` pairs as ``long_documents.py`` makes them, B about ``--long-words`` consecutive words,
  A its sentences shuffled with one unrelated sentence in five (every copied sentence its own short passage).

Each pair is detected once as ``detect`` runs it (sentence candidates, every link kept), then decoded again with
each ``min_outside`` of the grid, and once with passages only (no link outside them, measured beside the grid and
never chosen); word-level F1 of the printed links against the gold links (regex words). The
choice is the best mean F1 of the two shapes (the smallest on a tie); ``--into FOLDER`` writes it into that
detector folder's record (``documents.passages.min_outside_phrase_words``). The passages themselves do not change.
``--results NAME`` also writes ``docs/results/NAME.json`` (stamped; the Documents page renders its table).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from choose_document_floor import document_options, document_pairs, write_choice  # noqa: E402
from long_documents import gold_word_pairs, make_documents  # noqa: E402

from benchmarks.results import record, shipped_detector_files, write  # noqa: E402
from mia.alignment.detection import Detection, DetectionError, decoded  # noqa: E402
from mia.detector.detector import Detector  # noqa: E402
from mia.evaluate.metrics import f1_score  # noqa: E402
from mia.text.corpus import DEFAULT_CORPUS_NAME  # noqa: E402
from mia.text.pairs import Pair, token_labels  # noqa: E402

GRID = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16)
PASSAGES_ONLY = 10**9  # no phrase is that long: only the links inside passages; measured beside the grid, never chosen


def printed_links(detection: Detection, min_outside: int) -> set[tuple[int, int]]:
    """The word pairs ``detect`` would print for this windowed pair with ``min_outside``."""
    again = decoded(detection.pair, detection.probabilities, detection.token_spans, threshold=detection.threshold,
                    decode=detection.decode, words=detection.words, passages=detection.passage_rule,
                    floor=detection.floor, min_outside=min_outside)
    return again.word_pairs()


def main(argv: list[str] | None = None) -> int:
    parser = document_options(__doc__.splitlines()[0], "document-links.json")
    parser.add_argument("--long", type=int, default=2, help="shuffled-sentence document pairs (default 2)")
    parser.add_argument("--long-words", type=int, default=5000, help="words of B in each (default 5000)")
    parser.add_argument("--results", metavar="NAME",
                        help="also write docs/results/NAME.json for the documentation (stamped)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    detector = Detector.load(args.detector)
    model = detector.load_model(device="cpu")
    corpus = (detector.metadata.get("data") or {}).get("corpus")
    corpus = None if corpus in (None, DEFAULT_CORPUS_NAME) else corpus
    shapes: dict[str, list[tuple[Pair, set[tuple[int, int]] | None]]] = {
        "planted": [(pair, None) for pair in document_pairs(detector, args.plantings, args.words, args.seed)],
        "shuffled": [],
    }
    for k in range(args.long):
        doc = make_documents(corpus, args.long_words, mix=5, seed=args.seed + k, skip=k * 3000)
        shapes["shuffled"].append((Pair(f"long-{k}", doc["a"], doc["b"]), gold_word_pairs(doc)))
    every = detector.passages(min_outside=1)
    counts = {shape: {m: [0, 0, 0] for m in (*GRID, PASSAGES_ONLY)} for shape in shapes}  # hits, printed, gold
    used = {shape: 0 for shape in shapes}
    for shape, items in shapes.items():
        for number, (pair, gold) in enumerate(items, 1):
            detection = next(detector.iter_detect(model, [pair], passages=every))
            if isinstance(detection, DetectionError) or detection.windows is None or detection.windows["whole"]:
                continue  # a pair that fits the model prints every link
            used[shape] += 1
            if gold is None:
                gold = set(zip(*(index.tolist() for index in np.nonzero(token_labels(pair, *detection.word_spans)))))
            for m, count in counts[shape].items():
                printed = printed_links(detection, m)
                count[0] += len(printed & gold)
                count[1] += len(printed)
                count[2] += len(gold)
            if number % 10 == 0 or number == len(items):
                print(f"{shape}: {number}/{len(items)} pairs ({time.perf_counter() - started:.0f} s)", flush=True)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for shape, by_m in counts.items():
        for m, (hits, printed, gold_links) in by_m.items():
            precision, recall = hits / max(printed, 1), hits / max(gold_links, 1)
            table.setdefault(str(m), {})[shape] = {"precision": round(precision, 4), "recall": round(recall, 4),
                                                   "f1": round(f1_score(precision, recall), 4)}
    for row in table.values():
        row["mean_f1"] = {"f1": round(float(np.mean([row[shape]["f1"] for shape in shapes])), 4)}
    best = max(GRID, key=lambda m: (table[str(m)]["mean_f1"]["f1"], -m))
    described = (f"{used['planted']} planted document pairs (the detector's validation pairs, each planted "
                 f"{args.plantings} times among about {args.words} words of its corpus per side) and "
                 f"{used['shuffled']} shuffled-sentence document pairs of about {args.long_words} words of its corpus")
    result = {
        "command": " ".join(["python", *sys.argv]) if argv is None else "main(" + repr(argv) + ")",
        "detector": args.detector, "passage_rule": every.to_dict(), "pairs": described,
        "min_outside_phrase_words": best, "word_level": table, "seconds": round(time.perf_counter() - started, 1),
    }
    for m, row in table.items():
        print(f"min_outside {m:>2}: " + "  ".join(
            f"{shape} P {row[shape]['precision']:.3f} R {row[shape]['recall']:.3f} F1 {row[shape]['f1']:.3f}"
            for shape in shapes) + f"  mean F1 {row['mean_f1']['f1']:.3f}")
    print(f"chosen min_outside_phrase_words {best}; {described}; {result['seconds']} s")
    write_choice(args, result, "min_outside_phrase_words", best, "by the best mean word F1 of the printed links",
                 section=("passages",))
    if args.results:  # after --into: the stamp's hash covers the record as this run left it
        print(f"wrote {write(args.results, documentation_record(result, args.detector))}")
    return 0


def documentation_record(result: dict, detector: str) -> dict:
    """The Documents page's table: every ``min_outside`` of the grid, both shapes' word F1 (P / R) and their mean."""
    def cell(scores: dict) -> str:
        return f"{scores['f1']:.3f} ({scores['precision']:.3f} / {scores['recall']:.3f})"

    rows = []
    for m, row in result["word_level"].items():
        label = {"1": "1 (every link)", str(PASSAGES_ONLY): "passages only (no link outside; not a choice)"}.get(m, m)
        if int(m) == result["min_outside_phrase_words"]:
            label = f"**{m}** (chosen)"
        rows.append([label, cell(row["planted"]), cell(row["shuffled"]), f"{row['mean_f1']['f1']:.4f}"])
    return record("document-links", measures=MEASURES + shipped_detector_files([detector]), data=result, tables={
        "links": {
        "columns": ["links outside passages printed in phrases of >=", "planted F1 (P / R)",
                    "shuffled F1 (P / R)", "mean F1"],
        "rows": rows,
        "note": f"{detector}; {result['pairs']}; passage rule {result['passage_rule']}; {result['seconds']} s"}})


MEASURES = ["mia/alignment", "mia/detector", "mia/models", "mia/text", "mia/training",
            "benchmarks/choose_document_links.py", "benchmarks/choose_document_floor.py",
            "benchmarks/long_documents.py"]


if __name__ == "__main__":
    raise SystemExit(main())
