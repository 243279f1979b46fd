"""Word alignment decoding from a detector's word-pair probabilities (a word pair's probability is the maximum
over its token pairs).

* ``threshold``: every word pair at or above the detector's threshold (many-to-many);
* ``mutual-argmax``: SimAlign's ArgMax: ``(i, j)`` when ``j`` is the best partner of ``i`` in its row and ``i``
  the best of ``j`` in its column;
* ``itermax``: SimAlign's IterMax: mutual argmax, then again among words still unaligned, with cells whose row or
  column is already aligned discounted by ``alpha`` (and cells whose row and column both are, left out), up to
  ``iterations`` rounds.

The argmax decoders link only word pairs with probability at least ``floor`` (0.05 by default): a word with no
copy on the other side (a substituted or inserted word) should stay unaligned rather than take its best guess.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Decode = Literal["threshold", "mutual-argmax", "itermax"]
DECODERS: tuple[Decode, ...] = ("threshold", "mutual-argmax", "itermax")
ARGMAX_FLOOR = 0.05  # chosen on packaged-corpus noisy pairs (seed 7), never on the evaluation corpus


def mutual_argmax(scores: np.ndarray) -> np.ndarray:
    """bool ``[n_a, n_b]``: cells that are the maximum of their row and of their column (first on ties)."""
    linked = np.zeros(scores.shape, dtype=bool)
    if scores.size == 0:
        return linked
    rows = np.arange(scores.shape[0])
    best_col = scores.argmax(axis=1)
    best_row = scores.argmax(axis=0)
    mutual = best_row[best_col] == rows
    linked[rows[mutual], best_col[mutual]] = True
    return linked & np.isfinite(scores)


def itermax(scores: np.ndarray, *, iterations: int = 2, alpha: float = 0.9) -> np.ndarray:
    """bool ``[n_a, n_b]``: mutual argmax repeated over the words still unaligned (module docstring)."""
    linked = mutual_argmax(scores)
    finite = np.where(np.isfinite(scores), scores, 0.0)
    for _ in range(iterations - 1):
        row_free = np.logical_not(np.any(linked, axis=1))
        col_free = np.logical_not(np.any(linked, axis=0))
        if not row_free.any() or not col_free.any():
            break
        weight = np.where(row_free[:, None] & col_free[None, :], 1.0, alpha)
        weight[~row_free[:, None] & ~col_free[None, :]] = 0.0
        added = mutual_argmax(finite * weight) & (row_free[:, None] | col_free[None, :])
        if not (added & ~linked).any():
            break
        linked |= added
    return linked


def decode(scores: np.ndarray, method: Decode, threshold: float, *, floor: float = ARGMAX_FLOOR) -> np.ndarray:
    """Word links bool ``[n_a, n_b]`` from word-pair probabilities by ``method``."""
    if method == "threshold":
        return scores >= threshold
    if method == "mutual-argmax":
        return mutual_argmax(scores) & (scores >= floor)
    if method == "itermax":
        return itermax(scores) & (scores >= floor)
    raise ValueError(f"unknown decoding {method!r}: use one of {', '.join(DECODERS)}")
