import numpy as np
import pytest

from mia.evaluate.metrics import precision_recall_f1, scorer_metrics
from mia.training.training import best_f1_threshold


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


def test_best_f1_threshold_never_cuts_inside_a_tie():
    # 0.5 holds two positives and one negative: a cut can take all three or none, never two of them
    score = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    y = np.array([1, 1, 0, 1, 0], dtype=bool)
    assert best_f1_threshold(y, score) == pytest.approx(0.5)  # all of the tie: F1 6/7 beats 0.9 alone (2/4)
    # a cut after the tie's first item (a positive) would score F1 2/3 and win; the whole tie scores 2/5, so 0.1
    tied = np.array([0.5, 0.5, 0.5, 0.1])
    assert best_f1_threshold(np.array([1, 0, 0, 1], dtype=bool), tied) == pytest.approx(0.1)


def test_best_f1_threshold_follows_the_weights():
    score = np.array([0.9, 0.6, 0.4])
    y = np.array([1, 0, 1], dtype=bool)
    assert best_f1_threshold(y, score) == pytest.approx(0.4)  # unweighted: F1 0.8 at 0.4, 2/3 at 0.9
    heavy = np.array([1.0, 10.0, 1.0])  # the negative at 0.6 stands for ten
    assert best_f1_threshold(y, score, heavy) == pytest.approx(0.9)


def test_scorer_metrics_perfect_scorer():
    y = np.array([0, 1, 0, 1], dtype=bool)
    m = scorer_metrics(y, y.astype(float), y)
    assert m == {"average_precision": 1.0, "roc_auc": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
