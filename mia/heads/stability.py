"""How far two detectors agree on their heads: rank correlation and top-10 overlap of each head ranking, and which
heads are specific to one of them (:func:`specific_heads`).

The protocol the README reports: two detectors trained with default options on 300 generated pairs each, one
from the packaged Python reference, one from another corpus (``mia compare-heads A B``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.heads.bootstrap import interval
from mia.heads.ranking import Ranking, head_summaries


@dataclass(frozen=True)
class Agreement:
    """How far two scores of the same items agree; the intervals (2.5th to 97.5th percentile over paired resamples,
    :func:`resampled_agreement`) are None when a detector records no resampled scores."""

    ranking: str
    items: int
    spearman: float
    top10_common: int
    spearman_interval: tuple[float, float] | None = None
    top10_common_interval: tuple[float, float] | None = None
    resamples: int = 0

    def to_dict(self) -> dict[str, Any]:
        def listed(pair: tuple[float, float] | None) -> list[float] | None:
            return None if pair is None else [round(pair[0], 4), round(pair[1], 4)]

        return {"ranking": self.ranking, "items": self.items, "spearman": round(self.spearman, 4),
                "spearman_interval": listed(self.spearman_interval), "top10_common": self.top10_common,
                "top10_common_interval": listed(self.top10_common_interval), "resamples": self.resamples}


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


def top_common(x: np.ndarray, y: np.ndarray, k: int = 10) -> int:
    """How many of ``x``'s top ``k`` items are among ``y``'s top ``k``."""
    return len(set(np.argsort(-x, kind="stable")[:k]) & set(np.argsort(-y, kind="stable")[:k]))


def agreement(name: str, x: np.ndarray, y: np.ndarray, k: int = 10) -> Agreement:
    """Spearman correlation of two scores of the same items, and how many of each one's top ``k`` are shared."""
    return Agreement(name, len(x), spearman(x, y), top_common(x, y, k))


def resampled_agreement(found: Agreement, x_draws: np.ndarray, y_draws: np.ndarray, k: int = 10) -> Agreement:
    """``found`` with 95% percentile intervals of its Spearman and top-``k`` overlap over paired resamples: draw ``d``
    of ``x_draws`` ``[D, items]`` against draw ``d`` of ``y_draws``. The two detectors' test pairs are resampled
    independently, so pairing the draws by number is one draw of both; ``found`` is returned unchanged when either
    side has no draws (or a draw holds NaN)."""
    draws = min(len(x_draws), len(y_draws))
    if draws == 0 or np.isnan(x_draws[:draws]).any() or np.isnan(y_draws[:draws]).any():
        return found
    rhos = [spearman(x_draws[d], y_draws[d]) for d in range(draws)]
    common = [top_common(x_draws[d], y_draws[d], k) for d in range(draws)]
    (rho_low, rho_high), (common_low, common_high) = interval(np.array([rhos, common], float).T)
    return Agreement(found.ranking, found.items, found.spearman, found.top10_common,
                     (float(rho_low), float(rho_high)), (float(common_low), float(common_high)), draws)


def auc_draws(detector: Detector) -> np.ndarray:
    """The detector's resampled head AUCs ``[draws, layers * heads]`` (empty ``[0, layers * heads]`` when it records
    none: detectors trained before mia stored them)."""
    heads = detector.layout.layers * detector.layout.heads
    stored = detector.card.heads.get("auc_draws")
    if not stored:
        return np.zeros((0, heads))
    return np.array([[np.nan if v is None else v for v in row] for row in stored], float).reshape(-1, heads)


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
        found = agreement(label, np.array([x[k] for k in keys]), np.array([y[k] for k in keys]))
        if by == "auc":  # head index layer * heads + head is the order of ``keys``
            found = resampled_agreement(found, auc_draws(first), auc_draws(second))
        rows.append(found)
    if first.layout == second.layout:
        rows.append(agreement("feature columns by standardised weight", first.coef, second.coef))
    return rows


@dataclass(frozen=True)
class HeadDifference:
    """One head's place in two detectors' rankings by own held-out AUC: rank, AUC with its interval, and the share
    of resamples that put it in the top 10 (``first_*`` for the detector it is specific to)."""

    layer: int
    head: int
    first_rank: int
    first_auc: float
    first_interval: tuple[float, float]
    first_top10_share: float
    second_rank: int
    second_auc: float
    second_interval: tuple[float, float]
    second_top10_share: float

    @property
    def name(self) -> str:
        return f"L{self.layer}H{self.head}"

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"layer": self.layer, "head": self.head}
        for side in ("first", "second"):
            result[f"{side}_rank"] = getattr(self, f"{side}_rank")
            result[f"{side}_auc"] = round(getattr(self, f"{side}_auc"), 4)
            result[f"{side}_interval"] = [round(v, 4) for v in getattr(self, f"{side}_interval")]
            result[f"{side}_top10_share"] = round(getattr(self, f"{side}_top10_share"), 4)
        return result


SPECIFIC_RULE = ("a head is specific to one detector when the resamples of its test pairs put it among that detector's "
                 "top 10 heads by own held-out ROC AUC at least {high:.0%} of the time, and the other's resamples at "
                 "most {low:.0%} of the time (ranks, not AUC levels: one relation may be easier for every head)")
SPECIFIC_SHARES = (0.9, 0.1)


def specific_heads(first: Detector, second: Detector) -> tuple[list[HeadDifference], list[HeadDifference]] | None:
    """The heads specific to ``first`` and those specific to ``second`` (:data:`SPECIFIC_RULE`), each list in the
    order of its detector's ranking; None when either detector records no bootstrap of its AUCs (nothing to tell).
    In each :class:`HeadDifference`, ``first`` is the detector the head is specific to."""
    if first.layout.base() != second.layout.base():
        raise MiaError("the two detectors read different models' heads: compare detectors of one model")
    heads = [{(h.layer, h.head): h for h in head_summaries(d, by="auc")} for d in (first, second)]
    if any(h.auc_interval is None or h.auc_top10_share is None for side in heads for h in side.values()):
        return None
    high, low = SPECIFIC_SHARES
    found: tuple[list[HeadDifference], list[HeadDifference]] = ([], [])
    for side, (mine, other) in enumerate(((heads[0], heads[1]), (heads[1], heads[0]))):
        for key, head in sorted(mine.items(), key=lambda item: item[1].rank):
            there = other[key]
            if (head.auc_top10_share or 0.0) >= high and (there.auc_top10_share or 0.0) <= low:
                found[side].append(HeadDifference(
                    key[0], key[1], head.rank, head.auc, head.auc_interval or (0.0, 0.0), head.auc_top10_share or 0.0,
                    there.rank, there.auc, there.auc_interval or (0.0, 0.0), there.auc_top10_share or 0.0))
    return found
