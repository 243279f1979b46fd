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
