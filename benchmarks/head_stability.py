"""How far two detectors agree on their heads: Spearman and top-10 overlap of several head rankings.

    python -m mia train --limit 300 --out /tmp/stab/ref300
    python -m mia train --corpus ../shared/corpora/gatsby.txt --limit 300 --out /tmp/stab/gatsby300
    python benchmarks/head_stability.py /tmp/stab/ref300 /tmp/stab/gatsby300
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mia.detector.detector import Detector  # noqa: E402
from mia.models.layout import FeatureLayout  # noqa: E402


def per_head(values: np.ndarray, layout: FeatureLayout, combine: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Columns ``[F]`` reshaped to ``[offsets, directions, layers * heads]`` and combined into one value per head."""
    shaped = np.asarray(values, float).reshape(len(layout.offsets), len(layout.directions), -1)
    return combine(shaped)


def agreement(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Spearman correlation and how many of the top 10 are the same."""
    return float(spearmanr(x, y).statistic), len(set(np.argsort(-x)[:10]) & set(np.argsort(-y)[:10]))


def main(argv: list[str]) -> int:
    first, second = Detector.load(argv[0]), Detector.load(argv[1])
    layout = first.layout
    auc_a, auc_b = (np.array(d.metadata["head_roc_auc"]) for d in (first, second))
    rankings = {
        "every column, standardised weight": (first.coef, second.coef),
        "heads: sum of standardised weights over columns": tuple(
            per_head(d.coef, layout, lambda v: v.sum((0, 1))) for d in (first, second)),
        "every column, own held-out ROC AUC": (auc_a, auc_b),
        "heads: best own ROC AUC over columns": tuple(
            per_head(auc, layout, lambda v: v.max((0, 1))) for auc in (auc_a, auc_b)),
        "heads: own ROC AUC at (i, j), mean of directions": tuple(
            per_head(auc, layout, lambda v: v[0].mean(0)) for auc in (auc_a, auc_b)),
    }
    for name, (x, y) in rankings.items():
        rho, common = agreement(x, y)
        print(f"{name:<50} Spearman {rho:.3f}  top-10 in common {common}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
