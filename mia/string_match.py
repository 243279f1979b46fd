"""String-matching baselines over word (or token) sequences, each a bool ``[n_a, n_b]`` of linked pairs.

* :func:`same_word`: the two words are equal.
* :func:`run_of_equal`: the pair lies inside a run of ``>= min_length`` equal consecutive words in both texts.
* :func:`longest_matching_blocks`: the matching blocks ``difflib.SequenceMatcher`` finds (an order-preserving
  alignment, so a reordered copy is found only in part).
* :func:`greedy_string_tiling`: Wise's greedy string tiling with a minimum match length (the classic text-reuse
  detector): repeatedly take the longest common runs of unmarked words as tiles; it finds reordered copies.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

from mia.features import equal_run_length, same_token


def same_word(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    return same_token(list(a), list(b))


def run_of_equal(a: Sequence[str], b: Sequence[str], *, min_length: int = 3) -> np.ndarray:
    return equal_run_length(same_word(a, b)) >= min_length


def longest_matching_blocks(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
    linked = np.zeros((len(a), len(b)), dtype=bool)
    matcher = difflib.SequenceMatcher(None, list(a), list(b), autojunk=False)
    for i, j, size in matcher.get_matching_blocks():
        for k in range(size):
            linked[i + k, j + k] = True
    return linked


def greedy_string_tiling(a: Sequence[str], b: Sequence[str], *, min_length: int = 3) -> np.ndarray:
    """Greedy string tiling (Wise 1993): tiles of at least ``min_length`` equal words, each word in one tile."""
    linked = np.zeros((len(a), len(b)), dtype=bool)
    equal = same_word(a, b)
    marked_a = np.zeros(len(a), dtype=bool)
    marked_b = np.zeros(len(b), dtype=bool)
    while True:
        usable = equal & ~marked_a[:, None] & ~marked_b[None, :]
        runs = _runs_starting_at(usable)
        longest = int(runs.max()) if runs.size else 0
        if longest < min_length:
            return linked
        for i, j in zip(*np.nonzero(runs == longest)):  # row-major: earliest in A first
            if marked_a[i : i + longest].any() or marked_b[j : j + longest].any():
                continue  # overlaps a tile taken in this round
            marked_a[i : i + longest] = True
            marked_b[j : j + longest] = True
            linked[np.arange(i, i + longest), np.arange(j, j + longest)] = True


def _runs_starting_at(usable: np.ndarray) -> np.ndarray:
    """Length of the diagonal run of True starting at each cell (int32)."""
    n_a, n_b = usable.shape
    runs = np.zeros((n_a + 1, n_b + 1), dtype=np.int32)
    for i in range(n_a - 1, -1, -1):
        runs[i, :-1] = np.where(usable[i], runs[i + 1, 1:] + 1, 0)
    return runs[:-1, :-1]


WORD_BASELINES = {
    "same word": same_word,
    "run of >= 3 words": run_of_equal,
    "longest matching blocks": longest_matching_blocks,
    "greedy string tiling (>= 3)": greedy_string_tiling,
}
