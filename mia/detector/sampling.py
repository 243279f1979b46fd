"""Negative sampling for training: which token pairs become training rows, and with what weight.

Positives (linked token pairs) are about 1% of all token pairs. Training keeps every positive of a pair and a
random sample of its negatives (``neg_per_pos`` per positive, at least ``min_negatives``); each kept negative
carries the weight ``negatives / kept negatives`` of that pair, so weighted counts estimate counts over all
token pairs and the regression sees the true class balance.
"""

from __future__ import annotations

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


class RowBuffer:
    """Sampled rows (float16 features, labels, weights, and the index of the text pair each row came from),
    thinned uniformly to stay under ``max_rows``.

    When the buffer outgrows ``max_rows`` every row is kept with probability 1/2, and later rows too; at the end
    each row has been kept with the same probability ``p`` and its weight is divided by ``p``. Memory stays
    bounded however many pairs stream through.
    """

    def __init__(self, max_rows: int, rng: np.random.Generator) -> None:
        self.max_rows = max_rows
        self.rng = rng
        self.keep = 1.0
        self.chunks: list[tuple[np.ndarray, ...]] = []
        self.rows = 0

    def add(self, features: np.ndarray, labels: np.ndarray, weights: np.ndarray, pair: int = 0) -> None:
        """Add rows of the text pair numbered ``pair`` (bootstrap refits resample text pairs, not rows)."""
        chunk: tuple[np.ndarray, ...] = (features, labels, weights, np.full(len(labels), pair, np.int32))
        if self.keep < 1.0:
            kept = self.rng.random(len(labels)) < self.keep
            chunk = tuple(part[kept] for part in chunk)
        self.chunks.append(chunk)
        self.rows += len(chunk[1])
        while self.rows > self.max_rows:
            self.keep /= 2
            halves = [self.rng.random(len(chunk[1])) < 0.5 for chunk in self.chunks]
            self.chunks = [tuple(part[kept] for part in chunk) for chunk, kept in zip(self.chunks, halves)]
            self.rows = sum(len(chunk[1]) for chunk in self.chunks)

    def finish(self, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features float16 ``[N, F]``, labels bool ``[N]``, weights float32 ``[N]``, pair index int32 ``[N]``."""
        if not self.chunks:
            return (np.zeros((0, n_features), np.float16), np.zeros(0, bool), np.zeros(0, np.float32),
                    np.zeros(0, np.int32))
        features, labels, weights, pairs = (np.concatenate([chunk[k] for chunk in self.chunks]) for k in range(4))
        return features, labels, (weights / np.float32(self.keep)).astype(np.float32), pairs


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
