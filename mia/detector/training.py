"""Training: split pairs, extract attention features, fit ``Pipeline(StandardScaler, LogisticRegression)``,
choose the threshold on validation pairs, and measure the detector beside the string baselines on held-out
pairs.

Splits are by pair: all token pairs of one text pair are in exactly one of train, validation and test. The
threshold maximises F1 on the validation pairs. Test metrics are computed on every token pair of the test
pairs (not a sample); each head's own ROC AUC is computed on the test pairs' sampled token pairs, weighted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from mia._version import __version__
from mia.detector.bootstrap import bootstrap_auc, bootstrap_coefficients, head_summary
from mia.detector.data import TrainingData, given_pairs
from mia.detector.decoding import Decode
from mia.detector.detector import Detector
from mia.detector.record import FeatureTransform
from mia.detector.sampling import RowBuffer, Sampling, sample_token_pairs
from mia.detector.scoring import transform_features
from mia.detector.windowed import COMBINE_RULE, WindowedPair, combine_max, home_masks, iter_window_features, plan_pair
from mia.errors import MiaError
from mia.evaluate.metrics import best_f1_threshold, ranking_metrics
from mia.evaluate.scores import TestScores
from mia.models.attention import AttentionModel, PairFeatures
from mia.models.head_patterns import pattern_scores
from mia.models.layout import PAIR_ONLY, WIDE_CONTEXT, Offset, normalise_offsets
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair, pair_hash, token_labels


@dataclass
class TrainOptions:
    """Options of :func:`train_detector` (recorded in the detector's metadata)."""

    seed: int = 0
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    neg_per_pos: int = 10
    min_negatives: int = 64
    max_rows: int = 500_000
    max_cells: int = 324_000_000  # rows x columns kept for the fit (250,000 rows at 1,296 columns): bounds memory
    offsets: tuple[Offset, ...] = WIDE_CONTEXT  # as `python -m mia train` (see mia.models.layout)
    regularization_c: float = 1.0
    transform: FeatureTransform = "log"
    batch_size: int = 1
    relation: str | None = None  # None: the training data's own (see mia.detector.data)
    decode: Decode = "mutual-argmax"  # word alignment decoding the detector recommends (see mia.detector.decoding)
    bootstrap: int = 30  # refits on resamples of the training pairs, for the heads' weight intervals (0: none)
    bootstrap_rows: int = 50_000  # training rows each refit sees (thinned uniformly, weights scaled)
    head_types: bool = True  # score each head's attention patterns on the test pairs (mia.models.head_patterns)

    def __post_init__(self) -> None:
        self.offsets = normalise_offsets(self.offsets)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Split:
    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": "pair",
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
            "test_ids": [pair.id for pair in self.test],
            "validation_ids": [pair.id for pair in self.validation],
            "fit_or_tuned_on_hashes": sorted(pair_hash(p) for p in self.train + self.validation),
        }


def split_pairs(pairs: Sequence[Pair], options: TrainOptions) -> Split:
    """Shuffle pairs with the seed and cut them into train / validation / test."""
    if len(pairs) < 3:
        raise MiaError(f"training needs at least 3 pairs (train, validation, test); got {len(pairs)}")
    if len({pair.id for pair in pairs}) != len(pairs):
        raise MiaError("pair ids must be unique: the split is recorded by id")
    order = np.random.default_rng([options.seed, 1]).permutation(len(pairs))
    n_test = max(1, round(options.test_fraction * len(pairs)))
    n_val = max(1, round(options.validation_fraction * len(pairs)))
    if n_test + n_val >= len(pairs):
        raise MiaError(f"{len(pairs)} pairs are too few to split into train, validation and test")
    shuffled = [pairs[i] for i in order]
    return Split(
        test=shuffled[:n_test], validation=shuffled[n_test : n_test + n_val], train=shuffled[n_test + n_val :]
    )


@dataclass
class SampledSet:
    """Sampled token pairs of several text pairs: features float16 ``[N, F]``, labels, weights ``[N]``."""

    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    token_pairs: int  # all token pairs of the text pairs (before sampling)
    positives: int
    pairs: np.ndarray | None = None  # int32 [N]: the text pair (index into the pairs given) each row came from


