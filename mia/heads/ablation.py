"""Ablation: does the detector need its top heads, and do they find the match or help later heads find it?

On pairs the detector never trained on, cut by pair into a *fit* half and an *eval* half (pairs that fit the
model whole), with heads in the detector's primary order (:func:`mia.heads.ranking.head_summaries`), average
precision on the eval half's sampled token pairs (all positives, weighted negatives) as

* **keep top k**: the regression refitted on the fit half using only the top k heads' columns;
* **drop top k**: refitted without them;
* **drop random k**: refitted without k random heads (``draws`` draws): the control for (b);
* **causal top k** / **causal random k**: the top (random) k heads' outputs zeroed inside the model during the
  forward pass, and the detector as trained re-run on the eval half (no refit). A head whose own attention shows
  the match costs AP in (b) but not much in (d) beyond its own columns; a head that makes later heads show it
  costs AP in (d).

A "head" is one (layer, head): all its columns (directions and offsets) go together, as zeroing it does.
The same token pairs score the string baselines, printed beside.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mia.alignment.windowed import encode_pairs_that_fit
from mia.detector.detector import Detector
from mia.detector.scoring import transform_features
from mia.errors import MiaError
from mia.evaluate.metrics import ranking_metrics
from mia.evaluate.string_match import baseline_scores
from mia.heads.ranking import head_summaries
from mia.models.attention import AttentionModel
from mia.models.encoding import EncodedPair
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair, token_labels
from mia.training.sampling import Sampling, sample_token_pairs
from mia.training.training import SampledSet, TrainOptions, fit_pipeline


@dataclass
class AblationOptions:
    seed: int = 0
    draws: int = 3  # random draws of k heads, for the control curves
    ks: tuple[int, ...] | None = None  # None: 1, 2, 4, ... and all heads
    max_rows: int = 60_000  # sampled token pairs of each half, at most
    causal: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "draws": self.draws, "ks": list(self.ks) if self.ks else None,
                "max_rows": self.max_rows, "causal": self.causal}


@dataclass
class AblationResult:
    """AP per k for each curve (random curves: mean and the draws), and the baselines' AP on the same rows."""

    ks: list[int]
    order: list[str]  # heads, primary order
    curves: dict[str, list[float]] = field(default_factory=dict)
    random_draws: dict[str, list[list[float]]] = field(default_factory=dict)
    full_refit: float = float("nan")
    detector: float = float("nan")  # the detector as trained, no ablation
    baselines: dict[str, float] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return None if value != value else round(value, 4)
            if isinstance(value, list):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return value

        return clean({"metric": "average precision on the eval half's sampled token pairs (weighted)", "ks": self.ks,
                      "order": self.order, "curves": self.curves, "random_draws": self.random_draws,
                      "full_refit": self.full_refit, "detector": self.detector, "baselines": self.baselines,
                      "pairs": self.pairs, "options": self.options})


def head_columns(detector: Detector, heads: Sequence[int]) -> np.ndarray:
    """Feature columns of heads (``layer * heads + head``): every direction and offset."""
    layout = detector.layout
    per_head = layout.by_head(np.arange(layout.n_features))  # [offsets, directions, L * H]
    return np.sort(per_head[..., list(heads)].reshape(-1))


@dataclass
class Half:
    items: list[EncodedPair]
    index: list[np.ndarray]  # sampled flat token-pair indices per pair
    weights: np.ndarray
    labels: np.ndarray
    baselines: dict[str, np.ndarray]


def sample_half(items: list[EncodedPair], sampling: Sampling, rng: np.random.Generator) -> Half:
    index, weights, labels = [], [], []
    baselines: dict[str, list[np.ndarray]] = {}
    for item in items:
        gold = token_labels(item.pair, item.a_spans, item.b_spans)
        picked, weight = sample_token_pairs(gold, rng, sampling)
        index.append(picked)
        weights.append(weight)
        labels.append(gold.reshape(-1)[picked])
        a_tokens = [item.pair.a[s:e] for s, e in item.a_spans]
        b_tokens = [item.pair.b[s:e] for s, e in item.b_spans]
        for name, score in baseline_scores(a_tokens, b_tokens).scores().items():
            baselines.setdefault(name, []).append(score.reshape(-1)[picked])
    total = sum(len(i) for i in index)
    scale = max(1.0, total / sampling.max_rows)
    if scale > 1.0:  # too many rows: keep each pair's rows with one probability
        keep = [rng.random(len(i)) < 1 / scale for i in index]
        index = [i[k] for i, k in zip(index, keep)]
        weights = [w[k] * scale for w, k in zip(weights, keep)]
        labels = [y[k] for y, k in zip(labels, keep)]
        baselines = {n: [s[k] for s, k in zip(v, keep)] for n, v in baselines.items()}
    return Half(items, index, np.concatenate(weights).astype(np.float32), np.concatenate(labels),
                {name: np.concatenate(values) for name, values in baselines.items()})


