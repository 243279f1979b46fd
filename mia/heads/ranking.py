"""Head rankings: which attention heads a detector relies on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mia.detector.detector import Detector
from mia.models.layout import Offset


@dataclass(frozen=True)
class HeadWeight:
    """One attention head's standardised weight in the detector and its own held-out ROC AUC."""

    rank: int
    direction: str
    layer: int
    head: int
    weight: float
    roc_auc: float | None
    offset: Offset = (0, 0)  # the head's attention at (i + di, j + dj)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "direction": self.direction,
            "layer": self.layer,
            "head": self.head,
            "offset": list(self.offset),
            "weight": round(self.weight, 4),
            "roc_auc": self.roc_auc,
        }


def rank_heads(detector: Detector, *, top: int | None = None) -> list[HeadWeight]:
    """Heads ranked by standardised weight, largest (strongest evidence of a link) first."""
    aucs = detector.metadata.get("head_roc_auc") or [None] * detector.layout.n_features
    order = np.argsort(-detector.coef, kind="stable")
    ranked = []
    for rank, feature in enumerate(order[: top if top else None], start=1):
        direction, layer, head, offset = detector.layout.head_of(int(feature))
        auc = aucs[feature]
        ranked.append(HeadWeight(rank, direction, layer, head, float(detector.coef[feature]),
                                 None if auc is None else float(auc), offset))
    return ranked
