"""What a trained detector's heads are: each head's own held-out ROC AUC, bootstrap intervals of its weight and AUC,
and its head-type scores, measured once after training and kept in ``detector.json`` (``heads``,
``head_roc_auc``), so that ``heads`` and ``report`` read them without a model.

* Weights: the regression refitted on resamples of the training *pairs* (:mod:`mia.heads.bootstrap`), on the
  training rows :func:`~mia.training.training.fit_detector` sampled.
* AUC: each feature column alone as a detector, on a weighted sample of the test pairs' token pairs (all positives,
  sampled negatives), and on resamples of those pairs.
* Types: copy, duplicate, retrieval, ... scores (:mod:`mia.models.head_patterns`) on the test pairs that fit the
  model whole, read in the same forward passes as the AUC rows.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mia.detector.detector import Detector
from mia.heads.bootstrap import bootstrap_auc, bootstrap_coefficients, column_auc, head_summary
from mia.models.attention import AttentionModel
from mia.models.blocks import SideReader, joined_readers
from mia.models.head_patterns import PatternScores, pattern_reader
from mia.progress import Progress, no_progress
from mia.training.sampling import trim_heap
from mia.training.training import SampledSet, TrainingRun, held_out, sampled_features

AUC_ON = "test pairs, all positives and weighted sampled negatives"


@dataclass(frozen=True)
class DescribeOptions:
    """How the heads are described (recorded under ``heads.bootstrap``)."""

    bootstrap: int = 30  # refits on resamples of the training pairs, for the heads' weight intervals (0: none)
    bootstrap_rows: int = 50_000  # training rows each refit sees (thinned uniformly, weights scaled)
    head_types: bool = True  # score each head's attention patterns on the test pairs (mia.models.head_patterns)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def head_auc(sample: SampledSet) -> np.ndarray:
    """Each feature's own ROC AUC as a one-feature detector, weighted; float64 ``[F]``."""
    return column_auc(sample.features, sample.labels, sample.weights, np.ones((1, len(sample.labels))))[0]


def pair_index(sample: SampledSet) -> np.ndarray:
    return sample.pairs if sample.pairs is not None else np.zeros(len(sample.labels), np.int32)


def describe_heads(
    detector: Detector, model: AttentionModel, run: TrainingRun, options: DescribeOptions = DescribeOptions(), *,
    also: SideReader | None = None, progress: Progress = no_progress,
) -> dict[str, Any]:
    """The ``head_roc_auc`` and ``heads`` sections of ``detector``'s metadata, from the training run that made it:
    per head, the stable ranking, weights with bootstrap intervals and head-type scores (module docstring).
    ``also``: another reader of the test pairs' forward passes (pairs that fit whole), as head types are read."""
    started = time.perf_counter()
    test_items = run.items(run.split.test)
    rng = np.random.default_rng([options.seed, 4])
    types = PatternScores(model.layout.layers, model.layout.heads) if options.head_types else None
    readers = [reader for reader in (None if types is None else pattern_reader(model, types), also)
               if reader is not None]
    test = sampled_features(  # head types are scored in the same forward passes, on the pairs that fit whole
        model, test_items, sampling=held_out(run.sampling), rng=rng, progress=progress,
        description="test pairs (head AUC, head types)" if types is not None else "test pairs (head AUC)",
        offsets=detector.layout.offsets, also=joined_readers(*readers) if readers else None)
    auc = head_auc(test)
    base = detector.layout.heads_per_offset  # AUC draws of the (i, j) columns; others NaN
    test.features = np.ascontiguousarray(test.features[:, :base])  # all the draws read: the rest is freed
    trim_heap()  # the refits' buffer comes next: freed memory goes back first
    rng = np.random.default_rng([options.seed, 3])
    coef_draws = bootstrap_coefficients(
        run.train.features, run.train.labels, run.train.weights, pair_index(run.train), run.pipeline,
        transform=detector.transform, refits=options.bootstrap, rng=rng, max_rows=options.bootstrap_rows,
        standardised=run.train.standardised)
    auc_draws = bootstrap_auc(test.features, test.labels, test.weights, pair_index(test),
                              draws=options.bootstrap, rng=rng)
    auc_draws = np.concatenate([auc_draws, np.full((len(auc_draws), len(auc) - base), np.nan)], axis=1)
    section = head_summary(detector.layout, detector.coef, coef_draws, auc, auc_draws)
    section["bootstrap"] = {
        "refits": options.bootstrap,
        "weights": f"regression refitted on resamples of the {len(np.unique(pair_index(run.train)))} training pairs "
                   f"(with replacement), on at most {options.bootstrap_rows} of their rows, scaler kept",
        "auc": "each head's AUC on resamples of the test pairs",
        "interval": "AUC: 2.5th to 97.5th percentile; weights: that spread around the refits' median, placed around "
                    "the weight",
    }
    if types is not None:
        section["types"] = types.to_dict()
        section["types"]["on"] = "test pairs that fit the model whole (longer ones would need window pairs)"
    section["seconds"] = round(time.perf_counter() - started, 1)
    return {"head_roc_auc": auc.round(4).tolist(), "head_roc_auc_on": AUC_ON, "heads": section}
