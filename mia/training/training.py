"""Training, and only training: split pairs, extract attention features, fit
``Pipeline(StandardScaler, LogisticRegression)`` and choose the threshold on validation pairs.

Splits are by pair: all token pairs of one text pair are in exactly one of train, validation and test; the test
pairs are set aside untouched. Measuring the detector on them beside the baselines is :mod:`mia.evaluate`'s work,
describing its heads :mod:`mia.heads`', and :func:`mia.workflow.train_detector` composes the three.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from mia._version import __version__
from mia.alignment.decoding import Decode
from mia.alignment.windowed import COMBINE_RULE, WindowedPair, home_masks, iter_window_features, plan_pair
from mia.detector.detector import Detector
from mia.detector.record import FeatureTransform
from mia.detector.scoring import transform_features
from mia.errors import MiaError
from mia.models.attention import AttentionModel
from mia.models.blocks import PairFeatures, SideReader
from mia.models.layout import PAIR_ONLY, WIDE_CONTEXT, Offset, normalise_offsets
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair, pair_hash, token_labels
from mia.training.data import TrainingData, given_pairs
from mia.training.sampling import (
    RowBuffer,
    Sampling,
    releasable_rows,
    release_rows,
    sample_token_pairs,
    trim_heap,
)


@dataclass
class TrainOptions:
    """Options of :func:`fit_detector` (recorded in the detector's metadata)."""

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
    relation: str | None = None  # None: the training data's own (see mia.training.data)
    decode: Decode = "mutual-argmax"  # word alignment decoding the detector recommends (see mia.alignment.decoding)

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
    """Sampled token pairs of several text pairs: features ``[N, F]``, labels, weights ``[N]``.

    ``features`` are float16 attention weights, or, when ``inputs`` names a transform, the regression's float32
    inputs ``t(attention)``; :func:`fit_pipeline` standardises such inputs in place and sets ``standardised``.
    After a fit that consumed attention rows (training's), they are the standardised inputs rounded to float16.
    """

    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    token_pairs: int  # all token pairs of the text pairs (before sampling)
    positives: int
    pairs: np.ndarray | None = None  # int32 [N]: the text pair (index into the pairs given) each row came from
    inputs: FeatureTransform | None = None  # None: attention weights; else the transform the features went through
    standardised: bool = False  # the fit's scaler has been applied to the features (in place)


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
    also: SideReader | None = None,
) -> SampledSet:
    """Extract features of ``pairs`` (whole, or window pair by window pair) and keep every positive token pair
    and a weighted sample of negatives, as float16 attention weights. Each token pair is taken once: from the window
    pair where both its tokens are most central (labels follow the same link rule in every window pair).

    ``also``: a second reader of the pairs that fit the model whole, served by the same forward pass."""
    buffer = RowBuffer(sampling.max_rows, rng, dtype=np.float16)
    token_pairs = positives = 0
    for number, planned in enumerate(progress(pairs, description, len(pairs))):
        reader = also if planned.whole is not None else None
        for i, j, features in iter_window_features(planned, model, batch_size=batch_size, also=reader):
            gold, allowed = sample_window_rows(planned, i, j, features, buffer, rng, sampling, offsets, number)
            token_pairs += int(allowed.sum())
            positives += int((gold & allowed).sum())
    features_, labels, weights, pair_index = buffer.finish(model.layout.with_offsets(offsets).n_features)
    return SampledSet(features_, labels, weights, token_pairs=token_pairs, positives=positives, pairs=pair_index)


