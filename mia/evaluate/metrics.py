"""Metrics of a scorer on labelled token pairs: average precision, ROC AUC, precision / recall / F1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def f1_score(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall (0 when both are 0): the one F1 of every measure mia prints."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def precision_recall_f1(
    y_true: np.ndarray, decision: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Precision, recall and F1 of boolean decisions (optionally weighted)."""
    w = np.ones(len(y_true)) if weights is None else weights
    y_true, decision = y_true.astype(bool), decision.astype(bool)
    tp = float(w[y_true & decision].sum())
    predicted, actual = float(w[decision].sum()), float(w[y_true].sum())
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    return precision, recall, f1_score(precision, recall)


def ranking_metrics(
    y_true: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Average precision and ROC AUC of a score (NaN where only one class is present)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if y_true.all() or not y_true.any():
        return float("nan"), float("nan")
    return (
        float(average_precision_score(y_true, score, sample_weight=weights)),
        float(roc_auc_score(y_true, score, sample_weight=weights)),
    )


def scorer_metrics(
    y_true: np.ndarray, score: np.ndarray, decision: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """All metrics of one scorer: ``average_precision``, ``roc_auc``, ``precision``, ``recall``, ``f1``."""
    average_precision, roc_auc = ranking_metrics(y_true, score, weights)
    precision, recall, f1 = precision_recall_f1(y_true, decision, weights)
    return {
        "average_precision": average_precision,
        "roc_auc": roc_auc,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


RANKING_COLUMNS = (("average_precision", "AP"), ("roc_auc", "ROC AUC"), ("precision", "P"), ("recall", "R"),
                   ("f1", "F1"))


def metrics_table(
    rows: dict[str, dict[str, Any]], *, title: str = "", columns: Sequence[tuple[str, str]] = RANKING_COLUMNS
) -> str:
    """A plain-text table: one row per scorer, one column per ``(key, label)`` (default AP, ROC AUC, P, R, F1)."""
    width = max([len(name) for name in rows] + [10])
    lines = [title] if title else []
    lines.append(f"{'':<{width}}  " + "  ".join(f"{label:>7}" for _, label in columns))
    for name, values in rows.items():
        cells = []
        for key, _ in columns:
            value = values.get(key)
            cells.append(f"{value:7.3f}" if isinstance(value, float) and value == value else f"{'-':>7}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


SCORE_BITS_DROPPED = 8  # streamed scores keep 15 of float32's 23 mantissa bits: relative steps of 2 ** -15
MERGE_PENDING = 1 << 20  # distinct keys held unmerged before they are folded into the tally


def auc_of_tallies(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC from the positive and negative weight at each distinct score, in ascending score order ``[K]``; ties
    count one half, as in scikit-learn's ``roc_auc_score``. NaN where a class has no weight."""
    total_positive, total_negative = float(positive.sum()), float(negative.sum())
    if total_positive <= 0 or total_negative <= 0:
        return float("nan")
    below = np.cumsum(negative) - negative  # negative weight at strictly lower scores
    return float((positive * (below + 0.5 * negative)).sum() / (total_positive * total_negative))


def score_keys(score: np.ndarray, *, drop_bits: int = SCORE_BITS_DROPPED) -> np.ndarray:
    """Order-preserving uint32 keys of scores ``[N]`` (as float32; -0 and +0 equal): ``a < b`` gives ``key(a) <=
    key(b)``, equal floats equal keys; the lowest ``drop_bits`` bits of the mantissa are dropped, so values within
    a relative ``2 ** (drop_bits - 23)`` of each other may share a key (a tie). NaN is not expected."""
    bits = (np.asarray(score, np.float32).reshape(-1) + np.float32(0.0)).view(np.uint32)
    negative = (bits & np.uint32(0x80000000)) != 0
    keys = np.where(negative, ~bits, bits | np.uint32(0x80000000))  # negatives reversed, below the positives
    return keys >> np.uint32(drop_bits)


ADD_BLOCK = 1 << 20  # values per step of RankingTally.add


class RankingTally:
    """Average precision and ROC AUC of a score, added part by part (pair by pair), in memory bounded by the number
    of distinct (binned) scores rather than the number of token pairs.

    Each score is reduced to :func:`score_keys` (15 mantissa bits kept by default; ``drop_bits=0`` keeps every
    float32 value apart, which is exactly scikit-learn's result); per key the weight of positives and negatives is
    summed. AP is the step sum over distinct thresholds, as ``average_precision_score``; AUC counts ties one half,
    as ``roc_auc_score``. Whole-part metrics of the binned scores do not depend on the order parts arrive in.
    """

    def __init__(self, *, drop_bits: int = SCORE_BITS_DROPPED) -> None:
        self.drop_bits = drop_bits
        self.keys: np.ndarray = np.zeros(0, np.uint32)  # sorted, distinct
        self.positive: np.ndarray = np.zeros(0)  # float64 weight per key
        self.negative: np.ndarray = np.zeros(0)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    def add(self, labels: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> None:
        """One part: bool labels and scores of the same shape (flattened), optional weights; taken
        :data:`ADD_BLOCK` values at a time, so that the sort's temporaries (about 40 bytes a value) stay bounded
        however large the part (the same tallies: each block is a part of its own)."""
        labels, score = np.asarray(labels, bool).reshape(-1), np.asarray(score).reshape(-1)
        w = None if weights is None else np.asarray(weights, np.float64).reshape(-1)
        for start in range(0, len(labels), ADD_BLOCK):
            block = slice(start, start + ADD_BLOCK)
            self._add_block(labels[block], score[block], None if w is None else w[block])

    def _add_block(self, labels: np.ndarray, score: np.ndarray, weights: np.ndarray | None) -> None:
        keys, group = np.unique(score_keys(score, drop_bits=self.drop_bits), return_inverse=True)
        w = np.ones(len(labels)) if weights is None else weights
        group = group.reshape(-1)
        positive = np.bincount(group, weights=w * labels, minlength=len(keys))
        negative = np.bincount(group, weights=w * ~labels, minlength=len(keys))
        self._pending.append((keys, positive, negative))
        self._pending_size += len(keys)
        if self._pending_size > MERGE_PENDING:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        parts = [(self.keys, self.positive, self.negative), *self._pending]
        keys, group = np.unique(np.concatenate([part[0] for part in parts]), return_inverse=True)
        self.positive = np.bincount(group, weights=np.concatenate([part[1] for part in parts]), minlength=len(keys))
        self.negative = np.bincount(group, weights=np.concatenate([part[2] for part in parts]), minlength=len(keys))
        self.keys = keys
        self._pending, self._pending_size = [], 0

    def metrics(self) -> tuple[float, float]:
        """Average precision and ROC AUC (NaN where only one class has weight)."""
        self._merge()
        auc = auc_of_tallies(self.positive, self.negative)
        if auc != auc:  # a class has no weight
            return float("nan"), float("nan")
        true_positive = np.cumsum(self.positive[::-1])  # thresholds from the highest score down
        predicted = true_positive + np.cumsum(self.negative[::-1])
        recall_step = self.positive[::-1] / float(self.positive.sum())
        precision = np.divide(true_positive, predicted, out=np.zeros_like(predicted), where=predicted > 0)
        return float((recall_step * precision).sum()), auc


class DecisionCounts:
    """Precision, recall and F1 of boolean decisions, added part by part."""

    def __init__(self) -> None:
        self.hits = self.predicted = self.actual = 0.0

    def add(self, labels: np.ndarray, decision: np.ndarray) -> None:
        labels, decision = np.asarray(labels, bool).reshape(-1), np.asarray(decision, bool).reshape(-1)
        self.hits += int(np.count_nonzero(labels & decision))
        self.predicted += int(np.count_nonzero(decision))
        self.actual += int(np.count_nonzero(labels))

    def metrics(self) -> tuple[float, float, float]:
        precision = self.hits / self.predicted if self.predicted else 0.0
        recall = self.hits / self.actual if self.actual else 0.0
        return precision, recall, f1_score(precision, recall)
