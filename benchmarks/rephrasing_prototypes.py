"""What was tried, beyond `mia train`'s options, to lift `minilm-align` towards the rephrasing targets.

    python benchmarks/rephrasing_prototypes.py --shared ../shared [--results rephrasing-prototypes]

Two questions, on MultiMWA's MTRef and Wiki dev splits (whitespace words, every sure link, micro word F1 as
`evaluate` counts it; the MTRef dev pairs that repeat a pair `minilm-align` was fit or tuned on are left out, as
`evaluate` leaves them out):

1. **Is the decoding the limit?** Over the shipped detector's own token probabilities: its mutual argmax, and a
   one-to-one decoder that uses more of the matrix (maximum-weight matching of the word pairs at or above a floor,
   the floor chosen on the detector's own 480 held-out MTRef training pairs, never on dev); and the **cap of any
   one-to-one decoder** (a maximum matching of the gold links themselves: precision 1, recall the share of gold
   links one-to-one links can hold), since mutual argmax links each word at most once.
2. **Are the features the limit?** Regressions fit here as `mia train` fits them (the same 1,678 fit pairs of
   `minilm-align`'s split, every positive token pair and 10 weighted negatives per positive, seed 0,
   ``StandardScaler`` + ``LogisticRegression(C=1)`` on ``log(w + 1e-4)``, mutual argmax with floor 0.05), over
   (a) the shipped columns (each head's weight at 9 offsets, 1,296 columns); (b) the same plus each head's
   weight renormalised within the other text at (i, j) (``w_ij / sum_j' w_ij'`` over the other text's content
   tokens: the softmax of the head's query-key scores over the other text alone; its log differs from
   ``log w_ij`` by a per-row constant, the log of the attention the row gives the other text, which the weight
   alone does not show; 1,440 columns); (c) the
   same with each head's weight divided by its largest within the other text (how near the head's argmax the pair
   is: what mutual argmax reads off the summed score, read off each head; 1,440 columns); (d) the same with each
   head's weight times the norm of what the attended token's value writes through that head, ``||v_j W_O^h||``
   (norm-based attention, Kobayashi et al. 2020; 1,440 columns); (e) all three beside the shipped columns (1,728);
   and (f) non-linear readers (gradient-boosted trees) of the shipped columns and of (e), not readable per head, as
   a probe of how much a linear readout leaves on the table.

Writes ``benchmarks/results/rephrasing_prototypes.json`` and with ``--results NAME`` the documentation's stamped
record ``docs/results/NAME.json`` (Rephrasing page). About 32 minutes on 2 cores (the trees take 20), over 11 GB of
memory at a trees fit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DETECTOR = "minilm-align"
FLOORS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)  # the matching decoder's floors tried on the held-out pairs


@dataclass
class Kept:
    """One pair's attention, kept to score it again: float16 ``[F, n_a, n_b]`` and the token spans."""

    pair: Any
    blocks: np.ndarray
    a_spans: np.ndarray
    b_spans: np.ndarray
    a_norms: np.ndarray  # float32 [layers * heads, n_a]: ||v_i^h W_O^h|| of A's tokens (see ValueNorms)
    b_norms: np.ndarray  # float32 [layers * heads, n_b]


def within_other_text(blocks: Any, n_directions: int, *, by: str = "sum") -> Any:
    """Each head's weights divided by their sum (``by="sum"``) or their largest value (``by="max"``) within the
    other text: torch ``[F, n_a, n_b]`` -> ``[F, n_a, n_b]``.

    The first ``F / n_directions`` features are A->B (rows are A's tokens: over B, the last axis), the next B->A
    (stored transposed: over A, the middle axis)."""
    import torch

    if n_directions != 2:
        raise ValueError("renormalising is written for the two directions of an encoder-only model")
    per_direction = blocks.shape[0] // n_directions
    a_to_b, b_to_a = blocks[:per_direction], blocks[per_direction:]
    if by == "sum":
        a_norm, b_norm = a_to_b.sum(dim=2, keepdim=True), b_to_a.sum(dim=1, keepdim=True)
    else:
        a_norm, b_norm = a_to_b.amax(dim=2, keepdim=True), b_to_a.amax(dim=1, keepdim=True)
    return torch.cat([a_to_b / a_norm.clamp_min(1e-12), b_to_a / b_norm.clamp_min(1e-12)])


