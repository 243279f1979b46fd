"""How far two detectors agree on their heads: Spearman and top-10 overlap of several head rankings.

    python -m mia train --limit 300 --out /tmp/stab/ref300
    python -m mia train --corpus ../shared/corpora/gatsby.txt --limit 300 --out /tmp/stab/gatsby300
    python benchmarks/head_stability.py /tmp/stab/ref300 /tmp/stab/gatsby300
"""

import sys

import numpy as np
from scipy.stats import spearmanr
from mia.detector.detector import Detector
a, b = Detector.load(sys.argv[1]), Detector.load(sys.argv[2])
L = a.layout


def per_head(values, combine):
    v = np.asarray(values, float).reshape(len(L.offsets), len(L.directions), L.layers * L.heads)
    return combine(v)


def report(name, x, y):
    rho = spearmanr(x, y).statistic
    top = len(set(np.argsort(-x)[:10]) & set(np.argsort(-y)[:10]))
    print(f"{name:<55} Spearman {rho:.3f}  top-10 in common {top}")



report("every column, standardised weight", a.coef, b.coef)
report("heads: sum of standardised weights over columns", per_head(a.coef, lambda v: v.sum((0, 1))), per_head(b.coef, lambda v: v.sum((0, 1))))
aa, ab = np.array(a.metadata["head_roc_auc"]), np.array(b.metadata["head_roc_auc"])
report("every column, own held-out ROC AUC", aa, ab)
report("heads: best own ROC AUC over columns", per_head(aa, lambda v: v.max((0, 1))), per_head(ab, lambda v: v.max((0, 1))))
report("heads: own ROC AUC at (i, j), mean of directions", per_head(aa, lambda v: v[0].mean(0)), per_head(ab, lambda v: v[0].mean(0)))
