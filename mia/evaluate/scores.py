"""Scores of every token pair of some pairs, for the detector and the token baselines, and their metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mia.evaluate.metrics import scorer_metrics
from mia.evaluate.string_match import baseline_scores


@dataclass
class TestScores:
    """Every token pair of some pairs: gold labels, detector probabilities, baseline scores and decisions.

    Filled pair by pair with :meth:`add`; arrays are flat over all token pairs.
    """

    labels: list[np.ndarray] = field(default_factory=list)
    detector: list[np.ndarray] = field(default_factory=list)
    baseline_scores: dict[str, list[np.ndarray]] = field(default_factory=dict)
    baseline_decisions: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, gold: np.ndarray, probabilities: np.ndarray, a_tokens: list[str], b_tokens: list[str]) -> None:
        """One pair: gold ``[n_a, n_b]``, the detector's probabilities ``[n_a, n_b]``, the tokens' texts."""
        self.labels.append(gold.reshape(-1))
        self.detector.append(probabilities.reshape(-1))
        baselines = baseline_scores(a_tokens, b_tokens)
        for name, score in baselines.scores().items():
            self.baseline_scores.setdefault(name, []).append(score.reshape(-1))
        for name, decision in baselines.decisions().items():
            self.baseline_decisions.setdefault(name, []).append(decision.reshape(-1))

    def metrics(self, threshold: float) -> dict[str, dict[str, float]]:
        """Metrics of the detector and each baseline on the same token pairs."""
        labels, detector = np.concatenate(self.labels), np.concatenate(self.detector)
        rows = {"detector": scorer_metrics(labels, detector, detector >= threshold)}
        for name, score in self.baseline_scores.items():
            rows[name] = scorer_metrics(
                labels, np.concatenate(score), np.concatenate(self.baseline_decisions[name])
            )
        return rows

    @property
    def token_pairs(self) -> int:
        return sum(len(labels) for labels in self.labels)

    @property
    def positives(self) -> int:
        return int(sum(labels.sum() for labels in self.labels))
