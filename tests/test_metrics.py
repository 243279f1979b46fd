import numpy as np
import pytest

from mia.evaluate.metrics import best_f1_threshold, precision_recall_f1, scorer_metrics


def test_precision_recall_f1_by_hand():
    y = np.array([1, 1, 0, 0, 1], dtype=bool)
    d = np.array([1, 0, 1, 0, 1], dtype=bool)
    assert precision_recall_f1(y, d) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    w = np.array([1, 1, 4, 1, 1.0])  # the false positive counts four times
    assert precision_recall_f1(y, d, w)[0] == pytest.approx(2 / 6)


def test_best_f1_threshold_cuts_between_classes():
    score = np.array([0.9, 0.8, 0.7, 0.3, 0.2])
    y = np.array([1, 1, 1, 0, 0], dtype=bool)
    assert best_f1_threshold(y, score) == pytest.approx(0.7)


def test_scorer_metrics_perfect_scorer():
    y = np.array([0, 1, 0, 1], dtype=bool)
    m = scorer_metrics(y, y.astype(float), y)
    assert m == {"average_precision": 1.0, "roc_auc": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
