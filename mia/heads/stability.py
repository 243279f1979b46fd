"""How far two detectors agree on their heads: rank correlation and top-10 overlap of each head ranking.

The protocol the README reports: two detectors trained with default options on 300 generated pairs each, one
from the packaged Python reference, one from another corpus (``mia compare-heads A B``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.heads.ranking import Ranking, head_summaries


@dataclass(frozen=True)
class Agreement:
    ranking: str
    items: int
    spearman: float
    top10_common: int

    def to_dict(self) -> dict[str, Any]:
        return {"ranking": self.ranking, "items": self.items, "spearman": round(self.spearman, 4),
                "top10_common": self.top10_common}


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (as Spearman's correlation wants them)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(values)] - 1
    ranks = np.empty(len(values))
    ranks[order] = (first[group] + last[group]) / 2 + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the average ranks."""
    return float(np.corrcoef(average_ranks(np.asarray(x, float)), average_ranks(np.asarray(y, float)))[0, 1])


def agreement(name: str, x: np.ndarray, y: np.ndarray, k: int = 10) -> Agreement:
    """Spearman correlation of two scores of the same items, and how many of each one's top ``k`` are shared."""
    common = len(set(np.argsort(-x, kind="stable")[:k]) & set(np.argsort(-y, kind="stable")[:k]))
    return Agreement(name, len(x), spearman(x, y), common)


def compare_detectors(first: Detector, second: Detector) -> list[Agreement]:
    """Agreement of the head rankings of two detectors over the same model's heads (feature columns must match
    for the column ranking; heads are compared whatever the columns)."""
    if first.layout.base() != second.layout.base():
        raise MiaError("the two detectors read different models' heads: compare detectors of one model")
    rows = []
    rankings: tuple[tuple[Ranking, str], ...] = (
        ("auc", "heads by own held-out ROC AUC (primary)"), ("weight", "heads by summed weight"))
    for by, label in rankings:
        x, y = ({(s.layer, s.head): getattr(s, by) for s in head_summaries(d, by=by)} for d in (first, second))
        keys = sorted(x)
        rows.append(agreement(label, np.array([x[k] for k in keys]), np.array([y[k] for k in keys])))
    if first.layout == second.layout:
        rows.append(agreement("feature columns by standardised weight", first.coef, second.coef))
    return rows
