"""Each text tokenised once: proof that the model inputs are the same as before, and what it saves.

Before, a long pair was tokenised whole (to learn it did not fit), then each text again, then every window pair
again (each A window once per B window), and a search tokenised each sentence to embed it and each window pair again
in its worker. Now each text is tokenised once and every model input is assembled from its token ids. This script
checks, for every window pair of some long documents and of a planted-reuse search collection, that the assembled
input equals the tokenizer's own encoding of the two window texts (ids, token types, attention mask, the positions
and character spans of A's and B's tokens), and for every indexed sentence that its tokens equal the tokenizer's
encoding of its text; and it times both ways of making the inputs.

    python benchmarks/tokenize_once.py --corpus ../shared/corpora/gatsby.txt --out benchmarks/results/tokenize.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from long_documents import make_documents  # noqa: E402

from mia.alignment.sentence_candidates import CandidateOptions  # noqa: E402
from mia.alignment.windowed import plan_pair  # noqa: E402
from mia.models.attention import load_model  # noqa: E402
from mia.models.encoding import strip_spans  # noqa: E402
from mia.search.collection import Document  # noqa: E402
from mia.search.index import SearchIndex, add_documents, index_settings  # noqa: E402
from mia.text.corpus import read_paragraphs  # noqa: E402
from mia.text.pairs import Pair  # noqa: E402
from mia_testkit import plant_reuse  # noqa: E402


def tokenizer_encoding(model, a_text: str, b_text: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """The window pair as the tokenizer encodes the two texts itself (what mia did for every window pair before)."""
    enc = model.tokenizer(a_text, b_text, return_offsets_mapping=True, truncation=False, verbose=False,
                          split_special_tokens=True)
    sequence = enc.sequence_ids(0)
    offsets = enc["offset_mapping"]
    a_spans = strip_spans(a_text, [offsets[i] for i, s in enumerate(sequence) if s == 0])
    b_spans = strip_spans(b_text, [offsets[i] for i, s in enumerate(sequence) if s == 1])
    return {k: list(v) for k, v in enc.items() if k != "offset_mapping"}, a_spans, b_spans


def same(item, reference) -> bool:
    inputs, a_spans, b_spans = reference
    return (item.inputs == inputs and np.array_equal(item.a_spans, a_spans) and np.array_equal(item.b_spans, b_spans))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/corpora/gatsby.txt")
    parser.add_argument("--documents", type=int, default=120)
    parser.add_argument("--out", default="benchmarks/results/tokenize.json")
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Performance page)")
    args = parser.parse_args()
    model = load_model("minilm", device="cpu")
    record: dict = {"model": model.name}

    docs = [make_documents(args.corpus, words, mix=5, seed=seed) for seed, words in ((0, 1100), (1, 1100), (2, 5000))]
    window_pairs = differ = 0
    new_seconds = old_seconds = 0.0
    for n, doc in enumerate(docs):
        pair = Pair(f"long{n}", doc["a"], doc["b"])
        started = time.perf_counter()
        planned = plan_pair(model, pair, candidates="all")  # every window pair; no candidate embedding timed
        items = [(i, j, model.assemble(planned.sub_pair(i, j), *planned.window_tokens(i, j)))
                 for i, j in planned.window_pairs]
        new_seconds += time.perf_counter() - started
        started = time.perf_counter()
        references = [tokenizer_encoding(model, item.pair.a, item.pair.b) for _, _, item in items]
        old_seconds += time.perf_counter() - started
        window_pairs += len(items)
        differ += sum(not same(item, reference) for (_, _, item), reference in zip(items, references))
    record["long documents"] = {
        "pairs": len(docs), "window pairs": window_pairs, "inputs that differ": differ,
        "seconds making inputs, each text once": round(new_seconds, 2),
        "seconds tokenising every window pair (before)": round(old_seconds, 2)}

    documents, _ = plant_reuse(read_paragraphs(args.corpus), documents=args.documents, passages=args.documents // 5,
                               words=300, noisy_share=0.5, seed=0)
    seen: list = []

    def capture(texts):
        seen.extend(texts)
        return np.ones((len(texts), 2), np.float32) / np.sqrt(2)

    started = time.perf_counter()
    index, _ = add_documents(SearchIndex(index_settings(model, CandidateOptions())),
                             [Document(d["id"], d["text"]) for d in documents], model, options=CandidateOptions(),
                             embed=capture)
    indexing = time.perf_counter() - started
    def own(text: str) -> list[int]:
        return list(model.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])

    sentence_differ = sum(own(t.text) != t.ids.tolist() for t in seen)
    windows = len(index.windows)
    pairs = [(a, b) for a in range(windows) for b in range(a + 1, min(windows, a + 6))
             if index.windows[a, 0] != index.windows[b, 0]]
    window_differ = 0
    for a, b in pairs:
        first, second = index.window(a), index.window(b)
        item = model.assemble(Pair("x", first.text, second.text), first, second)
        window_differ += not same(item, tokenizer_encoding(model, first.text, second.text))
    record["search collection"] = {
        "documents": len(documents), "sentences": len(seen), "sentences whose tokens differ": sentence_differ,
        "window pairs checked": len(pairs), "window pair inputs that differ": window_differ,
        "seconds indexing (tokens, windows, sentences, signatures)": round(indexing, 2)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    if args.results:
        from benchmarks.results import record as stamped
        from benchmarks.results import write

        long, search = record["long documents"], record["search collection"]
        rows = [[f"{long['pairs']} long documents: every window pair's model input", long["window pairs"],
                 long["inputs that differ"], f"{long['seconds making inputs, each text once']} s against "
                 f"{long['seconds tokenising every window pair (before)']} s tokenising every window pair"],
                [f"a search collection of {search['documents']} documents: sentences", search["sentences"],
                 search["sentences whose tokens differ"], ""],
                ["the same: window-pair inputs", search["window pairs checked"],
                 search["window pair inputs that differ"],
                 f"indexing {search['seconds indexing (tokens, windows, sentences, signatures)']} s"]]
        made = stamped("tokenize", measures=MEASURES, data=record, tables={"tokenize": {
            "columns": ["assembled from each text's tokens", "checked", "differ from the tokenizer's own encoding",
                        "time"], "rows": rows}})
        print(f"wrote {write(args.results, made)}")


MEASURES = ["mia/models", "mia/alignment", "mia/search", "mia/text", "benchmarks/tokenize_once.py"]


if __name__ == "__main__":
    main()
