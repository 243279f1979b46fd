import numpy as np

from mia.evaluate.string_match import greedy_string_tiling, longest_matching_blocks, run_of_equal, same_word


def pairs(linked: np.ndarray) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(linked))]


A = "the cat sat on the mat".split()
B = "on the mat the cat sat".split()  # the two halves swapped: a reordered copy


def test_same_word():
    assert pairs(same_word(["a", "b", "a"], ["a", "c"])) == [(0, 0), (2, 0)]


def test_run_of_three_equal_words():
    a = "x the big cat y the".split()
    b = "the big cat z the".split()
    assert pairs(run_of_equal(a, b)) == [(1, 0), (2, 1), (3, 2)]


def test_greedy_string_tiling_finds_the_reordered_copy():
    assert pairs(greedy_string_tiling(A, B)) == [(0, 3), (1, 4), (2, 5), (3, 0), (4, 1), (5, 2)]


def test_longest_matching_blocks_keeps_order_and_misses_half():
    assert pairs(longest_matching_blocks(A, B)) == [(0, 3), (1, 4), (2, 5)]


def test_tiling_respects_minimum_length_and_marks_each_word_once():
    a = "a b c x a b c".split()
    b = "a b c".split()
    assert pairs(greedy_string_tiling(a, b)) == [(0, 0), (1, 1), (2, 2)]
    assert not greedy_string_tiling("a b x".split(), "a b y".split()).any()
