"""Evaluate a detector like an alignment tool: token and word level, beside string baselines, on any pair file.

Token level: average precision, ROC AUC, precision / recall / F1 at the threshold, for the detector and the
token baselines (same token; run of >= 3 equal tokens). Word level (words: runs of letters/digits or single
punctuation marks, or whitespace tokens): precision / recall / F1 of linked word pairs (micro-averaged over
all pairs), and AER where the pairs carry possible links. A word pair is linked by the detector when any of
their token pairs is; the gold word pairs follow the pair-file link rule applied to words. Pairs the detector
was fit or tuned on are left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mia.detector.decoding import Decode
from mia.detector.decoding import decode as decode_words
from mia.detector.detection import detection_from_probabilities
from mia.detector.detector import Detector
from mia.detector.windowed import COMBINE_RULE, dense_scores, plan_pair
from mia.evaluate.metrics import metrics_table, ranking_metrics
from mia.evaluate.phrases import PhraseCounts, gold_phrases, word_link_phrases
from mia.evaluate.scores import TestScores
from mia.evaluate.string_match import WORD_BASELINES
from mia.models.attention import AttentionModel
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair, pair_hash, token_labels
from mia.text.words import WordScheme, words_of

WORD_COLUMNS = (("precision", "P"), ("recall", "R"), ("f1", "F1"))


@dataclass
class WordCounts:
    """Counts of linked word pairs for one scorer: predicted, gold (sure), hits on sure and on possible."""

    predicted: int = 0
    sure: int = 0
    hit_sure: int = 0
    hit_possible: int = 0

    def add(self, other: WordCounts) -> None:
        self.predicted += other.predicted
        self.sure += other.sure
        self.hit_sure += other.hit_sure
        self.hit_possible += other.hit_possible

    def metrics(self, *, with_aer: bool) -> dict[str, float]:
        precision = self.hit_sure / self.predicted if self.predicted else 0.0
        recall = self.hit_sure / self.sure if self.sure else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result = {"precision": precision, "recall": recall, "f1": f1}
        if with_aer:
            result["aer"] = alignment_error_rate(self.predicted, self.sure, self.hit_sure, self.hit_possible)
        return result


def alignment_error_rate(predicted: int, sure: int, hit_sure: int, hit_possible: int) -> float:
    """AER = 1 - (|A & S| + |A & P|) / (|A| + |S|), with the sure links S counted among the possible P."""
    total = predicted + sure
    return 1.0 - (hit_sure + hit_possible) / total if total else 0.0


PER_PAIR_PROTOCOL = ("precision and recall per pair, averaged over pairs; gold = sure + possible links; a pair with "
                     "no predicted or no gold links counts 1 when both are empty, 0 otherwise")
PHRASE_MIN_TOKENS = 3
PHRASE_RULE = ("a gold phrase (copied passage) is found when one predicted phrase of at least 3 tokens (3 words for "
               "string baselines) covers >= 90% of it on both sides; a predicted phrase is correct when >= 90% of it "
               "lies inside one gold phrase on both sides")


def pair_precision_recall(predicted: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """One pair's precision and recall as the monolingual alignment papers count them (PER_PAIR_PROTOCOL)."""
    n_predicted, n_gold = int(predicted.sum()), int(gold.sum())
    hits = int((predicted & gold).sum())
    precision = hits / n_predicted if n_predicted else float(n_gold == 0)
    recall = hits / n_gold if n_gold else float(n_predicted == 0)
    return precision, recall


def _precision_recall_f1(precision: float, recall: float) -> dict[str, float]:
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def word_counts(predicted: np.ndarray, sure: np.ndarray, possible: np.ndarray) -> WordCounts:
    return WordCounts(
        predicted=int(predicted.sum()),
        sure=int(sure.sum()),
        hit_sure=int((predicted & sure).sum()),
        hit_possible=int((predicted & possible).sum()),
    )


