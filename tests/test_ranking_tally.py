"""The streamed AP / ROC AUC tally against scikit-learn, and its independence from how the parts are cut."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from mia.evaluate.metrics import DecisionCounts, RankingTally, precision_recall_f1, score_keys


def scores_with_ties(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.random(n) < 0.2
    score = np.round(rng.random(n) + 0.5 * labels, 2).astype(np.float32)  # rounded: many ties
    return labels, score


@pytest.mark.parametrize("seed", range(5))
def test_exact_keys_give_scikit_learns_numbers(seed):
    rng = np.random.default_rng(seed)
    labels, score = scores_with_ties(rng, 3_000)
    weights = rng.random(3_000) * 3
    tally = RankingTally(drop_bits=0)
    for part in np.array_split(np.arange(3_000), 7):
        tally.add(labels[part], score[part], weights[part])
    ap, auc = tally.metrics()
    assert ap == pytest.approx(average_precision_score(labels, score, sample_weight=weights), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(labels, score, sample_weight=weights), abs=1e-12)


def test_binned_keys_are_exact_for_the_binned_scores_and_close_to_the_raw_ones():
    rng = np.random.default_rng(0)
    labels = rng.random(50_000) < 0.01  # linked token pairs are rare, as in text pairs
    score = (1 / (1 + np.exp(-(rng.normal(size=50_000) * 3 + 8 * labels - 6)))).astype(np.float32)
    tally = RankingTally()
    tally.add(labels, score)
    ap, auc = tally.metrics()
    keys = score_keys(score).astype(np.float64)  # the binned scores, in order
    assert ap == pytest.approx(average_precision_score(labels, keys), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(labels, keys), abs=1e-12)
    assert abs(ap - average_precision_score(labels, score)) < 1e-4  # 3.5e-5 here: ties inside a bin
    assert abs(auc - roc_auc_score(labels, score)) < 1e-6


def test_keys_keep_the_order_of_negative_positive_and_signed_zero_scores():
    values = np.array([-np.inf, -3.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 1.0, 7e5, np.inf], np.float32)
    keys = score_keys(values, drop_bits=0)
    assert (np.diff(keys.astype(np.int64)) >= 0).all()
    assert keys[3] == keys[4]  # -0 and +0
    assert len(np.unique(keys)) == len(values) - 1
    assert (np.diff(score_keys(values).astype(np.int64)) >= 0).all()  # binned: order kept, ties allowed


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 20)), min_size=2, max_size=200), st.integers(1, 6),
       st.integers(0, 2**31))
def test_parts_in_any_cut_and_order_give_the_same_numbers(rows, parts, seed):
    labels = np.array([label for label, _ in rows])
    score = np.array([value for _, value in rows], np.float32) / 4
    whole = RankingTally()
    whole.add(labels, score)
    order = np.random.default_rng(seed).permutation(len(rows))
    pieces = RankingTally()
    for part in np.array_split(order, parts):
        pieces.add(labels[part], score[part])
    a, b = whole.metrics(), pieces.metrics()
    if labels.all() or not labels.any():
        assert np.isnan(a).all() and np.isnan(b).all()
    else:
        assert a == pytest.approx(b, abs=1e-12)
        assert a[1] == pytest.approx(roc_auc_score(labels, score), abs=1e-12)


def test_decision_counts_match_the_one_shot_measure():
    rng = np.random.default_rng(1)
    labels, decision = rng.random(500) < 0.3, rng.random(500) < 0.4
    counts = DecisionCounts()
    for part in np.array_split(np.arange(500), 3):
        counts.add(labels[part], decision[part])
    assert counts.metrics() == pytest.approx(precision_recall_f1(labels, decision))


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_a_part_taken_in_blocks_gives_the_same_tallies(block, monkeypatch):
    """`add` takes a large part a block at a time (bounded temporaries): the tallies and measures are the ones the
    part gives whole."""
    import mia.evaluate.metrics as metrics

    rng = np.random.default_rng(block)
    labels, score = scores_with_ties(rng, 2_500)
    whole = RankingTally()
    whole.add(labels.reshape(50, 50), score.reshape(50, 50))
    whole_measures = whole.metrics()
    monkeypatch.setattr(metrics, "ADD_BLOCK", block)
    blocked = RankingTally()
    blocked.add(labels.reshape(50, 50), score.reshape(50, 50))
    assert blocked.metrics() == whole_measures
    assert np.array_equal(blocked.keys, whole.keys)
    assert np.array_equal(blocked.positive, whole.positive) and np.array_equal(blocked.negative, whole.negative)
