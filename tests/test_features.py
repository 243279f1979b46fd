import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mia.evaluate.string_match import baseline_scores, equal_run_length, same_token
from mia.training.sampling import Sampling, sample_token_pairs


def test_same_token_compares_token_text():
    result = same_token(["the", "cat", ""], ["cat", "the", "the", ""])
    assert result.tolist() == [[False, True, True, False], [True, False, False, False], [False] * 4]


def test_run_length_marks_runs_of_three():
    a = "x the big cat sat y".split()
    b = "the big cat z sat the".split()
    scores = baseline_scores(a, b)
    runs = scores.decisions()["run of >= 3 tokens"]
    assert np.argwhere(runs).tolist() == [[1, 0], [2, 1], [3, 2]]
    assert scores.run_length[1, 0] == 3
    assert scores.run_length[4, 4] == 1  # "sat" equal alone
    assert not runs[1, 5]  # "the" again, outside the run


def test_equal_run_length_counts_whole_diagonal():
    equal = np.eye(4, dtype=bool)
    equal[0, 3] = True
    assert equal_run_length(equal).tolist() == [[4, 0, 0, 1], [0, 4, 0, 0], [0, 0, 4, 0], [0, 0, 0, 4]]


@given(arrays(np.bool_, st.tuples(st.integers(1, 9), st.integers(1, 9))))
def test_equal_run_length_is_the_diagonal_run_through_each_cell(equal):
    """Each True cell's value is the length of the whole diagonal run of True cells it lies in (0 where False)."""
    expected = np.zeros(equal.shape, np.int64)
    for i, j in zip(*np.nonzero(equal)):
        start = 0
        while i - start - 1 >= 0 and j - start - 1 >= 0 and equal[i - start - 1, j - start - 1]:
            start += 1
        end = 0
        while i + end + 1 < equal.shape[0] and j + end + 1 < equal.shape[1] and equal[i + end + 1, j + end + 1]:
            end += 1
        expected[i, j] = start + end + 1
    run = equal_run_length(equal)
    assert run.shape == equal.shape and run.dtype == np.int32
    assert run.tolist() == expected.tolist()


def test_sampling_keeps_positives_and_weights_negatives():
    labels = np.zeros((50, 40), dtype=bool)
    labels[np.arange(10), np.arange(10)] = True
    index, weights = sample_token_pairs(labels, np.random.default_rng(0), Sampling(neg_per_pos=5, min_negatives=1))
    kept = labels.reshape(-1)[index]
    assert kept.sum() == 10 and (~kept).sum() == 50
    assert (weights[kept] == 1).all()
    # weighted negatives add up to all negatives
    assert weights[~kept].sum() == pytest.approx(labels.size - 10, rel=1e-6)


def test_row_buffer_thins_uniformly_and_reweights():
    from mia.training.sampling import RowBuffer

    buffer = RowBuffer(max_rows=300, rng=np.random.default_rng(0))
    for chunk in range(10):
        buffer.add(np.full((100, 2), chunk, np.float16), np.arange(100) % 2 == 0, np.ones(100, np.float32), pair=chunk)
    features, labels, weights, pairs = buffer.finish(2)
    assert 150 <= len(labels) <= 300 and buffer.keep == 0.25
    assert (weights == 4).all()
    assert (pairs == features[:, 0]).all()  # each row keeps the index of its text pair
    # every chunk is represented, about equally (rows kept with one probability)
    counts = np.bincount(features[:, 0].astype(int), minlength=10)
    assert counts.min() > 5


def test_row_buffer_thins_one_chunk_larger_than_it_and_keeps_rows_in_place():
    from mia.training.sampling import RowBuffer

    buffer = RowBuffer(max_rows=100, rng=np.random.default_rng(1), dtype=np.float32)
    rows = np.arange(1000, dtype=np.float32)[:, None].repeat(3, 1)
    buffer.add(rows, np.ones(1000, bool), np.ones(1000, np.float32), pair=7)
    features, labels, weights, pairs = buffer.finish(3)
    assert 0 < len(labels) <= 100 and features.dtype == np.float32
    assert (np.diff(features[:, 0]) > 0).all()  # kept rows stay whole and in their order
    assert (features == features[:, :1]).all() and (pairs == 7).all()
    assert (weights == 1 / buffer.keep).all() and buffer.keep <= 0.125
    assert np.shares_memory(features, buffer.features)  # handed out, not copied


def resident_bytes() -> float:
    from mia_testkit import resident_mb

    return resident_mb() * 2**20


def test_released_rows_leave_memory_and_their_neighbours_intact():
    import mmap
    import sys

    from mia.training.sampling import releasable_rows, release_rows

    if not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_DONTNEED"):
        pytest.skip("measured through /proc and madvise (Linux)")
    rows = releasable_rows(16_384, 1_000, np.float32)  # 65.5 MB, nothing resident yet
    before = resident_bytes()
    rows[:] = 1.5
    written = resident_bytes()
    assert written - before > 60e6
    view = rows[:12_000]  # a fit releases through the views it was handed
    release_rows(view, 0, 11_999)
    release_rows(view, 11_999, 12_000)  # a range of less than a page: nothing
    assert written - resident_bytes() > 0.7 * 12_000 * 4_000
    assert (rows[11_999:] == 1.5).all()  # rows outside the range, and those sharing its edge pages, are kept
    assert (rows[:11_000] == 0).all()  # released rows read as zeros
    release_rows(np.ones((100, 10)), 0, 100)  # an ordinary array: nothing happens
