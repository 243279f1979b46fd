"""Long documents: wall time, window pairs, peak memory and word-level F1 of `mia detect --a-file --b-file`.

Two documents are generated from a corpus: B is consecutive sentences (about ``--words`` words), A is the same
sentences shuffled with unrelated sentences of the corpus mixed in (one for every ``--mix`` copied ones). Each
run is a child ``python -m mia detect`` process (its wall time and peak RSS are measured from outside). Word-level
F1: two words are linked when any of their token pairs is; gold follows the pair-file rule (each word of a
copied sentence to its copy).

    python benchmarks/long_documents.py --corpus ../shared/corpora/gatsby.txt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia.text.corpus import read_paragraphs, split_sentences  # noqa: E402
from mia.text.words import word_spans  # noqa: E402


def make_documents(corpus: str | None, words: int, *, mix: int, seed: int, skip: int = 0) -> dict[str, Any]:
    """B: consecutive sentences (~``words`` words); A: B's sentences shuffled with unrelated ones mixed in."""
    paragraphs = read_paragraphs(corpus)
    sentences = [p[s:e] for p in paragraphs for s, e in split_sentences(p)]
    rng = np.random.default_rng(seed)
    b_sentences, count, index = [], 0, skip
    while count < words:
        b_sentences.append(sentences[index % len(sentences)])
        count += len(b_sentences[-1].split())
        index += 1
    others = [s for k, s in enumerate(sentences) if not skip <= k < index]
    extra = [others[k] for k in rng.choice(len(others), size=len(b_sentences) // mix, replace=False)]
    a_items = [("copy", k) for k in range(len(b_sentences))] + [("extra", k) for k in range(len(extra))]
    a_items = [a_items[k] for k in rng.permutation(len(a_items))]
    b = " ".join(b_sentences)
    b_starts = np.cumsum([0] + [len(s) + 1 for s in b_sentences])
    a_parts, links, cursor = [], [], 0
    for kind, k in a_items:
        text = b_sentences[k] if kind == "copy" else extra[k]
        if kind == "copy":
            links.append((cursor, cursor + len(text), int(b_starts[k]), int(b_starts[k]) + len(text)))
        a_parts.append(text)
        cursor += len(text) + 1
    return {"a": " ".join(a_parts), "b": b, "links": links, "copied": len(b_sentences), "extra": len(extra)}


def gold_word_pairs(doc: dict[str, Any]) -> set[tuple[int, int]]:
    """Word pairs linked by the verbatim rule: each word inside a copied sentence and its copy (sparse)."""
    a_words, b_words = word_spans(doc["a"], "regex"), word_spans(doc["b"], "regex")
    gold = set()
    for la, ra, lb, _ in doc["links"]:
        inside = np.flatnonzero((a_words[:, 0] >= la) & (a_words[:, 1] <= ra))
        copies = np.searchsorted(b_words[:, 0], a_words[inside, 0] + (lb - la))
        gold.update(zip(inside.tolist(), copies.tolist()))
    return gold


def predicted_word_pairs(doc: dict[str, Any], links: list[list[float]]) -> set[tuple[int, int]]:
    a_words, b_words = word_spans(doc["a"], "regex"), word_spans(doc["b"], "regex")
    pairs = set()
    for a0, a1, b0, b1, _ in links:
        wa = np.flatnonzero((a_words[:, 0] < a1) & (a_words[:, 1] > a0))
        wb = np.flatnonzero((b_words[:, 0] < b1) & (b_words[:, 1] > b0))
        pairs.update((int(i), int(j)) for i in wa for j in wb)
    return pairs


def run_detect(doc: dict[str, Any], folder: Path, detector: str, candidates: str) -> dict[str, Any]:
    """One child `mia detect` run: wall seconds, peak RSS, the detection JSON."""
    (folder / "a.txt").write_text(doc["a"])
    (folder / "b.txt").write_text(doc["b"])
    out = folder / "out.json"
    argv = [sys.executable, "-c",
            "import resource, sys, json; from mia.cli import main; code = main(sys.argv[1:]); "
            "print(json.dumps({'rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), file=sys.stderr); "
            "sys.exit(code)",
            "detect", "--detector", detector, "--a-file", str(folder / "a.txt"), "--b-file", str(folder / "b.txt"),
            "--format", "json", "--out", str(out)]
    argv += ["--candidates", candidates]
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"detect failed: {result.stderr[-2000:]}")
    rss_kb = json.loads(result.stderr.strip().splitlines()[-1])["rss_kb"]
    return {"seconds": seconds, "peak_rss_mb": round(rss_kb / 1024, 1), "detection": json.loads(out.read_text())}


def measure(doc: dict[str, Any], detector: str, candidates: str, *, with_f1: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        run = run_detect(doc, Path(folder), detector, candidates)
    detection, windows = run["detection"], run["detection"]["windows"]
    row: dict[str, Any] = {
        "detector": detector, "candidates": candidates, "a_words": len(doc["a"].split()),
        "b_words": len(doc["b"].split()), "windows": [windows["a_windows"], windows["b_windows"]],
        "window_pairs_run": windows["window_pairs_run"], "window_pairs_all": windows["window_pairs_all"],
        "passages": len(detection["passages"]), "seconds": round(run["seconds"], 1),
        "window_pairs_per_second": round(windows["window_pairs_run"] / run["seconds"], 2),
        "peak_rss_mb": run["peak_rss_mb"], "phrases": len(detection["phrases"]),
    }
    if with_f1:
        gold, predicted = gold_word_pairs(doc), predicted_word_pairs(doc, detection["links"])
        hit = len(gold & predicted)
        precision, recall = hit / max(len(predicted), 1), hit / max(len(gold), 1)
        row.update(word_precision=round(precision, 3), word_recall=round(recall, 3),
                   word_f1=round(2 * precision * recall / max(precision + recall, 1e-9), 3))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="corpus (default: the packaged Python reference prose)")
    parser.add_argument("--words", type=int, default=5000, help="words of B in the timed pair (default 5000)")
    parser.add_argument("--memory-words", type=int, default=20000, help="words of B in the memory run (default 20000)")
    parser.add_argument("--mix", type=int, default=5, help="one unrelated sentence in A per MIX copied (default 5)")
    parser.add_argument("--detectors", default="minilm-reuse,minilm-verbatim-context")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "long_documents.json"))
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Performance page)")
    args = parser.parse_args(argv)

    doc = make_documents(args.corpus, args.words, mix=args.mix, seed=0)
    rows = []
    for detector in args.detectors.split(","):
        for candidates in ("all", "sentences"):
            rows.append(measure(doc, detector, candidates))
            print(json.dumps(rows[-1]), flush=True)
    big = make_documents(args.corpus, args.memory_words, mix=args.mix, seed=1)
    memory = measure(big, args.detectors.split(",")[0], "sentences", with_f1=False)
    print(json.dumps(memory), flush=True)
    result = {"pair": {k: doc[k] for k in ("copied", "extra")}, "runs": rows, "memory_run": memory,
              "corpus": args.corpus or "python-reference (packaged)",
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    if args.results:
        from benchmarks.results import record, write

        made = record("long-documents", measures=measures(args.detectors), data=result, tables=table(result))
        print(f"wrote {write(args.results, made)}")
    return 0


def measures(detectors: str) -> list[str]:
    """The code a run measures: detection and the shipped detectors it ran (a detector folder outside the
    repository is named in the command, not hashed)."""
    from benchmarks.results import shipped_detector_files

    return ["mia/alignment", "mia/detector", "mia/models", "mia/text", "benchmarks/long_documents.py",
            *shipped_detector_files(detectors.split(","))]


def table(result: dict[str, Any]) -> dict[str, Any]:
    """The Performance page's long-document table: one row per detector and candidate rule, then the memory run."""
    def cells(row: dict[str, Any]) -> list[Any]:
        rule = "sentence candidates" if row["candidates"] == "sentences" else "every window pair"
        return [f"`{row['detector']}`, {rule} ({row['a_words']:,} / {row['b_words']:,} words)",
                f"{row['window_pairs_run']:,} of {row['window_pairs_all']:,}", row["seconds"],
                row["window_pairs_per_second"], row["peak_rss_mb"], row.get("word_precision", ""),
                row.get("word_recall", ""), row.get("word_f1", "")]

    return {"long_documents": {
        "columns": ["detector, window pairs (words of A / B)", "window pairs run", "wall s", "window pairs/s",
                    "peak RSS MB", "word P", "word R", "word F1"],
        "rows": [cells(row) for row in [*result["runs"], result["memory_run"]]],
        "note": f"B: consecutive sentences of {result['corpus']}; A: them shuffled with one unrelated sentence for "
                f"every five ({result['pair']['copied']} copied, {result['pair']['extra']} mixed in); the last row "
                "is the memory run (no gold scored); each run a child `mia detect --a-file --b-file` process, the "
                "model load included"}}


if __name__ == "__main__":
    raise SystemExit(main())