def sample_window_rows(
    planned: WindowedPair, a_index: int, b_index: int, features: PairFeatures, buffer: RowBuffer,
    rng: np.random.Generator, sampling: Sampling, offsets: tuple[Offset, ...], number: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add one window pair's sampled rows to ``buffer`` (as attention weights): every positive and weighted
    negatives among the token pairs whose home is this window pair. Returns the window pair's gold labels and that
    home mask ``[n_a, n_b]``."""
    gold = token_labels(features.pair, features.a_spans, features.b_spans)
    a_home, b_home = home_masks(planned, a_index, b_index, features)
    allowed = a_home[:, None] & b_home[None, :]
    index, weight = sample_token_pairs(gold, rng, sampling, allowed=allowed)
    buffer.add(features.rows(index, offsets), gold.reshape(-1)[index], weight, number)
    return gold, allowed


def fit_pipeline(train: SampledSet, options: TrainOptions, *, chunk_rows: int = 8_192, consume: bool = False) -> Any:
    """Fit ``Pipeline(StandardScaler(), LogisticRegression())`` with the sampling weights.

    The steps are fitted one after the other to bound memory: the scaler with ``partial_fit`` over chunks of
    rows (its weighted statistics make float64 temporaries several times as large as their input: 8,192 rows x
    1,296 columns make about 0.3 GB), then the float32 inputs are scaled chunk by chunk, then the regression (lbfgs
    keeps float32) is fitted on them. Inputs are ``train.features`` themselves when they are already transformed
    (``train.inputs``): they end standardised (``train.standardised``); else a float32 transformed copy.

    ``consume`` (float16 attention rows only; what training does): the attention rows are handed back to the
    operating system as their inputs are made (:func:`~mia.training.sampling.release_rows`), and after the fit the
    float32 inputs likewise as they are rounded into ``train.features``, which then holds the standardised inputs as
    float16 (for the refits that describe the heads): the attention rows and the inputs are never whole in memory
    together. The fit itself is the same as without ``consume``.
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
    if train.standardised:
        raise ValueError("these rows were standardised by an earlier fit")
    if train.inputs not in (None, options.transform):
        raise ValueError(f"rows transformed by {train.inputs!r}, the fit asks for {options.transform!r}")
    if consume and train.inputs is not None:
        raise ValueError("consume applies to attention rows (SampledSet.inputs None)")
    rows = train.features
    starts = range(0, len(rows), chunk_rows)

    def inputs_of(start: int, size: int) -> np.ndarray:  # float32 [size, F]: rows transformed (a copy) or as they are
        chunk = rows[start : start + size]
        return chunk if train.inputs is not None else transform_features(chunk, options.transform)

    for start in starts:
        scaler.partial_fit(inputs_of(start, chunk_rows), sample_weight=train.weights[start : start + chunk_rows])
    inputs = rows if train.inputs is not None else releasable_rows(len(rows), rows.shape[1], np.float32)
    small = max(chunk_rows // 8, 1)  # scaling is per element: smaller chunks give the same values, fewer temporaries
    for start in range(0, len(rows), small):
        inputs[start : start + small] = scaler.transform(inputs_of(start, small))
        if consume:
            release_rows(rows, start, start + small)
    train.standardised = inputs is train.features
    regression.fit(inputs, train.labels, sample_weight=train.weights)
    if consume:  # the standardised inputs, rounded to float16, replace the attention rows (released above)
        import torch

        kept = releasable_rows(len(inputs), inputs.shape[1], np.float16)
        for start in range(0, len(inputs), small):  # torch rounds to float16 as numpy does, four times as fast;
            block = slice(start, start + small)  # small blocks: each is written before its float32 rows go
            torch.from_numpy(kept[block]).copy_(torch.from_numpy(inputs[block]))
            release_rows(inputs, start, start + small)
        train.features, train.inputs, train.standardised = kept, options.transform, True
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


def best_f1_threshold(y_true: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The score threshold (decide ``score >= threshold``) with the highest (weighted) F1."""
    w = np.ones(len(y_true)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    sorted_score, sorted_true, sorted_w = score[order], y_true[order].astype(bool), w[order]
    tp = np.cumsum(sorted_w * sorted_true)
    predicted = np.cumsum(sorted_w)
    actual = float(sorted_w[sorted_true].sum())
    if actual == 0:
        return float(sorted_score[0]) if len(score) else 0.5
    last_of_tie = np.r_[sorted_score[1:] != sorted_score[:-1], True]  # cut only between distinct scores
    f1 = np.where(last_of_tie, 2 * tp / (predicted + actual), -1.0)
    return float(sorted_score[int(np.argmax(f1))])



@dataclass
class TrainingRun:
    """What :func:`fit_detector` made: the detector (fitted, threshold chosen, its training recorded), the split,
    each pair planned for the model (by id), and the training rows (the fit's standardised inputs rounded to
    float16, for the refits that describe its heads)."""

    detector: Detector
    split: Split
    planned: dict[str, WindowedPair]
    train: SampledSet
    sampling: Sampling
    pipeline: Any

    def items(self, pairs: Sequence[Pair]) -> list[WindowedPair]:
        return [self.planned[pair.id] for pair in pairs]


def fit_detector(
    model: AttentionModel,
    pairs: Sequence[Pair] | TrainingData,
    options: TrainOptions | None = None,
    *,
    progress: Progress = no_progress,
) -> TrainingRun:
    """Fit a detector on the training part of ``pairs`` (of any length) and choose its threshold on the validation
    part; the test part is left untouched (see :func:`mia.workflow.train_detector` for the whole run).

    ``pairs``: a list of pairs, or :class:`~mia.training.data.TrainingData` (pairs with their provenance, from
    :func:`~mia.training.data.generated_data` or :func:`~mia.training.data.pair_file_data`), recorded in the
    metadata. Pairs longer than the model run as window pairs (:mod:`mia.alignment.windowed`).
    """
    started = time.perf_counter()
    options = TrainOptions() if options is None else options
    training = given_pairs(pairs)
    data, pairs = training.record, training.pairs
    relation = options.relation or training.relation
    split = split_pairs(pairs, options)  # no pair is left out for its length: longer ones run as windows
    # every window pair of a long pair: labels and sampled rows come from all of them (ids are unique: checked)
    planned = {pair.id: plan_pair(model, pair, candidates="all") for pair in pairs}
    columns = model.layout.with_offsets(options.offsets).n_features
    sampling = Sampling(neg_per_pos=options.neg_per_pos, min_negatives=options.min_negatives,
                        max_rows=min(options.max_rows, options.max_cells // columns))
    rng = np.random.default_rng([options.seed, 2])
    batch_size = options.batch_size
    # float16 attention rows, consumed by the fit (half the memory of float32 inputs; see fit_pipeline)
    train = sampled_features(model, [planned[p.id] for p in split.train], sampling=sampling, rng=rng,
                             batch_size=batch_size, progress=progress, description="train pairs",
                             offsets=options.offsets)
    model.attention_buffers.release()  # the fit's peak holds none of the model's attention storage
    trim_heap()
    pipeline = fit_pipeline(train, options, consume=True)
    detector = detector_from_pipeline(
        pipeline, model, threshold=0.5, transform=options.transform, offsets=options.offsets
    )
    # after the fit, so that its rows are not in memory during it (the generator draws in the same order as before)
    validation = sampled_features(model, [planned[p.id] for p in split.validation], sampling=held_out(sampling),
                                  rng=rng, batch_size=batch_size, progress=progress,
                                  description="validation pairs", offsets=options.offsets)
    validation_probability = detector.link_probability(validation.features)
    detector.threshold = best_f1_threshold(validation.labels, validation_probability, validation.weights)
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
        },
        "split": split.to_dict(),
        "training_seconds": round(time.perf_counter() - started, 1),
        "trained_with": f"mia {__version__}",
    }
    return TrainingRun(detector, split, planned, train, sampling, pipeline)


def held_out(sampling: Sampling) -> Sampling:
    """The sampling of validation and test rows: a quarter of the training rows suffice for a threshold or an AUC."""
    return replace(sampling, max_rows=max(sampling.max_rows // 4, 1))
