"""A whole training run, as ``mia train`` makes it: fit, measure on the held-out pairs, describe the heads.

Each stage lives in its own layer (:func:`mia.training.training.fit_detector` trains and only trains;
:func:`mia.evaluate.evaluation.evaluate_detector` measures; :func:`mia.heads.description.describe_heads` describes);
this module composes them, for the command line and for a notebook alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.evaluate.evaluation import HEADLINE, evaluate_detector
from mia.heads.description import DescribeOptions, describe_heads
from mia.models.attention import AttentionModel
from mia.models.embedding import EmbeddingLayer, resolve_embedding_layer
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair
from mia.training.data import TrainingData
from mia.training.training import TrainOptions, fit_detector


def train_detector(
    model: AttentionModel,
    pairs: Sequence[Pair] | TrainingData,
    options: TrainOptions | None = None,
    heads: DescribeOptions | None = None,
    *,
    embedding_layer: EmbeddingLayer = "middle",
    progress: Progress = no_progress,
) -> Detector:
    """Train a detector on ``pairs`` and measure it: the returned detector's ``metadata["metrics"]`` holds its
    held-out measures (word-level P/R/F1 of its decoded links beside the string baselines, then token level, on the
    test pairs set aside by the split; the embedding aligner of the same model beside them at ``embedding_layer``),
    and ``metadata["heads"]`` its heads' rankings, intervals and types."""
    started = time.perf_counter()
    layer = resolve_embedding_layer(model, embedding_layer)  # a layer the model lacks: an error now, not after the fit
    options = TrainOptions() if options is None else options
    heads = DescribeOptions(seed=options.seed) if heads is None else heads
    run = fit_detector(model, pairs, options, progress=progress)
    detector = run.detector
    # one pass over the test pairs: the heads' description reads them, and the detector's probabilities of the pairs
    # that fit whole are taken from the same pass for the evaluation (the same values as a pass of their own)
    scores: dict[str, np.ndarray] = {}  # pair id -> float32 [n_a, n_b]
    described = describe_heads(detector, model, run, heads, also=detector.probability_reader(model, scores),
                               progress=progress)
    try:
        evaluation = evaluate_detector(detector, model, run.split.test, decode=detector.decode,
                                       whole_probabilities=scores, embedding_layer=layer,
                                       progress=progress)
        detector.metadata["metrics"] = evaluation.card()
    except MiaError as error:  # e.g. every test pair repeats a training pair's texts: nothing held out to measure
        detector.metadata["metrics"] = {"headline": HEADLINE, "unmeasured": " ".join(str(error).split())}
    detector.metadata.update(described)
    detector.metadata["training_seconds"] = round(time.perf_counter() - started, 1)
    return detector