@dataclass
class Evaluation:
    """Result of :func:`evaluate_detector`."""

    pairs: int
    excluded_trained: int
    threshold: float
    word_scheme: str
    with_aer: bool
    token: dict[str, dict[str, float]]
    word: dict[str, dict[str, float]]
    word_detector_ap: float
    windowed: int = 0  # pairs longer than the model, run as window pairs
    decode: str = "threshold"
    word_per_pair: dict[str, dict[str, float]] = field(default_factory=dict)  # the alignment papers' protocol
    phrase: dict[str, dict[str, float]] = field(default_factory=dict)
    phrase_counts: dict[str, int] = field(default_factory=dict)
    per_pair: list[dict[str, Any]] = field(default_factory=list)
    token_pairs: int = 0
    token_positives: int = 0
    word_pairs: int = 0
    word_positives: int = 0

    def to_dict(self, *, per_pair: bool = True) -> dict[str, Any]:
        result = {
            "pairs": self.pairs,
            "excluded_trained_pairs": self.excluded_trained,
            "windowed_pairs": self.windowed,
            "windows_rule": COMBINE_RULE,
            "threshold": self.threshold,
            "words": self.word_scheme,
            "token_level": {"token_pairs": self.token_pairs, "linked": self.token_positives, "scorers": self.token},
            "word_level": {
                "word_pairs": self.word_pairs,
                "linked": self.word_positives,
                "detector_average_precision": self.word_detector_ap,
                "decode": self.decode,
                "scorers": self.word,
                "per_pair_averaged": {"protocol": PER_PAIR_PROTOCOL, "scorers": self.word_per_pair},
            },
            "phrase_level": {"rule": PHRASE_RULE, **self.phrase_counts, "scorers": self.phrase},
        }
        if per_pair:
            result["per_pair"] = self.per_pair
        return result

    def text(self) -> str:
        lines = [
            f"{self.pairs} pairs evaluated ({self.excluded_trained} left out: the detector was fit or tuned on "
            f"them; {self.windowed} longer than the model, run as window pairs); threshold {self.threshold:.3f}",
            "",
            metrics_table(self.token, title=f"token level: {self.token_pairs} token pairs, "
                          f"{self.token_positives} linked"),
            "",
            metrics_table(
                self.word,
                title=f"word level ({self.word_scheme} words): {self.word_pairs} word pairs, "
                f"{self.word_positives} linked; detector AP {self.word_detector_ap:.3f}",
                columns=WORD_COLUMNS + ((("aer", "AER"),) if self.with_aer else ()),
            ),
            "",
            metrics_table(self.word_per_pair, title="word level, per pair averaged (gold: sure + possible)",
                          columns=WORD_COLUMNS),
            "",
            metrics_table(self.phrase, title=f"phrase level: {self.phrase_counts.get('gold', 0)} gold phrases "
                          f"(found: covered >= 90% on both sides by one phrase of >= {PHRASE_MIN_TOKENS} tokens)",
                          columns=WORD_COLUMNS),
        ]
        return "\n".join(lines)


