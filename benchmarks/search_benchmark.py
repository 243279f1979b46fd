"""Planted-reuse benchmark for ``mia search``: candidate recall, passage recall and precision, time, throughput.

    python benchmarks/search_benchmark.py --corpus ../shared/corpora/gatsby.txt --documents 1000 --passages 200

Documents of ``--words`` words are cut from the corpus and ``--passages`` passages planted (2-4 sentences of one
document copied, shuffled, into another; ``--noisy-share`` of them with a third of the words changed): see
:mod:`mia_testkit`. Scored by :mod:`mia_testkit` (a gold passage is found when an output passage covers
at least half of it on both sides).

A corpus too short for ``--documents`` x ``--words`` (Gatsby holds about 160 documents of 300 words) is extended
with **relabelled copies** of itself: in copy k every word is replaced by another word of about the same frequency
(a fixed random permutation per copy, within bins of 20 words ranked by frequency; capitals kept) and every digit
by another digit. The copies keep the corpus's punctuation and sentence lengths but share no run of words, so they
add documents without adding reuse; copy 0 is the corpus itself. Paragraphs without a letter (Gatsby's chapter
separators) are left out of every copy: repeated in many documents they would be real, unplanted reuse. (A first
version kept digits: the copies then shared Gatsby's schedule "6:15-6:30 ... 7:15-8:15", and the search found it.)

The search merges phrases by the detector's own passage rule (its gap and its shortest phrase, as ``mia search``
does) but keeps every passage; the rule's filter (linked words, longest phrase) is applied afterwards, the
detector's own and the settings of ``FILTERS`` side by side (the filter acts on each passage alone, so this equals
searching with each setting).

Throughput (``--throughput N``): the first N candidate window pairs scored again by 1 worker with 1 torch thread,
2 workers with 1 thread each, and 1 worker with 2 threads; window pairs per second after the workers have loaded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mia.detector.detector import Detector  # noqa: E402
from mia.detector.folder import resolve_detector  # noqa: E402
from mia.search.engine import WorkerSpec, start_engine  # noqa: E402
from mia.search.index import index_options  # noqa: E402
from mia.search.results_file import write_results  # noqa: E402
from mia.search.search import (  # noqa: E402
    SearchOptions,
    as_documents,
    build_index,
    candidate_window_pairs,
    open_engine,
    search,
)
from mia.text.corpus import read_paragraphs  # noqa: E402
from mia_testkit import (
    plant_reuse,  # noqa: E402
    score_search,  # noqa: E402
)

WORD = re.compile(r"[A-Za-z]+")
FILTERS = ((15, 8), (12, 8), (8, 6), (12, 10))  # (linked words, longest phrase), beside the detector's own


def relabelled_paragraphs(paragraphs: list[str], copies: int, seed: int, *, keep: int = 0,
                          bin_size: int = 20) -> list[str]:
    """The paragraphs followed by ``copies - 1`` relabelled copies (module docstring)."""
    paragraphs = [p for p in paragraphs if WORD.search(p)]
    counts = Counter(w.lower() for p in paragraphs for w in WORD.findall(p))
    ranked = [w for w, _ in counts.most_common()]
    out = list(paragraphs)
    rng = np.random.default_rng([seed, 23])
    for _ in range(1, copies):
        digits = dict(zip("0123456789", (str(d) for d in rng.permutation(10))))
        mapping = {w: w for w in ranked[:keep]}
        for first in range(keep, len(ranked), bin_size):
            words = ranked[first : first + bin_size]
            mapping.update(zip(words, (words[i] for i in rng.permutation(len(words)))))

        def swap(match: re.Match[str]) -> str:
            word = match.group(0)
            new = mapping[word.lower()]
            return new.upper() if word.isupper() and len(word) > 1 else new.capitalize() if word[0].isupper() else new

        out.extend(re.sub(r"[0-9]", lambda m: digits[m.group(0)], WORD.sub(swap, p)) for p in paragraphs)
    return out


def throughput(detector: str, jobs: list, workers: int, threads: int, batch_size: int) -> float:
    """Window pairs per second, workers warmed up first (their model loading is not counted)."""
    engine = start_engine(WorkerSpec(detector, threads=threads), workers=workers)
    try:
        list(engine.score([jobs[:1]] * (2 * workers)))  # warm-up: every worker has loaded and scored once
        batches = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
        started = time.perf_counter()
        done = sum(len(results) for results in engine.score(batches))
        return done / (time.perf_counter() - started)
    finally:
        engine.close()


def brief(scores: dict) -> dict:
    """Passage recall and precision on verbatim plants, and on all."""
    recall, precision = scores["passage_recall"], scores["passage_precision"]
    return {"recall_verbatim": recall["verbatim"]["recall"], "precision_verbatim": precision["verbatim_precision"],
            "recall_all": recall["all"]["recall"], "precision_all": precision["precision"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="../shared/corpora/gatsby.txt")
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--noisy-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detector", default="minilm-reuse")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--throughput", type=int, default=0, help="window pairs for the throughput runs (0: skip)")
    parser.add_argument("--out", default="benchmarks/results/search.json")
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Performance page)")
    args = parser.parse_args(argv)

    paragraphs = read_paragraphs(args.corpus)
    words = sum(len(p.split()) for p in paragraphs)
    copies = max(1, int(np.ceil(args.documents * args.words * 1.3 / words)))
    corpus = relabelled_paragraphs(paragraphs, copies, args.seed) if copies > 1 else paragraphs
    documents, gold = plant_reuse(corpus, documents=args.documents, passages=args.passages, words=args.words,
                                  noisy_share=args.noisy_share, seed=args.seed)
    print(f"{len(documents)} documents ({copies} relabelled copies of {args.corpus}), {len(gold)} planted passages "
          f"({sum(g.noisy for g in gold)} noisy)", flush=True)
    started = time.perf_counter()
    rule = Detector.load(resolve_detector(args.detector)).passage_rule  # what `mia search` uses
    filters = ((rule.min_words, rule.min_longest), *[f for f in FILTERS if f != (rule.min_words, rule.min_longest)])
    options = SearchOptions(rule=replace(rule, min_words=1, min_longest=1))  # every passage kept, filtered below
    with open_engine(WorkerSpec(args.detector), workers=args.workers) as (engine, model):  # search_documents, opened up
        index, _ = build_index(as_documents([(d["id"], d["text"]) for d in documents]), engine, model,
                               options=options.candidates)
        indexed = time.perf_counter() - started
        result = search(index, engine, options=options)
        result.summary["seconds"]["index"] = round(indexed, 2)
    wall = time.perf_counter() - started
    # the window pairs that reached the detector (the search's own candidates, found again: no time counted)
    keys = sorted(candidate_window_pairs(index, None, index_options(index, options.candidates))[0])
    window_pairs = [(index.window_span(a), index.window_span(b)) for a, b in keys]

    def scored(words: int, longest: int) -> dict:
        kept = [p for p in result.passages if p.words >= words and p.longest >= longest]
        return score_search(gold, kept, window_pairs)

    record = {"command": " ".join(["python", *sys.argv]), "documents": len(documents), "relabelled_copies": copies,
              "planted": len(gold), "wall_seconds": round(wall, 1), "scores": scored(*filters[0]),
              "passage_rule": rule.to_dict(links=False),
              "filters": {f"{t} words, longest {lo}": brief(scored(t, lo)) for t, lo in filters},
              "summary": result.summary}
    if args.throughput:
        jobs = [(n, index.window(a), index.window(b)) for n, (a, b) in enumerate(keys[: args.throughput])]
        record["throughput"] = {
            f"{w} worker(s) x {t} thread(s)": round(throughput(args.detector, jobs, w, t, 8), 3)
            for w, t in ((1, 1), (2, 1), (1, 2))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    kept = [p for p in result.passages if p.words >= filters[0][0] and p.longest >= filters[0][1]]
    write_results(kept, Path(args.out).with_suffix(".passages.jsonl"), result.summary)  # to look at what was found
    print(json.dumps({k: v for k, v in record.items() if k != "summary"}, indent=1))
    print("window pairs scored:", result.summary["window_pairs_scored"], "of",
          result.summary["candidates"]["window_pairs_without_candidates"], "seconds:", result.summary["seconds"])
    if args.results:
        from benchmarks.results import record as stamped
        from benchmarks.results import write

        made = stamped("search", measures=MEASURES, data=record, tables=tables(record, args.workers))
        print(f"wrote {write(args.results, made)}")
    return 0


MEASURES = ["mia/search", "mia/alignment", "mia/detector", "mia/models", "mia/text", "mia_testkit.py",
            "benchmarks/search_benchmark.py", "mia/data/detectors/minilm-reuse/detector.json",
            "mia/data/detectors/minilm-reuse/weights.npz"]


def tables(record: dict, workers: int) -> dict:
    """The Performance page's search tables: the measures beside their targets, and the other passage filters."""
    scores, summary = record["scores"], record["summary"]
    candidates, found, precision = scores["candidate_recall"], scores["passage_recall"], scores["passage_precision"]

    def share(entry: dict) -> str:
        return "–" if entry["recall"] is None else f"{entry['recall']:.3f} ({entry['found']}/{entry['gold']})"

    def verdict(value: float | None, limit: float) -> str:
        return "" if value is None or value >= limit else ": missed"

    seconds = summary["seconds"]
    searched = seconds["index"] + seconds["candidates"] + seconds["scoring"]
    rows = [
        ["candidate recall, verbatim plants", ">= 0.99",
         share(candidates["verbatim"]) + verdict(candidates["verbatim"]["recall"], 0.99)],
        ["candidate recall, noisy plants", ">= 0.9",
         share(candidates["noisy"]) + verdict(candidates["noisy"]["recall"], 0.9)],
        ["passage recall, verbatim plants", ">= 0.95",
         share(found["verbatim"]) + verdict(found["verbatim"]["recall"], 0.95)],
        ["passage precision, verbatim plants", ">= 0.9",
         f"{precision['verbatim_precision']:.3f} ({precision['verbatim_correct']}/{precision['verbatim_passages']})"
         + verdict(precision["verbatim_precision"], 0.9)],
        ["passage recall / precision, all plants", "",
         f"{found['all']['recall']:.3f} / {precision['precision']:.3f} ({precision['correct']} of "
         f"{precision['passages']} passages correct)"],
        ["not-correct passages sharing a run of >= 5 equal words", "",
         f"{precision['not_correct_sharing_a_run_of_5_words']} of {precision['passages'] - precision['correct']}"],
        ["wall time of the search (index, candidates, scoring)", "<= 900 s",
         f"{searched:.0f} s ({seconds['index']:.0f}, {seconds['candidates']:.0f}, {seconds['scoring']:.0f})"
         + verdict(-searched, -900)],
        ["window pairs scored / without candidates", "",
         f"{summary['window_pairs_scored']:,} / {summary['candidates']['window_pairs_without_candidates']:,}"],
    ]
    rates = record.get("throughput", {})
    one = rates.get("1 worker(s) x 1 thread(s)")
    for name, rate in rates.items():
        ratio = f" = {rate / one:.2f} x" if one and name != "1 worker(s) x 1 thread(s)" else ""
        target = ">= 1.6 x" if name == "2 worker(s) x 1 thread(s)" else ""
        rows.append([f"throughput, window pairs/s: {name}", target, f"{rate}{ratio}"])
    per_document = summary["window_pairs_scored"] / record["documents"]
    cost = [["window pairs scored per document", f"{per_document:.1f}"],
            ["indexing seconds per 1,000 documents (2 workers)", f"{seconds['index'] / record['documents'] * 1e3:.0f}"],
            ["candidate seconds per 1,000 documents (the driver)",
             f"{seconds['candidates'] / record['documents'] * 1e3:.0f}"]]
    for name, rate in rates.items():
        cost.append([f"scoring 10^5 such documents, {name}: hours", f"{per_document * 1e5 / rate / 3600:.1f}"])
    filters = [[name, f"{v['recall_verbatim']:.3f}", f"{v['precision_verbatim']:.3f}", f"{v['recall_all']:.3f}",
                f"{v['precision_all']:.3f}"] for name, v in record["filters"].items()]
    return {
        "search": {"columns": ["measure", "target", "this run"], "rows": rows,
                   "note": f"{record['documents']} documents ({record['relabelled_copies']} relabelled copies of the "
                           f"corpus), {record['planted']} planted passages, {workers} local workers"},
        "cost": {"columns": ["cost model", "from this run"], "rows": cost,
                 "note": "scoring time = window pairs x seconds per window pair / workers; candidates grow with the "
                         "sentences, not with the document pairs; a corpus with more reuse or near-duplicate "
                         "sentences makes more"},
        "filters": {"columns": ["passage filter (linked words, longest phrase)", "verbatim recall",
                                "verbatim precision", "all recall", "all precision"], "rows": filters,
                    "note": "the first row is the detector's own rule (what mia search prints); the others filter the "
                            "same passages"},
    }


if __name__ == "__main__":
    raise SystemExit(main())
