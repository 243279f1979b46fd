"""Every token pair of some pairs, scored by the detector and the token baselines, tallied pair by pair.

Nothing per token pair is kept: each scorer's scores go into a :class:`~mia.evaluate.metrics.RankingTally` (AP and
ROC AUC over scores binned to 15 mantissa bits) and its decisions into counts, so memory does not grow with the
number of token pairs (120 document pairs of about 400 words held 5 GB when every score was kept).
"""

from __future__ import annotations

import numpy as np

from mia.evaluate.metrics import DecisionCounts, RankingTally
from mia.evaluate.string_match import baseline_scores

DETECTOR = "detector"


class TestScores:
    """Token-level measures of the detector and each token baseline on the same token pairs, filled pair by pair
    with :meth:`add`."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.ranking: dict[str, RankingTally] = {}
        self.decisions: dict[str, DecisionCounts] = {}
        self.token_pairs = 0
        self.positives = 0

    def add(self, gold: np.ndarray, probabilities: np.ndarray, a_tokens: list[str], b_tokens: list[str], *,
            threshold: float) -> None:
        """One pair: gold ``[n_a, n_b]``, the detector's probabilities ``[n_a, n_b]`` (decided ``>= threshold``), the
        tokens' texts."""
        self.token_pairs += gold.size
        self.positives += int(np.count_nonzero(gold))
        baselines = baseline_scores(a_tokens, b_tokens)
        scored = {DETECTOR: (probabilities, probabilities >= threshold)}
        decisions = baselines.decisions()
        for name, score in baselines.scores().items():
            scored[name] = (score, decisions[name])
        for name, (score, decision) in scored.items():
            self.ranking.setdefault(name, RankingTally()).add(gold, score)
            self.decisions.setdefault(name, DecisionCounts()).add(gold, decision)

    def metrics(self) -> dict[str, dict[str, float]]:
        """``average_precision``, ``roc_auc``, ``precision``, ``recall``, ``f1`` of the detector and each baseline."""
        rows = {}
        for name, tally in self.ranking.items():
            average_precision, roc_auc = tally.metrics()
            precision, recall, f1 = self.decisions[name].metrics()
            rows[name] = {"average_precision": average_precision, "roc_auc": roc_auc, "precision": precision,
                          "recall": recall, "f1": f1}
        return rows