def evaluate_detector(
    detector: Detector,
    model: AttentionModel,
    pairs: Sequence[Pair],
    *,
    threshold: float | None = None,
    word_scheme: WordScheme = "regex",
    batch_size: int = 1,
    include_trained: bool = False,
    decode: Decode = "threshold",
    progress: Progress = no_progress,
) -> Evaluation:
    """Measure a detector and the string baselines on the same pairs, at token and word level."""
    from mia.errors import MiaError

    detector.check_model(model)
    threshold = detector.threshold if threshold is None else threshold
    trained = set(detector.metadata.get("split", {}).get("fit_or_tuned_on_hashes", []))
    untrained = [pair for pair in pairs if include_trained or pair_hash(pair) not in trained]
    if not untrained:
        raise MiaError(
            f"all {len(pairs)} pairs were used to fit or tune this detector; evaluate on other pairs "
            "(numbers on training pairs are not a result)"
        )
    if not any(pair.links for pair in untrained):
        raise MiaError(
            f"the {len(untrained)} pairs to evaluate hold no gold links: there is nothing to measure against; give "
            "a pair file with links (from `generate` or `import-alignments`)"
        )
    with_aer = any(pair.possible for pair in untrained)
    scorer = detector.window_scorer(model)
    windowed = 0
    scorers = ["detector", *WORD_BASELINES]
    totals = {name: WordCounts() for name in scorers}
    macro = {name: [0.0, 0.0] for name in scorers}
    phrase_totals = {name: PhraseCounts() for name in ("detector", "run of >= 3 words", "greedy string tiling (>= 3)")}
    token_scores = TestScores()
    word_gold, word_detector, per_pair = [], [], []
    for pair in progress(untrained, "evaluate", len(untrained)):
        planned = plan_pair(model, pair)
        windowed += planned.whole is None
        probabilities = dense_scores(planned, model, scorer, batch_size=batch_size)  # exact, every token pair
        detection = detection_from_probabilities(pair, planned.a_spans, planned.b_spans, probabilities,
                                                 threshold=threshold)
        token_scores.add(token_labels(pair, planned.a_spans, planned.b_spans), probabilities,
                         [pair.a[s:e] for s, e in planned.a_spans], [pair.b[s:e] for s, e in planned.b_spans])

        a_words, b_words, scores = detection.word_scores(word_scheme)
        sure = token_labels(pair, a_words, b_words)
        possible = sure | token_labels(replace(pair, links=pair.links + pair.possible), a_words, b_words)
        decisions = {"detector": decode_words(scores, decode, threshold)}  # as Detection.word_links
        a_text, b_text = words_of(pair.a, a_words), words_of(pair.b, b_words)
        for name, baseline in WORD_BASELINES.items():
            decisions[name] = baseline(a_text, b_text)
        row: dict[str, Any] = {"id": pair.id, "a_words": len(a_text), "b_words": len(b_text),
                               "gold_links": int(sure.sum())}
        for name in scorers:
            counts = word_counts(decisions[name], sure, possible)
            totals[name].add(counts)
            row[name] = {k: round(v, 4) for k, v in counts.metrics(with_aer=with_aer).items()}
            precision, recall = pair_precision_recall(decisions[name], possible)
            macro[name][0] += precision
            macro[name][1] += recall
        gold = gold_phrases(pair)
        phrase_totals["detector"].add([(p.a_start, p.a_end, p.b_start, p.b_end) for p in detection.phrases
                                       if p.tokens >= PHRASE_MIN_TOKENS], gold)
        for name in ("run of >= 3 words", "greedy string tiling (>= 3)"):
            phrase_totals[name].add(word_link_phrases(decisions[name], a_words, b_words, min_words=3), gold)
        per_pair.append(row)
        word_gold.append(sure.reshape(-1))
        word_detector.append(scores.reshape(-1))
    gold_all = np.concatenate(word_gold)
    return Evaluation(
        pairs=len(untrained),
        excluded_trained=len(pairs) - len(untrained),
        windowed=windowed,
        threshold=threshold,
        word_scheme=word_scheme,
        with_aer=with_aer,
        token=token_scores.metrics(threshold),
        word={name: totals[name].metrics(with_aer=with_aer) for name in scorers},
        word_detector_ap=ranking_metrics(gold_all, np.concatenate(word_detector))[0],
        decode=decode,
        word_per_pair={name: _precision_recall_f1(*(total / len(untrained) for total in macro[name]))
                       for name in scorers},
        phrase={name: counts.metrics() for name, counts in phrase_totals.items()},
        phrase_counts={"gold": phrase_totals["detector"].gold},
        per_pair=per_pair,
        token_pairs=token_scores.token_pairs,
        token_positives=token_scores.positives,
        word_pairs=int(gold_all.size),
        word_positives=int(gold_all.sum()),
    )