def sampled_features(
    model: AttentionModel,
    pairs: Sequence[WindowedPair],
    *,
    sampling: Sampling,
    rng: np.random.Generator,
    batch_size: int = 1,
    progress: Progress = no_progress,
    description: str = "features",
    offsets: tuple[Offset, ...] = PAIR_ONLY,
) -> SampledSet:
    """Extract features of ``pairs`` (whole, or window pair by window pair) and keep every positive token pair
    and a weighted sample of negatives. Each token pair is taken once: from the window pair where both its tokens
    are most central (labels follow the same link rule in every window pair)."""
    buffer = RowBuffer(sampling.max_rows, rng)
    token_pairs = positives = 0
    for number, planned in enumerate(progress(pairs, description, len(pairs))):
        for i, j, features in iter_window_features(planned, model, batch_size=batch_size):
            gold, allowed = sample_window_rows(planned, i, j, features, buffer, rng, sampling, offsets, number)
            token_pairs += int(allowed.sum())
            positives += int((gold & allowed).sum())
    features_, labels, weights, pair_index = buffer.finish(model.layout.with_offsets(offsets).n_features)
    return SampledSet(features_, labels, weights, token_pairs=token_pairs, positives=positives, pairs=pair_index)


def sample_window_rows(
    planned: WindowedPair, a_index: int, b_index: int, features: PairFeatures, buffer: RowBuffer,
    rng: np.random.Generator, sampling: Sampling, offsets: tuple[Offset, ...], number: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add one window pair's sampled rows to ``buffer``: every positive and weighted negatives among the token
    pairs whose home is this window pair. Returns the window pair's gold labels and that home mask ``[n_a, n_b]``."""
    gold = token_labels(features.pair, features.a_spans, features.b_spans)
    a_home, b_home = home_masks(planned, a_index, b_index, features)
    allowed = a_home[:, None] & b_home[None, :]
    index, weight = sample_token_pairs(gold, rng, sampling, allowed=allowed)
    buffer.add(features.rows(index, offsets), gold.reshape(-1)[index], weight, number)
    return gold, allowed


def fit_pipeline(train: SampledSet, options: TrainOptions, *, chunk_rows: int = 65_536) -> Any:
    """Fit ``Pipeline(StandardScaler(), LogisticRegression())`` with the sampling weights.

    The steps are fitted one after the other to bound memory: the scaler with ``partial_fit`` over chunks of
    rows (its weighted statistics make float64 temporaries as large as their input), then it scales the float32
    transformed features in place, then the regression is fitted on them.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not train.labels.any() or train.labels.all():
        raise MiaError("the training pairs need both linked and unlinked token pairs; check the pairs' links")
    pipeline = make_pipeline(
        StandardScaler(copy=False),
        LogisticRegression(C=options.regularization_c, max_iter=2000, random_state=options.seed),
    )
    scaler, regression = pipeline[0], pipeline[-1]
    inputs = transform_features(train.features, options.transform)  # float32 [N, F], a new array
    for start in range(0, len(inputs), chunk_rows):
        scaler.partial_fit(inputs[start : start + chunk_rows], sample_weight=train.weights[start : start + chunk_rows])
    for start in range(0, len(inputs), chunk_rows):
        inputs[start : start + chunk_rows] = scaler.transform(inputs[start : start + chunk_rows])
    regression.fit(inputs, train.labels, sample_weight=train.weights)
    return pipeline


def detector_from_pipeline(
    pipeline: Any, model: AttentionModel, threshold: float, transform: FeatureTransform,
    offsets: tuple[Offset, ...] = PAIR_ONLY,
) -> Detector:
    scaler, regression = pipeline[0], pipeline[-1]
    return Detector(
        model_name=model.name,
        model_type=model.model_type,
        model_fingerprint=model.fingerprint,
        model_revision=model.revision,
        layout=model.layout.with_offsets(offsets),
        mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64),
        coef=regression.coef_[0].astype(np.float64),
        intercept=float(regression.intercept_[0]),
        threshold=threshold,
        transform=transform,
    )


def score_test_pairs(
    detector: Detector,
    model: AttentionModel,
    pairs: Sequence[WindowedPair],
    *,
    sampling: Sampling,
    rng: np.random.Generator,
    batch_size: int = 1,
    progress: Progress = no_progress,
) -> tuple[TestScores, SampledSet]:
    """Score every token pair of the test pairs with the detector (maximum over window pairs) and the baselines.

    Also returns a weighted sample of the test token pairs' features, for the per-head ROC AUC.
    """
    scores = TestScores()
    buffer = RowBuffer(sampling.max_rows, rng)
    for number, planned in enumerate(progress(pairs, "test pairs", len(pairs))):
        combined = np.zeros(planned.shape, dtype=np.float32)
        for i, j, features in iter_window_features(planned, model, batch_size=batch_size):
            combine_max(combined, planned, i, j, features, detector.probabilities(features))
            sample_window_rows(planned, i, j, features, buffer, rng, sampling, detector.layout.offsets, number)
        pair = planned.pair
        scores.add(token_labels(pair, planned.a_spans, planned.b_spans), combined,
                   [pair.a[s:e] for s, e in planned.a_spans], [pair.b[s:e] for s, e in planned.b_spans])
    rows, labels, weights, pair_index = buffer.finish(detector.layout.n_features)
    return scores, SampledSet(rows, labels, weights, token_pairs=scores.token_pairs, positives=scores.positives,
                              pairs=pair_index)


def describe_heads(
    detector: Detector, pipeline: Any, train: SampledSet, test_sample: SampledSet, auc: np.ndarray,
    model: AttentionModel, test_items: Sequence[WindowedPair], options: TrainOptions, *,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """The ``heads`` section of a detector's metadata: per head, the stable ranking, weights with bootstrap
    intervals (refits over training pairs) and head-type scores on the test pairs that fit the model whole."""
    started = time.perf_counter()
    rng = np.random.default_rng([options.seed, 3])
    coef_draws = bootstrap_coefficients(
        train.features, train.labels, train.weights, _pair_index(train), pipeline, transform=options.transform,
        refits=options.bootstrap, rng=rng, max_rows=options.bootstrap_rows)
    auc_draws = bootstrap_auc(test_sample.features[:, : detector.layout.heads_per_offset], test_sample.labels,
                              test_sample.weights, _pair_index(test_sample), draws=options.bootstrap, rng=rng)
    base = detector.layout.heads_per_offset  # AUC draws of the (i, j) columns; others NaN
    auc_draws = np.concatenate([auc_draws, np.full((len(auc_draws), len(auc) - base), np.nan)], axis=1)
    section = head_summary(detector.layout, detector.coef, coef_draws, auc, auc_draws)
    section["bootstrap"] = {
        "refits": options.bootstrap,
        "weights": f"regression refitted on resamples of the {len(np.unique(_pair_index(train)))} training pairs "
                   f"(with replacement), on at most {options.bootstrap_rows} of their rows, scaler kept",
        "auc": "each head's AUC on resamples of the test pairs",
        "interval": "AUC: 2.5th to 97.5th percentile; weights: that spread around the refits' median, placed around "
                    "the weight",
    }
    if options.head_types:
        whole = [item.whole for item in test_items if item.whole is not None]
        types = pattern_scores(model, whole, progress=lambda items: progress(items, "head types", len(whole)))
        section["types"] = types.to_dict()
        section["types"]["on"] = "test pairs that fit the model whole (longer ones would need window pairs)"
    section["seconds"] = round(time.perf_counter() - started, 1)
    return section


def _pair_index(sample: SampledSet) -> np.ndarray:
    return sample.pairs if sample.pairs is not None else np.zeros(len(sample.labels), np.int32)


def head_auc(sample: SampledSet) -> np.ndarray:
    """Each feature's own ROC AUC as a one-feature detector, weighted; float64 ``[F]``."""
    return np.array([
        ranking_metrics(sample.labels, sample.features[:, k].astype(np.float32), sample.weights)[1]
        for k in range(sample.features.shape[1])
    ])


def train_detector(
    model: AttentionModel,
    pairs: Sequence[Pair] | TrainingData,
    options: TrainOptions | None = None,
    *,
    progress: Progress = no_progress,
) -> Detector:
    """Train a detector on ``pairs`` (of any length) and measure it on held-out pairs.

    ``pairs``: a list of pairs, or :class:`~mia.detector.data.TrainingData` (pairs with their provenance, from
    :func:`~mia.detector.data.generated_data` or :func:`~mia.detector.data.pair_file_data`), recorded in the
    metadata. Pairs longer than the model run as window pairs (:mod:`mia.detector.windowed`). The returned detector's
    ``metadata["metrics"]`` holds the held-out metrics of the detector and the baselines.
    """
    started = time.perf_counter()
    options = TrainOptions() if options is None else options
    training = given_pairs(pairs)
    data, pairs = training.record, training.pairs
    relation = options.relation or training.relation
    split = split_pairs(pairs, options)  # no pair is left out for its length: longer ones run as windows
    planned = {pair.id: plan_pair(model, pair) for pair in pairs}  # ids are unique: split_pairs checked
    columns = model.layout.with_offsets(options.offsets).n_features
    sampling = Sampling(neg_per_pos=options.neg_per_pos, min_negatives=options.min_negatives,
                        max_rows=min(options.max_rows, options.max_cells // columns))
    rng = np.random.default_rng([options.seed, 2])
    train_items, validation_items, test_items = (
        [planned[pair.id] for pair in part] for part in (split.train, split.validation, split.test)
    )
    batch_size = options.batch_size
    train = sampled_features(model, train_items, sampling=sampling, rng=rng, batch_size=batch_size,
                             progress=progress, description="train pairs", offsets=options.offsets)
    held_out = replace(sampling, max_rows=max(sampling.max_rows // 4, 1))  # threshold and head AUC need fewer rows
    validation = sampled_features(model, validation_items, sampling=held_out, rng=rng, batch_size=batch_size,
                                  progress=progress, description="validation pairs", offsets=options.offsets)
    pipeline = fit_pipeline(train, options)
    detector = detector_from_pipeline(
        pipeline, model, threshold=0.5, transform=options.transform, offsets=options.offsets
    )
    validation_probability = detector.link_probability(validation.features)
    detector.threshold = best_f1_threshold(validation.labels, validation_probability, validation.weights)
    scores, test_sample = score_test_pairs(detector, model, test_items, sampling=held_out, rng=rng,
                                           batch_size=batch_size, progress=progress)
    auc = head_auc(test_sample)
    detector.metadata = {
        "relation": relation,
        "decode": options.decode,
        "seed": options.seed,
        "options": {**options.to_dict(), "relation": relation},
        "threshold_rule": "maximum F1 on the validation pairs (weighted sampled token pairs)",
        "imbalance": sampling.to_dict(),
        "data": {
            **data,
            "pairs": len(pairs),
            "windowed_pairs": sum(item.whole is None for item in planned.values()),
            "windows": "pairs longer than the model run as window pairs; each token pair is sampled once, from "
            "the window pair where both tokens are most central; test scores: " + COMBINE_RULE,
            "train_token_pairs": train.token_pairs,
            "train_positives": train.positives,
            "train_sampled_rows": len(train.labels),
            "validation_token_pairs": validation.token_pairs,
            "test_token_pairs": scores.token_pairs,
            "test_positives": scores.positives,
        },
        "split": split.to_dict(),
        "metrics": {
            "evaluated_on": "every token pair of the held-out test pairs",
            "threshold": detector.threshold,
            "scorers": scores.metrics(detector.threshold),
        },
        "head_roc_auc": auc.round(4).tolist(),
        "head_roc_auc_on": "test pairs, all positives and weighted sampled negatives",
        "heads": describe_heads(detector, pipeline, train, test_sample, auc, model, test_items, options,
                                progress=progress),
        "training_seconds": round(time.perf_counter() - started, 1),
        "trained_with": f"mia {__version__}",
    }
    return detector
