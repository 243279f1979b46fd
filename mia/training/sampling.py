"""Negative sampling for training: which token pairs become training rows, and with what weight.

Positives (linked token pairs) are about 1% of all token pairs. Training keeps every positive of a pair and a
random sample of its negatives (``neg_per_pos`` per positive, at least ``min_negatives``); each kept negative
carries the weight ``negatives / kept negatives`` of that pair, so weighted counts estimate counts over all
token pairs and the regression sees the true class balance.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sampling:
    """How negatives are sampled; recorded in the detector's metadata."""

    neg_per_pos: int = 10
    min_negatives: int = 64
    max_rows: int = 500_000

    def to_dict(self) -> dict[str, object]:
        return {
            "method": "all positives, sampled negatives weighted by 1 / sampling rate (per pair)",
            "neg_per_pos": self.neg_per_pos,
            "min_negatives": self.min_negatives,
            "max_rows": self.max_rows,
            "over_max_rows": "rows thinned uniformly (each kept with the same probability p, weights / p)",
        }


def releasable_rows(rows: int, columns: int, dtype: type) -> np.ndarray:
    """A zero-filled array ``[rows, columns]`` in its own anonymous memory map: pages occupy memory once written,
    and :func:`release_rows` hands rows read for the last time back to the operating system, so one large array can
    be turned into another block by block without both being whole in memory."""
    size = max(rows * columns * np.dtype(dtype).itemsize, 1)
    # private: released pages are freed and read as zeros (a shared map would keep them in shared memory)
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE) if hasattr(mmap, "MAP_PRIVATE") else mmap.mmap(-1, size)
    return np.frombuffer(memory, dtype, count=rows * columns).reshape(rows, columns)


def release_rows(rows: np.ndarray, start: int, stop: int) -> None:
    """Return the memory of rows ``[start, stop)`` of ``rows`` (the whole pages inside them) to the operating
    system, when ``rows`` lives in a map made by :func:`releasable_rows` and the platform can (``madvise``);
    otherwise nothing happens. Released rows read as zeros afterwards: release only rows never read again."""
    owner = rows.base
    while isinstance(owner, (np.ndarray, memoryview)):
        owner = owner.obj if isinstance(owner, memoryview) else owner.base
    dont_need = getattr(mmap, "MADV_DONTNEED", None)
    stop = min(stop, len(rows))
    if not isinstance(owner, mmap.mmap) or dont_need is None or not rows.flags.c_contiguous or stop <= start:
        return
    offset = rows.ctypes.data - np.frombuffer(owner, np.uint8).ctypes.data
    first = offset + start * rows.strides[0]
    last = offset + stop * rows.strides[0]
    first = -(-first // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages only: neighbours' rows stay
    last = last // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        owner.madvise(dont_need, first, last - first)


def trim_heap() -> None:
    """Hand the C heap's free memory back to the operating system (glibc's ``malloc_trim``; elsewhere nothing).
    After extracting the training rows, about 0.14 GB of freed temporaries stay mapped otherwise (measured with
    ``benchmarks/training_stages.py``), just before the fit needs its largest array."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        return


class RowBuffer:
    """Sampled rows (features as ``dtype``, labels, weights, and the index of the text pair each row came from),
    thinned uniformly to stay under ``max_rows``.

    When the rows would outgrow ``max_rows`` every row is kept with probability 1/2, and later rows too; at the end
    each row has been kept with the same probability ``p`` and its weight is divided by ``p``. Memory stays
    bounded however many pairs stream through: the rows live in one array of ``max_rows`` rows, allocated on the
    first rows and filled in order, so only the rows written occupy memory (the operating system commits pages on
    first touch) and they are never copied into a second array; thinning compacts them in place, block by block.
    The array is :func:`releasable_rows`: a fit can hand back the rows it has read (:func:`release_rows`).
    """

    BLOCK = 8_192  # rows moved per step when thinning (a temporary of one block)

    def __init__(self, max_rows: int, rng: np.random.Generator, dtype: type = np.float16) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1; got {max_rows}")
        self.max_rows = max_rows
        self.dtype = dtype
        self.rng = rng
        self.keep = 1.0
        self.rows = 0
        self.features: np.ndarray | None = None  # [max_rows, F], rows [0, self.rows) written
        self.labels = np.zeros(max_rows, bool)
        self.weights = np.zeros(max_rows, np.float32)
        self.pairs = np.zeros(max_rows, np.int32)

    def add(self, features: np.ndarray, labels: np.ndarray, weights: np.ndarray, pair: int = 0) -> None:
        """Add rows ``[n, F]`` of the text pair numbered ``pair`` (bootstrap refits resample text pairs, not rows)."""
        if self.features is None:
            self.features = releasable_rows(self.max_rows, features.shape[1], self.dtype)
        kept = np.flatnonzero(self.rng.random(len(labels)) < self.keep) if self.keep < 1.0 else np.arange(len(labels))
        while self.rows + len(kept) > self.max_rows:
            self.keep /= 2
            self._halve()
            kept = kept[self.rng.random(len(kept)) < 0.5]
        end = self.rows + len(kept)
        self.features[self.rows : end] = features[kept]
        self.labels[self.rows : end] = labels[kept]
        self.weights[self.rows : end] = weights[kept]
        self.pairs[self.rows : end] = pair
        self.rows = end

    def _halve(self) -> None:
        """Keep each written row with probability 1/2, compacted to the front in order."""
        kept = np.flatnonzero(self.rng.random(self.rows) < 0.5)
        if self.features is not None:
            for start in range(0, len(kept), self.BLOCK):  # kept[k] >= k: a block reads rows not yet overwritten
                rows = kept[start : start + self.BLOCK]
                self.features[start : start + len(rows)] = self.features[rows]
        for column in (self.labels, self.weights, self.pairs):
            column[: len(kept)] = column[kept]
        self.rows = len(kept)

    def finish(self, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features ``[N, F]`` (the buffer's dtype; a view of the buffer's array, not a copy), labels bool ``[N]``,
        weights float32 ``[N]``, pair index int32 ``[N]``."""
        n = self.rows
        features = np.zeros((0, n_features), self.dtype) if self.features is None else self.features[:n]
        return features, self.labels[:n].copy(), self.weights[:n] / np.float32(self.keep), self.pairs[:n].copy()


def sample_token_pairs(
    labels: np.ndarray, rng: np.random.Generator, sampling: Sampling = Sampling(), *, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pick token pairs of one text pair: every positive and a weighted sample of negatives.

    ``labels``: bool ``[n_a, n_b]``; ``allowed``: bool ``[n_a, n_b]``, the cells that may be picked (default all).
    Returns flat indices into ``labels`` and their float32 weights.
    """
    flat = labels.reshape(-1)
    usable = np.ones(flat.shape, bool) if allowed is None else allowed.reshape(-1)
    positives = np.flatnonzero(flat & usable)
    negatives = np.flatnonzero(~flat & usable)
    keep = min(len(negatives), max(sampling.neg_per_pos * len(positives), sampling.min_negatives))
    chosen = rng.choice(negatives, size=keep, replace=False) if keep < len(negatives) else negatives
    weight = len(negatives) / keep if keep else 1.0
    index = np.concatenate([positives, np.sort(chosen)])
    weights = np.concatenate([np.ones(len(positives)), np.full(len(chosen), weight)]).astype(np.float32)
    return index, weights
