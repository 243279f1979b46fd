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
Cells below the floor take no part at all (they could never be linked), so decoding works on the word pairs at or
above it, given as entries (rows, columns, probabilities): the same result for a short pair's dense scores and a
document's sparse ones.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Decode = Literal["threshold", "mutual-argmax", "itermax"]
DECODERS: tuple[Decode, ...] = ("threshold", "mutual-argmax", "itermax")
ARGMAX_FLOOR = 0.05  # chosen on packaged-corpus noisy pairs (seed 7), never on the evaluation corpus


Entries = tuple[np.ndarray, np.ndarray, np.ndarray]  # (rows, cols, values) of the cells that take part


def decode_floor(method: Decode, threshold: float, floor: float = ARGMAX_FLOOR) -> float:
    """The smallest probability a cell needs to take part in decoding: no cell below it can be linked, so scores
    below it need not be kept (documents keep only token pairs at or above it)."""
    return threshold if method == "threshold" else floor


def mutual_entries(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    """bool ``[N]``: the entries that are the highest of their row and of their column among the entries (first by
    index on ties, as ``argmax``)."""
    if len(values) == 0:
        return np.zeros(0, bool)
    by_row = np.lexsort((cols, -values, rows))  # each row's best first
    row_best = by_row[np.r_[True, rows[by_row][1:] != rows[by_row][:-1]]]
    by_col = np.lexsort((rows, -values, cols))
    col_best = by_col[np.r_[True, cols[by_col][1:] != cols[by_col][:-1]]]
    best = np.zeros(len(values), bool)
    best[np.intersect1d(row_best, col_best)] = True
    return best


def itermax_entries(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, *, iterations: int = 2,
                    alpha: float = 0.9) -> np.ndarray:
    """bool ``[N]``: SimAlign's IterMax over the entries (module docstring)."""
    linked = mutual_entries(rows, cols, values)
    for _ in range(iterations - 1):
        row_done = np.isin(rows, rows[linked])
        col_done = np.isin(cols, cols[linked])
        open_cells = ~(row_done & col_done) & ~linked
        if not open_cells.any() or row_done.all() or col_done.all():
            break
        weight = np.where(row_done | col_done, alpha, 1.0)
        keep = np.flatnonzero(open_cells)
        added = mutual_entries(rows[keep], cols[keep], values[keep] * weight[keep])
        if not added.any():
            break
        linked[keep[added]] = True
    return linked


def decode_entries(entries: Entries, method: Decode, threshold: float, *, floor: float = ARGMAX_FLOOR) -> np.ndarray:
    """bool ``[N]``: which word pairs (entries: rows, cols, probabilities) ``method`` links. Only entries at or above
    :func:`decode_floor` are linked; pass every entry at or above it for the exact result."""
    rows, cols, values = entries
    usable = values >= decode_floor(method, threshold, floor)
    linked = np.zeros(len(values), bool)
    keep = np.flatnonzero(usable)
    if method == "threshold":
        linked[keep] = True
    elif method == "mutual-argmax":
        linked[keep] = mutual_entries(rows[keep], cols[keep], values[keep])
    elif method == "itermax":
        linked[keep] = itermax_entries(rows[keep], cols[keep], values[keep])
    else:
        raise ValueError(f"unknown decoding {method!r}: use one of {', '.join(DECODERS)}")
    return linked


def dense_entries(scores: np.ndarray, least: float = -np.inf) -> Entries:
    """The finite cells of ``scores`` ``[n_a, n_b]`` at or above ``least``, as entries."""
    rows, cols = np.nonzero(np.isfinite(scores) & (scores >= least))
    return rows, cols, scores[rows, cols]


def as_matrix(entries: Entries, linked: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    matrix = np.zeros(shape, bool)
    matrix[entries[0][linked], entries[1][linked]] = True
    return matrix


def mutual_argmax(scores: np.ndarray) -> np.ndarray:
    """bool ``[n_a, n_b]``: cells that are the maximum of their row and of their column (first on ties)."""
    entries = dense_entries(scores)
    return as_matrix(entries, mutual_entries(*entries), scores.shape)


def itermax(scores: np.ndarray, *, iterations: int = 2, alpha: float = 0.9) -> np.ndarray:
    """bool ``[n_a, n_b]``: mutual argmax repeated over the words still unaligned (module docstring)."""
    entries = dense_entries(scores)
    return as_matrix(entries, itermax_entries(*entries, iterations=iterations, alpha=alpha), scores.shape)


def decode(scores: np.ndarray, method: Decode, threshold: float, *, floor: float = ARGMAX_FLOOR) -> np.ndarray:
    """Word links bool ``[n_a, n_b]`` from word-pair probabilities ``[n_a, n_b]`` by ``method``."""
    entries = dense_entries(scores, decode_floor(method, threshold, floor))
    return as_matrix(entries, decode_entries(entries, method, threshold, floor=floor), scores.shape)
