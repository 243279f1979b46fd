"""The corrupted run of activation patching (mia.heads.corruption): every position kept, only copied tokens
changed, donor tokens only, never one of A's under random-tokens."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.heads.corruption import corrupted_ids, runs


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_corruption_keeps_every_position_and_changes_only_the_copied_tokens(data):
    n_b = data.draw(st.integers(1, 40))
    b_ids = np.array(data.draw(st.lists(st.integers(0, 50), min_size=n_b, max_size=n_b)), dtype=np.int64)
    copied = np.array(sorted(data.draw(st.sets(st.integers(0, n_b - 1)))), dtype=np.int64)
    a_ids = np.array(data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=20)), dtype=np.int64)
    donors = [np.array(data.draw(st.lists(st.integers(51, 99), min_size=0, max_size=30)), dtype=np.int64)
              for _ in range(data.draw(st.integers(1, 3)))]
    scheme = data.draw(st.sampled_from(["other-text", "random-tokens"]))
    if sum(len(d) for d in donors) < max((e - s for s, e in runs(copied)), default=0) or \
            (len(copied) and not sum(len(d) for d in donors)):
        return  # too few donor tokens: an error, checked below
    out = corrupted_ids(b_ids, copied, a_ids, donors, scheme, np.random.default_rng(0))
    assert out.shape == b_ids.shape
    outside = np.setdiff1d(np.arange(n_b), copied)
    np.testing.assert_array_equal(out[outside], b_ids[outside])
    assert set(out[copied].tolist()) <= set(np.concatenate(donors).tolist())  # donor tokens only
    if scheme == "random-tokens":
        assert not set(out[copied].tolist()) & set(a_ids.tolist())


def test_runs_of_positions():
    assert runs(np.array([0, 1, 2, 5, 7, 8])) == [(0, 3), (5, 6), (7, 9)]
    assert runs(np.array([], dtype=np.int64)) == []
