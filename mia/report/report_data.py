"""The data of a report page, as one JSON-ready dict: the detector card, its heads, and the detections.

For each detected phrase the page shows the heads that contributed most: for each of the phrase's linked token
pairs, each feature column's share of the log-odds, ``coef_k * (x_k - mean_k) / scale_k`` (weight x standardised
feature), averaged over the phrase's token pairs and summed over a head's columns. For the linked token pairs of
pairs that fit the model whole, the top heads' attention rows over the other text and their query-key scores
before the softmax are stored, within a size cap the page states (:data:`QK_CAP`). Pairs that run as window pairs
get phrases, the document strip and no head views (computing them would mean running every window pair again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from mia._version import __version__
from mia.alignment.candidate_windows import Candidates
from mia.alignment.detection import Detection, DetectionError
from mia.detector.detector import Detector
from mia.detector.scoring import transform_features
from mia.evaluate.evaluation import headline_text
from mia.heads.patch_file import PatchFile
from mia.heads.ranking import head_summaries
from mia.heads.stability import SPECIFIC_RULE, SPECIFIC_SHARES, compare_detectors, specific_heads
from mia.io import jsonable
from mia.models.attention import AttentionModel
from mia.models.blocks import Block, CaptureRequest, PairFeatures
from mia.models.encoding import PairTooLong
from mia.models.layout import offset_label
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair

QK_HEADS = 4  # top heads (primary order) whose rows are stored
QK_TOKENS = 64  # linked query tokens per pair, at most
CONTRIBUTING = 5  # heads listed per phrase
QK_CAP = (f"attention rows and query-key scores of the top {QK_HEADS} heads for at most {QK_TOKENS} linked tokens "
          "per pair, for pairs that fit the model whole")


def _round(values: Any, digits: int = 4) -> Any:
    return np.round(np.asarray(values, dtype=float), digits).tolist()


def detector_card(detector: Detector, name: str) -> dict[str, Any]:
    card = detector.card
    metrics = card.metrics
    return {
        "name": name, "model": detector.model_name, "model_type": detector.model_type,
        "relation": card.relation, "threshold": round(detector.threshold, 4), "decode": detector.decode,
        "data": {k: v for k, v in card.data.items() if isinstance(v, (str, int, float))},
        "split": {k: card.split.get(k) for k in ("train", "validation", "test")},
        "evaluated_on": metrics.get("evaluated_on"), "headline": headline_text(metrics),
        "word_level": metrics.get("word_level") or {},
        "token_level": metrics.get("token_level") or metrics.get("scorers") or {},
        "trained_with": card.trained_with, "training_seconds": card.training_seconds,
    }


def heads_data(detector: Detector) -> dict[str, Any]:
    layout = detector.layout
    section = detector.card.heads
    return {
        "layers": layout.layers, "heads": layout.heads, "directions": list(layout.directions),
        "offsets": [offset_label(o) for o in layout.offsets],
        "coef": _round(detector.coef.reshape(len(layout.offsets), len(layout.directions), layout.layers,
                                             layout.heads)),
        "ranking": section.get("ranking", "own held-out ROC AUC at (i, j), mean over directions"),
        "bootstrap": section.get("bootstrap"),
        "summaries": [h.to_dict() for h in head_summaries(detector)],
    }


def contributions(detector: Detector, rows: np.ndarray) -> np.ndarray:
    """Each head's share of the log-odds (its columns summed), mean over ``rows`` ``[N, F]``: ``[layers * heads]``."""
    standardised = (transform_features(rows, detector.transform).astype(np.float64) - detector.mean) / detector.scale
    per_column = (standardised * detector.coef).mean(0)
    return detector.layout.by_head(per_column).sum((0, 1))


