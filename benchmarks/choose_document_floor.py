"""Choosing a detector's argmax floor for documents on its own validation pairs, each put inside two documents.

    python benchmarks/choose_document_floor.py --out benchmarks/results/document-floor.json

The argmax decodings link a word pair only at or above a floor (0.05, chosen on paragraph pairs). Between two
documents most window pairs hold no copy, and each of them still offers its best partners: a floor chosen on
paragraphs lets their weak links through. Here the detector's validation pairs (its threshold was chosen on them;
none is a test pair) are made again from its record and each is planted ``--plantings`` times among about
``--words`` words of unrelated paragraphs of its own corpus on each side (``mia.text.pairs.plant_in_documents``,
as ``train --documents`` makes its documents). The detector scores every token pair of these document pairs once;
then each floor of the grid decodes them and the word-level F1 of its links (regex words, gold: the pairs' links,
as ``evaluate`` counts them) is computed. The best floor (the lowest on a tie) is printed and written; ``--into
FOLDER`` also writes it into that detector folder's record (``documents.argmax_floor``); for a shipped detector it
goes in by hand, with this command beside it. Pairs that fit the model whole keep the default floor. ``--results
NAME`` also writes ``docs/results/NAME.json`` (stamped) for the documentation: every floor's word P/R/F1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia.alignment.decoding import ARGMAX_FLOOR, decode_entries  # noqa: E402
from mia.alignment.detection import word_entries  # noqa: E402
from mia.alignment.windowed import dense_scores, plan_pair  # noqa: E402
from mia.detector.detector import Detector  # noqa: E402
from mia.evaluate.metrics import f1_score  # noqa: E402
from mia.text.corpus import DEFAULT_CORPUS_NAME, read_paragraphs  # noqa: E402
from mia.text.pairs import Pair, generated_paragraph, plant_in_documents, token_labels  # noqa: E402
from mia.text.words import word_spans  # noqa: E402
from mia.training.data import DOCUMENT_WORDS, validation_pairs  # noqa: E402

FLOORS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)


def document_pairs(detector: Detector, plantings: int, words: int, seed: int) -> list[Pair]:
    """The detector's validation pairs, each planted ``plantings`` times into documents of its own corpus."""
    corpus = (detector.metadata.get("data") or {}).get("corpus")
    paragraphs = read_paragraphs(None if corpus in (None, DEFAULT_CORPUS_NAME) else corpus)
    made = []
    for k, pair in enumerate(validation_pairs(detector.metadata)):
        for planting in range(plantings):
            planted = plant_in_documents(pair, paragraphs, generated_paragraph(pair.id),
                                         np.random.default_rng([seed, 21, k, planting]),
                                         words=words)
            made.append(replace(planted, id=f"{pair.id}-{planting}"))
    return made


def document_options(description: str, out: str) -> argparse.ArgumentParser:
    """The options of the scripts that choose a detector's decoding for documents on planted document pairs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--detector", default="minilm-reuse", help="detector folder or shipped name")
    parser.add_argument("--plantings", type=int, default=2, help="documents made per validation pair (default 2)")
    parser.add_argument("--words", type=int, default=DOCUMENT_WORDS,
                        help=f"words of unrelated text around each side's passage (default {DOCUMENT_WORDS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--into", help="also write the choice into this detector folder's detector.json")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / out))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = document_options(__doc__.splitlines()[0], "document-floor.json")
    parser.add_argument("--results", metavar="NAME",
                        help="also write docs/results/NAME.json for the documentation (stamped)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    detector = Detector.load(args.detector)
    model = detector.load_model(device="cpu")
    pairs = document_pairs(detector, args.plantings, args.words, args.seed)
    scorer = detector.window_scorer(model)
    counts = {floor: [0, 0, 0] for floor in FLOORS}  # hits, predicted, gold
    windowed = 0
    for number, pair in enumerate(pairs, 1):
        planned = plan_pair(model, pair)
        windowed += planned.whole is None
        probabilities = dense_scores(planned, model, scorer)
        spans = (word_spans(pair.a, "regex"), word_spans(pair.b, "regex"))
        gold = token_labels(pair, *spans)
        entries = word_entries(probabilities, (planned.a_spans, planned.b_spans), spans, min(FLOORS))
        for floor, count in counts.items():
            usable = entries.values >= floor
            rows, cols = entries.rows[usable], entries.cols[usable]
            chosen = decode_entries((rows, cols, entries.values[usable]), detector.decode, detector.threshold,
                                    floor=floor)
            count[0] += int(gold[rows[chosen], cols[chosen]].sum())
            count[1] += int(chosen.sum())
            count[2] += int(gold.sum())
        if number % 10 == 0:
            print(f"{number}/{len(pairs)} document pairs ({time.perf_counter() - started:.0f} s)", flush=True)
    rows_out = {}
    for floor, (hits, predicted, gold_links) in counts.items():
        precision, recall = hits / max(predicted, 1), hits / max(gold_links, 1)
        rows_out[str(floor)] = {"precision": round(precision, 4), "recall": round(recall, 4),
                                "f1": round(f1_score(precision, recall), 4)}
    best = max(FLOORS, key=lambda floor: (rows_out[str(floor)]["f1"], -floor))
    result = {
        "command": " ".join(["python", *sys.argv]) if argv is None else "main(" + repr(argv) + ")",
        "detector": args.detector, "decode": detector.decode,
        "pairs": f"{len(pairs)} document pairs ({windowed} run as window pairs): the detector's validation pairs, "
                 f"each planted {args.plantings} times among about {args.words} words of its corpus per side",
        "argmax_floor": best, "default_floor": ARGMAX_FLOOR, "word_level": rows_out,
        "seconds": round(time.perf_counter() - started, 1),
    }
    for floor, row in rows_out.items():
        print(f"floor {floor:>5}: P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}")
    print(f"chosen floor {best} (default {ARGMAX_FLOOR}); {result['pairs']}; {result['seconds']} s")
    write_choice(args, result, "argmax_floor", best, "by the best word F1 of its decoded links")
    if args.results:
        from benchmarks.results import record, shipped_detector_files, write

        rows = [[f"**{floor}** (best)" if floor == str(best) else
                 f"{floor} (mia's default)" if float(floor) == ARGMAX_FLOOR else floor,
                 f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}"]
                for floor, row in rows_out.items()]
        measures = ["mia/alignment", "mia/detector", "mia/models", "mia/text", "mia/training",
                    "benchmarks/choose_document_floor.py", *shipped_detector_files([args.detector])]
        table = {"columns": ["argmax floor", "word P", "R", "F1"], "rows": rows,
                 "note": f"{args.detector}, every link printed; {result['pairs']}; {result['seconds']} s"}
        path = write(args.results, record("document-floor", measures=measures, tables={"floors": table}, data=result))
        print(f"wrote {path}")
    return 0


def write_choice(args: argparse.Namespace, result: dict, key: str, value: float, how: str,
                 section: tuple[str, ...] = ()) -> None:
    """The result to ``--out``; with ``--into`` the choice into that detector's record, under ``documents`` (and
    ``section`` below it), with what it was chosen on and the command."""
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if args.into:
        record_path = Path(args.into) / "detector.json"
        record = json.loads(record_path.read_text())
        documents = record.setdefault("documents", {})
        place = documents
        for name in section:
            place = place.setdefault(name, {})
        place[key] = value
        documents[f"{key}_chosen_on"] = f"{result['pairs']}; {how}"
        documents[f"{key}_command"] = result["command"]
        record_path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"written into {record_path}")


if __name__ == "__main__":
    raise SystemExit(main())
