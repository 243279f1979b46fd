"""Choose the embedding aligner's layer on development data: its word P/R/F1 (and AER) at every layer of a model.

    python scripts/embedding_layers.py [--model minilm] FILE [FILE ...]

Each FILE is a pair file (JSONL) or a MultiMWA TSV file (``.tsv``). Whitespace words, sure links as gold, micro
counts as ``evaluate`` makes them; one forward pass per text reads every layer at once. Use development splits only:
a layer chosen on the sets it is reported on is not a result.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia.cli.common import progress  # noqa: E402
from mia.evaluate.embedding_aligner import dense_mutual_argmax, word_similarity, word_vectors  # noqa: E402
from mia.evaluate.evaluation import WordCounts, word_counts  # noqa: E402
from mia.models.attention import AttentionModel, load_model  # noqa: E402
from mia.models.embedding import layer_states, state_layers  # noqa: E402
from mia.text.alignments import read_multimwa  # noqa: E402
from mia.text.pairs import Pair, read_pairs, token_labels  # noqa: E402
from mia.text.words import word_spans  # noqa: E402


def layer_counts(model: AttentionModel, pairs: list[Pair]) -> list[WordCounts]:
    """The embedding aligner's word counts at each layer ``0..n_layers`` over ``pairs``."""
    layers = range(state_layers(model) + 1)
    totals = [WordCounts() for _ in layers]
    for pair in progress(pairs, "pairs", len(pairs)):
        a_words, b_words = word_spans(pair.a, "whitespace"), word_spans(pair.b, "whitespace")
        a_tokens, b_tokens = model.tokens(pair.a), model.tokens(pair.b)
        a_states, b_states = layer_states(model, a_tokens.ids, layers), layer_states(model, b_tokens.ids, layers)
        sure = token_labels(pair, a_words, b_words)
        possible = sure | token_labels(replace(pair, links=pair.links + pair.possible), a_words, b_words)
        for layer in layers:
            a_vectors = word_vectors(a_states[layer], a_tokens.spans, a_words)
            b_vectors = word_vectors(b_states[layer], b_tokens.spans, b_words)
            links = dense_mutual_argmax(word_similarity(a_vectors, b_vectors))  # as evaluate's embedding aligner
            totals[layer].add(word_counts(links, sure, possible))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--model", default="minilm")
    args = parser.parse_args()
    model = load_model(args.model, device="cpu")
    for name in args.files:
        pairs = read_multimwa(name) if name.endswith(".tsv") else read_pairs(name)
        with_aer = any(pair.possible for pair in pairs)
        results = {layer: {k: round(v, 4) for k, v in counts.metrics(with_aer=with_aer).items()}
                   for layer, counts in enumerate(layer_counts(model, pairs))}
        best = max(results, key=lambda layer: results[layer]["f1"])
        print(json.dumps({"file": Path(name).name, "pairs": len(pairs), "best_layer": best, "layers": results}))


if __name__ == "__main__":
    main()