class ValueNorms:
    """Forward hooks on a BERT model's value projections that keep, for the last pass, the norm of what each head
    writes into the residual stream per unit of attention: ``||v_j^h W_O^h||`` for every position j and head h
    (Kobayashi et al. 2020, "Attention is not only a weight"), float32 ``[layers * heads, positions]``, the heads in
    mia's feature order (layer, then head). Use as a context manager; the hooks are always removed."""

    def __init__(self, hf_model: Any) -> None:
        self.layers = list(hf_model.encoder.layer)
        self.heads = int(hf_model.config.num_attention_heads)
        self.per_layer: dict[int, np.ndarray] = {}
        self.handles: list[Any] = []

    def __enter__(self) -> ValueNorms:
        for number, layer in enumerate(self.layers):
            self.handles.append(layer.attention.self.value.register_forward_hook(self._hook(number, layer)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _hook(self, number: int, layer: Any) -> Any:
        import torch

        def keep(module: Any, inputs: Any, output: Any) -> None:
            with torch.no_grad():
                values = output[0]  # [positions, hidden] of the one pair in the batch
                width = values.shape[-1] // self.heads
                out_weight = layer.attention.output.dense.weight  # [hidden, hidden]: W_O, heads along the columns
                norms = [(values[:, h * width:(h + 1) * width] @ out_weight[:, h * width:(h + 1) * width].T)
                         .norm(dim=-1) for h in range(self.heads)]
                self.per_layer[number] = torch.stack(norms).float().cpu().numpy()

        return keep

    def of_pass(self) -> np.ndarray:
        """``[layers * heads, positions]`` of the last pass."""
        return np.concatenate([self.per_layer[number] for number in range(len(self.layers))])


def value_weighted(blocks: Any, a_norms: np.ndarray, b_norms: np.ndarray) -> Any:
    """Each head's weight times the norm of what the attended token's value writes through that head (A->B rows
    attend B's tokens, B->A rows A's): torch ``[F, n_a, n_b]``."""
    import torch

    per_direction = blocks.shape[0] // 2
    return torch.cat([blocks[:per_direction] * torch.from_numpy(b_norms)[:, None, :],
                      blocks[per_direction:] * torch.from_numpy(a_norms)[:, :, None]])


EXTRAS = ("renormalised", "to-strongest", "value-norm")  # per-head columns at (i, j) beside the shipped ones


@dataclass(frozen=True)
class Reader:
    """One reader to fit: the extra per-head columns beside the shipped ones (names from ``EXTRAS``), linear
    (``StandardScaler`` + ``LogisticRegression``) or gradient-boosted trees, and its row label in the table."""

    label: str
    extras: tuple[str, ...] = ()
    trees: bool = False


READERS = {
    "shipped": Reader("attention weights at 9 offsets (the shipped columns), linear"),
    "renormalised": Reader("+ each head's weight renormalised within the other text at (i, j), linear",
                           ("renormalised",)),
    "to-strongest": Reader("+ each head's weight over its largest within the other text at (i, j), linear",
                           ("to-strongest",)),
    "value-norm": Reader("+ each head's weight times the attended token's value norm at (i, j), linear",
                         ("value-norm",)),
    "all three": Reader("+ all three, linear", EXTRAS),
    "trees": Reader("the shipped columns, gradient-boosted trees (not readable per head)", trees=True),
    "all three, trees": Reader("+ all three, gradient-boosted trees (not readable per head)", EXTRAS, trees=True),
}


def feature_rows(blocks: Any, index: np.ndarray, n_b: int, extras: Sequence[str] = (),
                 kept: Kept | None = None) -> np.ndarray:
    """float32 inputs of the token pairs at flat ``index`` into ``[n_a, n_b]``: ``log(w + 1e-4)`` of the shipped
    columns, then for each of ``extras`` the log of each head's weight at (i, j) divided by its sum
    ("renormalised") or its largest value ("to-strongest") within the other text, or times the attended token's
    value norm ("value-norm", from ``kept``)."""
    from mia.detector.scoring import transform_features
    from mia.models.blocks import PairFeatures
    from mia.models.layout import PAIR_ONLY, WIDE_CONTEXT

    n_a = blocks.shape[1]
    spans = np.zeros((n_a, 2), int), np.zeros((n_b, 2), int)

    def log_rows(values: Any, offsets: Any) -> np.ndarray:
        return transform_features(PairFeatures(None, *spans, [], [], values).rows(index, offsets), "log")

    parts = [log_rows(blocks, WIDE_CONTEXT)]
    for extra in extras:
        if extra in ("renormalised", "to-strongest"):
            parts.append(log_rows(within_other_text(blocks, 2, by="sum" if extra == "renormalised" else "max"),
                                  PAIR_ONLY))
        elif extra == "value-norm":
            if kept is None:
                raise ValueError("value-norm features need the pair's value norms")
            parts.append(log_rows(value_weighted(blocks, kept.a_norms, kept.b_norms), PAIR_ONLY))
        else:
            raise ValueError(f"unknown extra columns {extra!r}: use one of {', '.join(EXTRAS)}")
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def as_torch(kept: Kept) -> Any:
    """The kept attention as float32 torch ``[F, n_a, n_b]``."""
    import torch

    return torch.from_numpy(kept.blocks.astype(np.float32))


def one_to_one(scores: np.ndarray, floor: float) -> np.ndarray:
    """bool ``[n_a, n_b]``: the maximum-weight matching of the word pairs whose score is at least ``floor``."""
    from scipy.optimize import linear_sum_assignment

    usable = np.where(np.isfinite(scores) & (scores >= floor), scores, 0.0)
    rows, cols = linear_sum_assignment(usable, maximize=True)
    linked = np.zeros(scores.shape, bool)
    keep = usable[rows, cols] > 0
    linked[rows[keep], cols[keep]] = True
    return linked


def gold_matching(sure: np.ndarray) -> np.ndarray:
    """bool ``[n_a, n_b]``: a maximum matching of the gold links (the most any one-to-one decoder can get right)."""
    return one_to_one(sure.astype(float), 0.5)


def cell(counts: Any) -> str:
    """One table cell of micro word counts (:class:`~mia.evaluate.evaluation.WordCounts`): ``F1 (P / R)``."""
    found = counts.metrics(with_aer=False)
    return f"{found['f1']:.3f} ({found['precision']:.3f} / {found['recall']:.3f})"


def word_level(kept: Kept, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores, shipped links, sure)`` over whitespace words: word-pair scores ``[n_a_words, n_b_words]`` (the
    highest of their token pairs'), the links `detect` decodes from ``probabilities`` (mutual argmax, floor 0.05),
    and the gold sure links."""
    from mia.alignment.detection import decoded
    from mia.text.pairs import token_labels

    detection = decoded(kept.pair, probabilities, (kept.a_spans, kept.b_spans), threshold=0.5,
                        decode="mutual-argmax", words="whitespace")
    a_words, b_words, scores = detection.word_scores()
    return scores, detection.word_links(), token_labels(kept.pair, a_words, b_words)


def keep_features(model: Any, pairs: Sequence[Any], progress: Any, label: str) -> list[Kept]:
    """Every pair's attention, kept as float16 (each pair fits the model whole), and its value norms."""
    import torch

    encoded = [model.encode(pair) for pair in pairs]
    kept = []
    with ValueNorms(model.model) as value_norms:
        for item, features in zip(encoded, progress(model.iter_features(encoded), label, len(encoded))):
            norms = value_norms.of_pass()
            if norms[:, item.a_positions].shape[1] != len(features.a_spans):
                raise RuntimeError("the value norms do not line up with the pair's tokens")
            kept.append(Kept(features.pair, features.blocks.to(torch.float16).numpy(), features.a_spans,
                             features.b_spans, norms[:, item.a_positions], norms[:, item.b_positions]))
    return kept


def sampled_rows(kept: Sequence[Kept], reader: Reader, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every positive token pair and 10 weighted negatives per positive (``mia train``'s sampling), as inputs."""
    from mia.text.pairs import token_labels
    from mia.training.sampling import Sampling, sample_token_pairs

    rng = np.random.default_rng(seed)
    rows, labels, weights = [], [], []
    for item in kept:
        gold = token_labels(item.pair, item.a_spans, item.b_spans)
        index, weight = sample_token_pairs(gold, rng, Sampling())
        rows.append(feature_rows(as_torch(item), index, gold.shape[1], reader.extras, item))
        labels.append(gold.reshape(-1)[index])
        weights.append(weight)
    return np.concatenate(rows), np.concatenate(labels), np.concatenate(weights)


def fit(reader: Reader, rows: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Any:
    """A reader fit on sampled rows with their weights (the scaler weighted too, as `mia train` weights it)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if reader.trees:
        model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, max_leaf_nodes=63,
                                               early_stopping=False, random_state=0)
        return model.fit(rows, labels, sample_weight=weights)
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=0)).fit(
        rows, labels, standardscaler__sample_weight=weights, logisticregression__sample_weight=weights)


def probabilities_of(estimator: Any, reader: Reader) -> Callable[[Kept], np.ndarray]:
    """Token-pair probabilities ``[n_a, n_b]`` of a kept pair under a fitted reader."""

    def score(kept: Kept) -> np.ndarray:
        n_a, n_b = kept.blocks.shape[1:]
        rows = feature_rows(as_torch(kept), np.arange(n_a * n_b), n_b, reader.extras, kept)
        return estimator.predict_proba(rows)[:, 1].astype(np.float32).reshape(n_a, n_b)

    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", required=True, help="the folder holding corpora/multimwa/")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rephrasing_prototypes.json"))
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Rephrasing page)")
    parser.add_argument("--limit", type=int, help="at most this many pairs of each set (a quick check of the script)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.results:
        parser.error("--limit makes a quick check, not figures for the documentation: drop --results")

    import torch

    from benchmarks import results as results_file
    from mia import Detector
    from mia.cli.common import progress
    from mia.detector.card import DetectorCard
    from mia.evaluate.embedding_aligner import embedding_argmax
    from mia.evaluate.evaluation import WordCounts, word_counts
    from mia.models.attention import load_model
    from mia.models.blocks import PairFeatures
    from mia.text.alignments import read_multimwa
    from mia.text.pairs import pair_hash, token_labels
    from mia.text.words import word_spans
    from mia.training.training import TrainOptions, split_pairs

    torch.set_num_threads(2)
    multimwa = Path(args.shared) / "corpora" / "multimwa"
    detector = Detector.load(DETECTOR)
    card = DetectorCard.from_metadata(detector.metadata)
    train_pairs = read_multimwa(multimwa / "mtref-train.tsv")
    split = split_pairs(train_pairs, TrainOptions(seed=int(detector.metadata["seed"])))
    if [pair.id for pair in split.test] != list(card.test_ids):
        raise SystemExit(f"{DETECTOR}'s recorded split does not match mtref-train.tsv split again with its seed")
    mtref_dev = [pair for pair in read_multimwa(multimwa / "mtref-dev.tsv")
                 if pair_hash(pair) not in card.fitted_hashes]
    dev = {"MTRef dev": mtref_dev[: args.limit], "Wiki dev": read_multimwa(multimwa / "wiki-dev.tsv")[: args.limit]}
    model = load_model("minilm", device="cpu")
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    held_out = keep_features(model, split.test[: args.limit], progress, "held-out pairs")
    dev_kept = {name: keep_features(model, pairs, progress, name) for name, pairs in dev.items()}
    seconds["attention of held-out and dev pairs"] = time.perf_counter() - started

    # 1. decoders over the shipped detector's probabilities
    def shipped(kept: Kept) -> np.ndarray:
        return detector.probabilities(PairFeatures(kept.pair, kept.a_spans, kept.b_spans, [], [], as_torch(kept)))

    def decoder_counts(kept: Sequence[Kept], floors: Sequence[float]) -> dict[str, WordCounts]:
        counts = {name: WordCounts() for name in ("mutual argmax", "cap", *(f"matching {f}" for f in floors))}
        for item in kept:
            scores, links, sure = word_level(item, shipped(item))
            counts["mutual argmax"].add(word_counts(links, sure, sure))
            counts["cap"].add(word_counts(gold_matching(sure), sure, sure))
            for floor in floors:
                counts[f"matching {floor}"].add(word_counts(one_to_one(scores, floor), sure, sure))
        return counts

    on_held_out = decoder_counts(held_out, FLOORS)
    held_out_floors = {f: on_held_out[f"matching {f}"].metrics(with_aer=False) for f in FLOORS}
    best_floor = max(FLOORS, key=lambda f: held_out_floors[f]["f1"])
    on_dev = {name: decoder_counts(kept, (best_floor,)) for name, kept in dev_kept.items()}
    embedding = {name: WordCounts() for name in dev_kept}
    for name, kept in dev_kept.items():
        for item in kept:
            a_words, b_words = word_spans(item.pair.a, "whitespace"), word_spans(item.pair.b, "whitespace")
            sure = token_labels(item.pair, a_words, b_words)
            linked = embedding_argmax(model, item.pair.a, item.pair.b, a_words, b_words, layer=3)
            embedding[name].add(word_counts(linked, sure, sure))
    decoder_rows = [
        ["mutual argmax (what `detect` does)", cell(on_held_out["mutual argmax"]),
         *(cell(on_dev[name]["mutual argmax"]) for name in dev_kept)],
        [f"maximum-weight matching, floor {best_floor} (chosen on held-out)",
         cell(on_held_out[f"matching {best_floor}"]),
         *(cell(on_dev[name][f"matching {best_floor}"]) for name in dev_kept)],
        ["cap of any one-to-one decoder (gold matching)", cell(on_held_out["cap"]),
         *(cell(on_dev[name]["cap"]) for name in dev_kept)],
        ["embedding argmax (layer 3), the same pairs", "", *(cell(embedding[name]) for name in dev_kept)],
    ]

    # 2. features: regressions fit on minilm-align's fit pairs
    started = time.perf_counter()
    fit_kept = keep_features(model, split.train[: args.limit], progress, "fit pairs")
    seconds["attention of fit pairs"] = time.perf_counter() - started
    feature_rows_table, fits = [], {}
    for kind, reader in READERS.items():
        started = time.perf_counter()
        rows, labels, weights = sampled_rows(fit_kept, reader, seed=0)
        estimator = fit(reader, rows, labels, weights)
        fit_seconds = time.perf_counter() - started
        score = probabilities_of(estimator, reader)
        cells = []
        for name, kept in dev_kept.items():
            counts = WordCounts()
            for item in progress(kept, f"{kind}: {name}", len(kept)):
                _, links, sure = word_level(item, score(item))
                counts.add(word_counts(links, sure, sure))
            cells.append(cell(counts))
        fits[kind] = {"columns": int(rows.shape[1]), "rows": int(len(rows)), "positives": int(labels.sum()),
                      "fit_seconds": round(fit_seconds, 1)}
        feature_rows_table.append([reader.label, f"{rows.shape[1]:,}", *cells, f"{fit_seconds / 60:.1f}"])
        print(feature_rows_table[-1], flush=True)
        del rows, labels, weights, estimator
    shipped_row = ["the shipped `minilm-align` (for reference)", "1,296",
                   *(cell(on_dev[name]["mutual argmax"]) for name in dev_kept), ""]
    feature_rows_table.insert(0, shipped_row)
    feature_rows_table.append(["embedding argmax (layer 3), the same pairs", "",
                               *(cell(embedding[name]) for name in dev_kept), ""])

    pairs_note = (f"MTRef dev {len(dev_kept['MTRef dev'])} pairs (those repeating a pair {DETECTOR} was fit or tuned "
                  f"on left out), Wiki dev {len(dev_kept['Wiki dev'])}; whitespace words, sure links, micro F1 "
                  "(P / R)")
    tables = {
        "decoders": {
            "columns": ["decoder over `minilm-align`'s probabilities", "held-out MTRef train (480)", *dev_kept],
            "rows": decoder_rows,
            "note": f"{pairs_note}. Floors tried on the held-out pairs: {', '.join(map(str, FLOORS))}.",
        },
        "features": {
            "columns": ["reader (fit on the 1,678 fit pairs of minilm-align's split)", "columns", *dev_kept,
                        "sample + fit min"],
            "rows": feature_rows_table,
            "note": f"{pairs_note}. Each decoded by mutual argmax, floor 0.05, as `detect` decodes.",
        },
    }
    floor_prf = {f: [held_out_floors[f][k] for k in ("precision", "recall", "f1")] for f in FLOORS}
    data = {"best_floor": best_floor, "held_out_floors": floor_prf,
            "fits": fits, "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "pairs": {"held_out": len(held_out), "fit": len(fit_kept), **{k: len(v) for k, v in dev_kept.items()}}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tables": tables, "data": data}, indent=1) + "\n")
    for table in tables.values():
        print(" | ".join(table["columns"]))
        for row in table["rows"]:
            print(" | ".join(str(cell) for cell in row))
    if args.results:
        measures = ["mia/alignment", "mia/detector", "mia/evaluate", "mia/models", "mia/text", "mia/training",
                    "benchmarks/rephrasing_prototypes.py", *results_file.shipped_detector_files([DETECTOR])]
        path = results_file.write(args.results, results_file.record(args.results, measures=measures, tables=tables,
                                                                      data=data))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