def qk_rows(model: AttentionModel, features: PairFeatures, tokens: Sequence[int],
            heads: Sequence[int]) -> dict[str, Any] | None:
    """Attention weights (from the pair's ``features``) and scores before the softmax (one more forward pass) of
    ``heads`` (``layer * heads + head``), rows of the query tokens ``tokens`` over the other text, in the model's
    first direction (whose feature column of a head is its index); None when the pair does not fit."""
    try:
        item = model.encode(features.pair)
    except PairTooLong:
        return None
    direction = model.layout.directions[0]
    weights: dict[int, np.ndarray] = {}
    for flat in heads:
        block = features.blocks[flat]  # [n_a, n_b]
        weights[flat] = (block.T if direction == "b->a" else block)[list(tokens)].float().cpu().numpy()
    scores: dict[int, np.ndarray] = {}
    per_layer: dict[int, list[int]] = {}
    for flat in heads:
        per_layer.setdefault(flat // model.layout.heads, []).append(flat % model.layout.heads)

    def sink(index: int, block: Block) -> None:
        if block.layer not in per_layer or block.column != block.layer * model.layout.heads:
            return  # the first direction's block of a wanted layer only
        values = block.values.transpose(-1, -2) if block.transposed else block.values  # [heads, n_a, n_b]
        if direction == "b->a":
            values = values.transpose(-1, -2)  # rows of B
        for head in per_layer[block.layer]:
            scores[block.layer * model.layout.heads + head] = values[head, list(tokens)].float().cpu().numpy()

    try:
        model.run([item], sink, CaptureRequest(scores=True))
    except Exception as error:  # the slow path has no scores: say so in the page rather than fail the report
        return {"unavailable": f"query-key scores not available for this model: {error}"}
    return {"direction": direction, "tokens": list(tokens),
            "heads": [f"L{h // model.layout.heads}H{h % model.layout.heads}" for h in heads],
            "weights": [_round(weights[h], 4) for h in heads], "scores": [_round(scores[h], 3) for h in heads]}


def pair_data(detector: Detector, model: AttentionModel, found: Detection | DetectionError,
              top_heads: Sequence[int]) -> dict[str, Any]:
    pair = found.pair
    entry: dict[str, Any] = {"id": pair.id, "a": pair.a, "b": pair.b}
    if isinstance(found, DetectionError):
        entry["error"] = found.error
        entry["phrases"] = []
        return entry
    a_spans, b_spans = found.token_spans
    entry.update({"a_spans": a_spans.tolist(), "b_spans": b_spans.tolist(), "windows": found.windows,
                  "threshold": found.threshold})
    features = None
    if found.windows is None or found.windows.get("whole"):
        try:
            features = model.features(pair)
        except PairTooLong:
            features = None
    phrases = []
    for phrase in found.phrases:
        links = [link for link in found.links if phrase.a_start <= link.a_start and link.a_end <= phrase.a_end
                 and phrase.b_start <= link.b_start and link.b_end <= phrase.b_end]
        record = phrase.to_dict()
        record["links"] = [[link.a_token, link.b_token, round(link.probability, 4)] for link in links]
        if features is not None and links:
            n_b = features.shape[1]
            rows = features.rows(np.array([link.a_token * n_b + link.b_token for link in links]),
                                 detector.layout.offsets)
            share = contributions(detector, rows)
            order = np.argsort(-share, kind="stable")[:CONTRIBUTING]
            record["heads"] = [{"head": f"L{h // detector.layout.heads}H{h % detector.layout.heads}",
                                "contribution": round(float(share[h]), 3)} for h in order]
        phrases.append(record)
    entry["phrases"] = phrases
    if features is not None and found.links:
        query = "b_token" if model.layout.directions[0] == "b->a" else "a_token"
        best: dict[int, float] = {}
        for link in found.links:
            token = getattr(link, query)
            best[token] = max(best.get(token, 0.0), link.probability)
        tokens = sorted(sorted(best, key=lambda t: -best[t])[:QK_TOKENS])
        entry["qk"] = qk_rows(model, features, tokens, top_heads)
    return entry


def causal_data(detector: Detector, patch: PatchFile) -> dict[str, Any]:
    """The page's readers-and-computers section: three layer x head maps (the detector's summed readout weight,
    output necessity and sufficiency from a patch file) and one row per head, with its role and head types."""
    layout = detector.layout
    summaries = {(s.layer, s.head): s for s in head_summaries(detector)}
    maps: dict[str, list[list[float]]] = {key: [[float("nan")] * layout.heads for _ in range(layout.layers)]
                                          for key in ("weight", "necessity", "sufficiency")}
    rows = []
    for (layer, head), summary in sorted(summaries.items()):
        causal = patch.heads.get((layer, head), {})
        maps["weight"][layer][head] = summary.weight
        maps["necessity"][layer][head] = causal.get("necessity", float("nan"))
        maps["sufficiency"][layer][head] = causal.get("sufficiency", float("nan"))
        rows.append({"name": summary.name, "layer": layer, "head": head, "readout_weight": summary.weight,
                     **{key: causal.get(key) for key in ("necessity", "sufficiency", "pattern_necessity",
                                                         "value_necessity", "role")},
                     "dominant_type": summary.dominant})
    return {"layers": layout.layers, "heads": layout.heads, **maps, "rows": rows, "pairs": patch.pairs,
            "corruption": patch.corruption, "rule": patch.rule}


def comparison_data(detector: Detector, other: Detector, other_name: str) -> dict[str, Any]:
    """The page's comparison section: how far ``detector`` and ``other`` (one model) agree on their heads
    (:func:`mia.heads.stability.compare_detectors`) and the heads specific to each
    (:func:`mia.heads.stability.specific_heads`; None when either records no resampled AUCs)."""
    rows = compare_detectors(detector, other)
    specific = specific_heads(detector, other)
    return {"other": other_name, "other_relation": other.card.relation,
            "rankings": [row.to_dict() for row in rows],
            "rule": SPECIFIC_RULE.format(high=SPECIFIC_SHARES[0], low=SPECIFIC_SHARES[1]),
            "specific": None if specific is None else {
                "this": [{**d.to_dict(), "name": d.name} for d in specific[0]],
                "other": [{**d.to_dict(), "name": d.name} for d in specific[1]]}}


def report_data(detector: Detector, model: AttentionModel | None, detections: Iterable[Detection | DetectionError],
                *, name: str = "", progress: Progress = no_progress, total: int = 0,
                patch: PatchFile | None = None, compare: tuple[Detector, str] | None = None) -> dict[str, Any]:
    """Everything a report page shows, as a JSON-ready dict (``mia report --format json`` writes it); ``patch``: a
    patch file (:func:`mia.heads.patch_file.read_patch_file`) for the readers-and-computers section; ``compare``:
    another detector of the same model and its name, for the comparison section."""
    top = [s.layer * detector.layout.heads + s.head for s in head_summaries(detector, top=QK_HEADS)]
    pairs = [] if model is None else [pair_data(detector, model, found, top)
                                      for found in progress(detections, "report", total)]
    return jsonable({"mia_version": __version__, "detector": detector_card(detector, name),
                     "heads": heads_data(detector), "pairs": pairs, "qk_cap": QK_CAP,
                     "causal": None if patch is None else causal_data(detector, patch),
                     "compare": None if compare is None else comparison_data(detector, *compare),
                     "contribution_rule": "per phrase: mean over its links (each word link's best token pair) of "
                                          "weight x standardised feature, summed over each head's columns (log-odds "
                                          "units)"})


def detector_report(detector: Detector, model: AttentionModel | None = None, pairs: Sequence[Pair] = (), *,
                    min_phrase_words: int = 2, threshold: float | None = None, candidates: Candidates = "sentences",
                    name: str = "") -> dict[str, Any]:
    """Detect in ``pairs`` (the model loaded from the detector when not given) and return the report data."""
    if pairs and model is None:
        model = detector.load_model()
    found = [] if model is None else detector.iter_detect(
        model, list(pairs), threshold=threshold, min_phrase_words=min_phrase_words, candidates=candidates)
    return report_data(detector, model if pairs else None, found, name=name, total=len(pairs))
