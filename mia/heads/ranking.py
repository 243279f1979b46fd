"""Head rankings: which attention heads a detector relies on, and how far to trust the order.

Two views of one detector:

* :func:`head_summaries`: one entry per attention head (layer, head), its feature columns combined. The default
  order is the head's own held-out ROC AUC at ``(i, j)``, mean over directions: measured to agree across training
  corpora (README, "Heads"), where the weight order does not (correlated heads trade weight). Each head also has
  its summed standardised weight, bootstrap intervals of both, how often it is in the top 10 over the
  resamples, and its head-type scores (:mod:`mia.models.head_patterns`) when the detector recorded them.
* :func:`rank_heads`: every feature column (direction, layer, head, offset) by standardised weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mia.detector.detector import Detector
from mia.models.head_patterns import dominant_type
from mia.models.layout import Offset

Ranking = Literal["auc", "weight"]
RANKINGS: tuple[Ranking, ...] = ("auc", "weight")


@dataclass(frozen=True)
class HeadSummary:
    """One attention head of a detector. Intervals are ``(low, high)`` or None when the detector has none."""

    rank: int
    layer: int
    head: int
    auc: float
    weight: float
    auc_interval: tuple[float, float] | None = None
    auc_top10_share: float | None = None
    weight_interval: tuple[float, float] | None = None
    weight_top10_share: float | None = None
    types: dict[str, dict[str, float]] = field(default_factory=dict)  # direction -> pattern -> score

    @property
    def name(self) -> str:
        return f"L{self.layer}H{self.head}"

    @property
    def weight_crosses_zero(self) -> bool | None:
        """Whether the weight's interval holds 0 (its sign is not settled); None without an interval."""
        if self.weight_interval is None:
            return None
        return bool(self.weight_interval[0] <= 0.0 <= self.weight_interval[1])

    @property
    def dominant(self) -> dict[str, str]:
        """Each direction's dominant head type."""
        return {direction: dominant_type(scores) for direction, scores in self.types.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "head": self.name, "layer": self.layer, "index": self.head,
            "auc": self.auc, "auc_interval": _listed(self.auc_interval), "auc_top10_share": self.auc_top10_share,
            "weight": self.weight, "weight_interval": _listed(self.weight_interval),
            "weight_top10_share": self.weight_top10_share, "weight_crosses_zero": self.weight_crosses_zero,
            "types": {d: {p: None if v != v else v for p, v in t.items()} for d, t in self.types.items()},
            "dominant_type": self.dominant,
        }


def _listed(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [pair[0], pair[1]]


def _optional(values: list[Any] | None, index: int) -> Any:
    if values is None:
        return None
    value = values[index]
    if isinstance(value, list):
        return None if any(v is None or v != v for v in value) else (float(value[0]), float(value[1]))
    return None if value is None or value != value else float(value)


def _number(value: Any) -> float:
    """A stored score as float: None (NaN written as JSON null) is NaN."""
    return float("nan") if value is None else float(value)


def head_summaries(detector: Detector, *, by: Ranking = "auc", top: int | None = None) -> list[HeadSummary]:
    """Heads (module docstring) ordered by ``by``: ``auc`` (default, the stable order) or ``weight``."""
    layout = detector.layout
    section = detector.card.heads
    aucs = detector.card.head_roc_auc
    if "auc" in section:
        auc = np.array(section["auc"], float)
    elif aucs is not None:  # detectors trained before head summaries: the same combination of the stored AUCs
        auc = layout.by_head(np.array(aucs, float))[0].mean(0)
    else:
        auc = np.full(layout.layers * layout.heads, np.nan)
    weight = np.array(section["weight"], float) if "weight" in section else layout.by_head(detector.coef).sum((0, 1))
    types = (section.get("types") or {}).get("scores", {})
    key = np.nan_to_num(auc if by == "auc" else weight, nan=-np.inf)
    order = np.argsort(-key, kind="stable")
    summaries = []
    for rank, index in enumerate(order[: top if top else None], start=1):
        layer, head = divmod(int(index), layout.heads)
        summaries.append(HeadSummary(
            rank=rank, layer=layer, head=head, auc=float(auc[index]), weight=float(weight[index]),
            auc_interval=_optional(section.get("auc_interval"), index),
            auc_top10_share=_optional(section.get("auc_top10_share"), index),
            weight_interval=_optional(section.get("weight_interval"), index),
            weight_top10_share=_optional(section.get("weight_top10_share"), index),
            types={direction: {pattern: _number(values[layer][head]) for pattern, values in patterns.items()}
                   for direction, patterns in types.items()},
        ))
    return summaries


@dataclass(frozen=True)
class HeadWeight:
    """One feature column's standardised weight in the detector and its own held-out ROC AUC."""

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
    """Feature columns ranked by standardised weight, largest (strongest evidence of a link) first."""
    aucs = detector.card.head_roc_auc or (None,) * detector.layout.n_features
    order = np.argsort(-detector.coef, kind="stable")
    ranked = []
    for rank, feature in enumerate(order[: top if top else None], start=1):
        direction, layer, head, offset = detector.layout.head_of(int(feature))
        auc = aucs[feature]
        ranked.append(HeadWeight(rank, direction, layer, head, float(detector.coef[feature]),
                                 None if auc is None else float(auc), offset))
    return ranked
