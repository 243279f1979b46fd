"""Bootstrap over text pairs: the resampling, the AUC by weighted counts, intervals that hold 0 for noise."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import mia.heads.bootstrap as bootstrap


def test_pair_counts_draw_whole_pairs():
    pair_index = np.repeat(np.arange(20), 5).astype(np.int32)
    counts = bootstrap.pair_counts(pair_index, np.random.default_rng(0))
    per_pair = counts.reshape(20, 5)
    assert (per_pair == per_pair[:, :1]).all()  # every row of a pair counts alike
    assert per_pair[:, 0].sum() == 20 and (per_pair[:, 0] == 0).any()  # 20 draws with replacement


def test_auc_by_counts_equals_scikit_learn_with_ties(monkeypatch):
    rng = np.random.default_rng(0)
    labels = rng.random(2000) < 0.1
    features = (rng.random((2000, 3)) + labels[:, None] * 0.3).astype(np.float16)
    features[:, 2] = np.round(features[:, 2], 1)  # many ties
    weights = rng.uniform(1, 3, 2000).astype(np.float32)
    monkeypatch.setattr(bootstrap, "pair_counts", lambda index, rng: np.ones(len(index), np.float32))
    draws = bootstrap.bootstrap_auc(features, labels, weights, np.zeros(2000, np.int32), draws=1, rng=rng)
    expected = [roc_auc_score(labels, features[:, k].astype(np.float32), sample_weight=weights) for k in range(3)]
    np.testing.assert_allclose(draws[0], expected, rtol=1e-9)


def test_refits_give_intervals_that_hold_zero_only_for_noise():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mia.detector.scoring import transform_features

    rng = np.random.default_rng(1)
    pair_index = np.repeat(np.arange(60), 50).astype(np.int32)
    labels = rng.random(len(pair_index)) < 0.2
    signal = rng.random(len(pair_index)) * 0.2 + labels * 0.05
    features = np.stack([signal, rng.random(len(pair_index)) * 0.2], 1).astype(np.float16)
    weights = np.ones(len(labels), np.float32)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    pipeline.fit(transform_features(features, "log"), labels)
    draws = bootstrap.bootstrap_coefficients(features, labels, weights, pair_index, pipeline, transform="log",
                                             refits=20, rng=np.random.default_rng(2), max_rows=1000)
    low, high = bootstrap.interval(draws).T
    assert draws.shape == (20, 2)
    assert low[0] > 0  # the signal's weight is settled
    assert low[1] <= 0 <= high[1]  # the noise column's is not
    again = bootstrap.bootstrap_coefficients(features, labels, weights, pair_index, pipeline, transform="log",
                                             refits=20, rng=np.random.default_rng(2), max_rows=1000)
    np.testing.assert_array_equal(draws, again)  # reproducible with a seed
    assert bootstrap.top_share(draws, k=1).tolist() == [1.0, 0.0]
    inputs = pipeline[0].transform(transform_features(features, "log")).astype(np.float32)  # as training keeps them
    shared = bootstrap.bootstrap_coefficients(inputs, labels, weights, pair_index, pipeline, transform="log",
                                              refits=20, rng=np.random.default_rng(2), max_rows=1000,
                                              standardised=True)
    np.testing.assert_allclose(shared, draws, rtol=1e-6, atol=1e-9)  # one reused buffer, the same refits


def test_refits_start_at_the_main_fit_unless_from_zero():
    """Where lbfgs stops short of the optimum the stop depends on the start: each start gives its own refits."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    pair_index = np.repeat(np.arange(40), 30).astype(np.int32)
    labels = rng.random(len(pair_index)) < 0.3
    base = rng.normal(size=(len(pair_index), 1))
    features = (base + 0.05 * rng.normal(size=(len(pair_index), 6)) + 1.5 * labels[:, None]).astype(np.float32)
    weights = rng.uniform(1, 3, len(labels)).astype(np.float32)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1e4, tol=1e-2, max_iter=500))
    pipeline.fit(features, labels, logisticregression__sample_weight=weights)
    inputs = pipeline[0].transform(features).astype(np.float32)
    counts = bootstrap.pair_counts(pair_index, np.random.default_rng(4))  # the resample both refits draw
    drawn = np.flatnonzero(counts > 0)
    rows, sample_weight = inputs[drawn], weights[drawn] * counts[drawn]
    fresh = clone(pipeline[-1]).fit(rows, labels[drawn], sample_weight=sample_weight)
    warm = clone(pipeline[-1]).set_params(warm_start=True)
    warm.coef_, warm.intercept_ = pipeline[-1].coef_.copy(), pipeline[-1].intercept_.copy()
    warm.fit(rows, labels[drawn], sample_weight=sample_weight)
    assert np.abs(warm.coef_[0] - fresh.coef_[0]).max() > 1e-2  # the start matters here: the checks can fail
    for from_zero, expected in [(False, warm), (True, fresh)]:
        draws = bootstrap.bootstrap_coefficients(inputs, labels, weights, pair_index, pipeline, transform="identity",
                                                 refits=1, rng=np.random.default_rng(4), standardised=True,
                                                 from_zero=from_zero)
        np.testing.assert_allclose(draws[0], expected.coef_[0], rtol=1e-5, atol=1e-7)


def test_refits_need_two_pairs():
    from mia.errors import MiaError

    with pytest.raises(MiaError, match="at least 2 training pairs"):
        bootstrap.bootstrap_coefficients(np.zeros((4, 1), np.float16), np.array([0, 1, 0, 1], bool),
                                         np.ones(4, np.float32), np.zeros(4, np.int32), None, transform="log",
                                         refits=3, rng=np.random.default_rng(0))


def test_centred_interval_keeps_the_spread_around_the_estimate():
    draws = np.array([[4.0, -1.0], [4.5, 0.0], [5.0, 1.0]])
    centred = bootstrap.centred_interval(np.array([3.4, 0.2]), draws, level=1.0)
    np.testing.assert_allclose(centred, [[2.9, 3.9], [-0.8, 1.2]])  # refits biased upward: the shift is dropped


def test_head_auc_is_each_columns_own_roc_auc():
    from mia.heads.description import head_auc
    from mia.training.training import SampledSet

    rng = np.random.default_rng(3)
    labels = rng.random(500) < 0.3
    features = np.round(rng.random((500, 4)) + labels[:, None] * np.array([0.5, 0.0, -0.2, 0.1]), 1).astype(np.float16)
    weights = rng.uniform(1, 4, 500).astype(np.float32)
    auc = head_auc(SampledSet(features, labels, weights, token_pairs=500, positives=int(labels.sum())))
    expected = [roc_auc_score(labels, features[:, k].astype(np.float32), sample_weight=weights) for k in range(4)]
    np.testing.assert_allclose(auc, expected, rtol=1e-9)
    assert auc[0] > 0.8 and auc[2] < 0.5


@pytest.mark.parametrize("seed", range(5))
def test_float16_values_rank_as_numpy_unique_does(seed):
    rng = np.random.default_rng(seed)
    column = (rng.standard_normal(3000) * 10.0 ** rng.integers(-6, 4, 3000)).astype(np.float16)
    column[:50] = rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, 65504.0, -65504.0, 6e-8], np.float16), 50)
    n_values, group = bootstrap.value_ranks(column)
    values, expected = np.unique(column.astype(np.float32), return_inverse=True)
    assert n_values == len(values)
    np.testing.assert_array_equal(group, expected)
