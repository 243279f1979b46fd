"""String-matching baselines, the yardstick every evaluation shows, each a bool ``[n_a, n_b]`` of linked pairs.

Token level (for the held-out metrics of ``train`` and ``evaluate``): *same token*, and *run of >= 3 tokens*
(:func:`baseline_scores`). Word level:

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
from dataclasses import dataclass

import numpy as np

RUN_LENGTH = 3



def token_keys(tokens: list[str]) -> np.ndarray:
    """Integer ids of token texts, equal ids for equal texts (within one call)."""
    _, ids = np.unique(np.asarray(tokens, dtype=object).astype(str), return_inverse=True)
    return ids.reshape(-1)


def same_token(a_tokens: list[str], b_tokens: list[str]) -> np.ndarray:
    """Baseline "same token": bool ``[n_a, n_b]``, True where the two tokens have the same, non-empty text."""
    keys = token_keys(list(a_tokens) + list(b_tokens))
    a_keys, b_keys = keys[: len(a_tokens)], keys[len(a_tokens) :]
    a_empty = np.array([not token for token in a_tokens], dtype=bool)
    return (a_keys[:, None] == b_keys[None, :]) & ~a_empty[:, None]


def equal_run_length(equal: np.ndarray) -> np.ndarray:
    """Length of the diagonal run of ``True`` through each cell of ``equal`` (0 where False).

    A run is a stretch ``(i, j), (i+1, j+1), ...`` of equal tokens: a run of consecutive equal tokens in both
    texts. int32 ``[n_a, n_b]``.
    """
    n_a, n_b = equal.shape
    forward = np.zeros((n_a + 1, n_b + 1), dtype=np.int32)
    backward = np.zeros((n_a + 1, n_b + 1), dtype=np.int32)
    for i in range(n_a):
        forward[i + 1, 1:] = np.where(equal[i], forward[i, :-1] + 1, 0)
    for i in range(n_a - 1, -1, -1):
        backward[i, :-1] = np.where(equal[i], backward[i + 1, 1:] + 1, 0)
    run = backward[:-1, :-1]  # the sum is made in place: no further [n_a, n_b] array
    run += forward[1:, 1:]
    run -= 1
    run[~equal] = 0
    return run


@dataclass
class BaselineScores:
    """Scores and decisions of the string baselines for one text pair, each ``[n_a, n_b]``."""

    same_token: np.ndarray
    run_length: np.ndarray

    def decisions(self) -> dict[str, np.ndarray]:
        return {"same token": self.same_token, f"run of >= {RUN_LENGTH} tokens": self.run_length >= RUN_LENGTH}

    def scores(self) -> dict[str, np.ndarray]:
        return {
            "same token": self.same_token.astype(np.float32),
            f"run of >= {RUN_LENGTH} tokens": self.run_length.astype(np.float32),
        }


def baseline_scores(a_tokens: list[str], b_tokens: list[str]) -> BaselineScores:
    """The two token baselines: same token, and token inside a run of >= 3 equal consecutive tokens."""
    equal = same_token(a_tokens, b_tokens)
    return BaselineScores(same_token=equal, run_length=equal_run_length(equal))


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