def half_features(model: AttentionModel, detector: Detector, half: Half, *,
                  zero_heads: dict[int, list[int]] | None = None) -> np.ndarray:
    """float16 ``[N, F]``: the half's sampled rows (with heads zeroed in the forward pass, if asked)."""
    rows = [features.rows(index, detector.layout.offsets)
            for features, index in zip(model.iter_features(half.items, zero_heads=zero_heads), half.index)]
    return np.concatenate(rows)


def zeroed(heads: Sequence[int], n_heads: int) -> dict[int, list[int]]:
    """layer -> heads, for :meth:`AttentionModel.iter_features`."""
    layers: dict[int, list[int]] = {}
    for flat in heads:
        layer, head = divmod(int(flat), n_heads)
        layers.setdefault(layer, []).append(head)
    return layers


def ablate(detector: Detector, model: AttentionModel, pairs: Sequence[Pair], options: AblationOptions | None = None,
           *, progress: Progress = no_progress) -> AblationResult:
    """Run the four ablations of the module docstring on ``pairs`` (held out from the detector's training)."""
    options = AblationOptions() if options is None else options
    detector.check_model(model)
    items, too_long = encode_pairs_that_fit(model, pairs)
    items = [item for item in items if token_labels(item.pair, item.a_spans, item.b_spans).any()]
    if len(items) < 4:
        raise MiaError(f"ablation needs at least 4 pairs with links that fit the model whole; got {len(items)}")
    rng = np.random.default_rng([options.seed, 5])
    order = rng.permutation(len(items))
    fit_items = [items[i] for i in order[: len(items) // 2]]
    eval_items = [items[i] for i in order[len(items) // 2:]]
    sampling = Sampling(max_rows=options.max_rows)
    fit_half, eval_half = sample_half(fit_items, sampling, rng), sample_half(eval_items, sampling, rng)
    fit_x, eval_x = half_features(model, detector, fit_half), half_features(model, detector, eval_half)

    def ap(score: np.ndarray) -> float:
        return ranking_metrics(eval_half.labels, score, eval_half.weights)[0]

    fit_options = TrainOptions(seed=options.seed, transform=detector.transform)

    def refit_ap(heads: Sequence[int]) -> float:
        if not len(heads):
            return float("nan")
        columns = head_columns(detector, heads)
        train = SampledSet(fit_x[:, columns], fit_half.labels, fit_half.weights, 0, 0)
        pipeline = fit_pipeline(train, fit_options)
        return ap(pipeline.predict_proba(transform_features(eval_x[:, columns], detector.transform))[:, 1])

    n_heads = detector.layout.layers * detector.layout.heads
    ranked = [s.layer * detector.layout.heads + s.head for s in head_summaries(detector)]
    ks = list(options.ks) if options.ks else sorted({*(2 ** p for p in range(int(np.log2(n_heads)) + 1)), n_heads})
    ks = [k for k in ks if 1 <= k <= n_heads]
    draws = [[int(h) for h in rng.permutation(n_heads)] for _ in range(options.draws)]
    result = AblationResult(ks=ks, order=[f"L{h // detector.layout.heads}H{h % detector.layout.heads}" for h in ranked],
                            options=options.to_dict(),
                            pairs={"fit": len(fit_items), "eval": len(eval_items), "too_long": len(too_long),
                                   "eval_rows": len(eval_half.labels), "eval_positives": int(eval_half.labels.sum())})
    result.full_refit = refit_ap(ranked)
    result.detector = ap(detector.link_probability(eval_x))
    result.baselines = {name: ap(score) for name, score in eval_half.baselines.items()}
    steps: list[tuple[str, Callable[[int], float]]] = [
        ("keep top k", lambda k: refit_ap(ranked[:k])),
        ("drop top k", lambda k: refit_ap(ranked[k:])),
    ]
    for name, run in steps:
        result.curves[name] = [run(k) for k in progress(ks, name, len(ks))]
    result.random_draws["drop random k"] = [[refit_ap(d[k:]) for d in draws] for k in progress(ks, "drop random k",
                                                                                              len(ks))]
    if options.causal:
        def causal(heads: Sequence[int]) -> float:
            if len(heads) == n_heads:
                return float("nan")  # nothing left to run
            return ap(detector.link_probability(half_features(model, detector, eval_half,
                                                              zero_heads=zeroed(heads, detector.layout.heads))))

        result.curves["causal top k"] = [causal(ranked[:k]) for k in progress(ks, "causal top k", len(ks))]
        result.random_draws["causal random k"] = [[causal(d[:k]) for d in draws]
                                                  for k in progress(ks, "causal random k", len(ks))]
    for name, values in result.random_draws.items():
        result.curves[name] = [float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for v in values]
    return result
