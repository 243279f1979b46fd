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


def agreement(name: str, x: np.ndarray, y: np.ndarray, k: int = 10) -> Agreement:
    """Spearman correlation of two scores of the same items, and how many of each one's top ``k`` are shared."""
    from scipy.stats import spearmanr

    common = len(set(np.argsort(-x, kind="stable")[:k]) & set(np.argsort(-y, kind="stable")[:k]))
    return Agreement(name, len(x), float(spearmanr(x, y).statistic), common)


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
