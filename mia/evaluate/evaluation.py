"""Evaluate a detector like an alignment tool: token and word level, beside string baselines, on any pair file.

Token level: average precision, ROC AUC (over scores binned to 15 mantissa bits and tallied pair by pair, so
memory does not grow with the token pairs; see :class:`~mia.evaluate.metrics.RankingTally`), precision / recall /
F1 at the threshold, for the detector and the token baselines (same token; run of >= 3 equal tokens). Word level
(words: runs of letters/digits or single punctuation marks, or whitespace tokens): precision / recall / F1 of
linked word pairs (micro-averaged over all pairs), and AER where the pairs carry possible links. A word pair is
linked by the detector when any of their token pairs is; the gold word pairs follow the pair-file link rule
applied to words. Pairs the detector was fit or tuned on are left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mia.alignment.candidate_windows import Candidates
from mia.alignment.decoding import Decode
from mia.alignment.detection import decoded
from mia.alignment.passages import PassageRule
from mia.alignment.windowed import COMBINE_RULE, dense_scores, plan_pair
from mia.detector.detector import Detector
from mia.evaluate.embedding_aligner import EMBEDDING_ALIGNER, embedding_argmax
from mia.evaluate.metrics import RankingTally, f1_score
from mia.evaluate.phrases import PhraseCounts, gold_phrases, word_link_phrases
from mia.evaluate.scores import TestScores
from mia.evaluate.string_match import WORD_BASELINES
from mia.models.attention import AttentionModel
from mia.models.embedding import EmbeddingLayer, resolve_embedding_layer
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair, pair_hash, token_labels
from mia.text.words import WordScheme, word_spans, words_of

WORD_COLUMNS = (("precision", "P"), ("recall", "R"), ("f1", "F1"))
# the word pairs, and the token pairs, of one pair that evaluation holds as dense matrices; a larger pair is left out
# and reported (``too_large``). A pair of 48.6 million cells (6,675 x 6,675 words, 6,969 x 6,969 tokens) peaked at
# 1.8 GB RSS in `mia evaluate` here (about 25 bytes a cell beyond the model): what the dense matrices cost
MAX_CELLS = 50_000_000


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
        result = {"precision": precision, "recall": recall, "f1": f1_score(precision, recall)}
        if with_aer:
            result["aer"] = alignment_error_rate(self.predicted, self.sure, self.hit_sure, self.hit_possible)
        return result


def alignment_error_rate(predicted: int, sure: int, hit_sure: int, hit_possible: int) -> float:
    """AER = 1 - (|A & S| + |A & P|) / (|A| + |S|), with the sure links S counted among the possible P."""
    total = predicted + sure
    return 1.0 - (hit_sure + hit_possible) / total if total else 0.0


PER_PAIR_PROTOCOL = ("precision and recall per pair, averaged over pairs; gold = sure + possible links; a pair with "
                     "no predicted or no gold links counts 1 when both are empty, 0 otherwise")
PHRASE_MIN_WORDS = 3
PHRASE_RULE = ("phrases of every scorer are runs of its linked words (joined across at most 2 skipped words); a gold "
               "phrase (copied passage) is found when one phrase of at least 3 linked words covers >= 90% of it on "
               "both sides; a phrase is correct when >= 90% of it lies inside one gold phrase on both sides")


def pair_precision_recall(predicted: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """One pair's precision and recall as the monolingual alignment papers count them (PER_PAIR_PROTOCOL)."""
    n_predicted, n_gold = int(predicted.sum()), int(gold.sum())
    hits = int((predicted & gold).sum())
    precision = hits / n_predicted if n_predicted else float(n_gold == 0)
    recall = hits / n_gold if n_gold else float(n_predicted == 0)
    return precision, recall


def _precision_recall_f1(precision: float, recall: float) -> dict[str, float]:
    return {"precision": precision, "recall": recall, "f1": f1_score(precision, recall)}


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
    floors: dict[str, float] = field(default_factory=dict)  # the argmax decodings' floors (see Detector.floor_for)
    min_outside: int = 1  # window pairs: links outside passages kept in phrases of at least this many links
    not_measured: list[dict[str, str]] = field(default_factory=list)  # pairs left out, each with why (too_large)

    def to_dict(self, *, per_pair: bool = True) -> dict[str, Any]:
        result = {
            "pairs": self.pairs,
            "excluded_trained_pairs": self.excluded_trained,
            "not_measured_pairs": self.not_measured,
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
                **self._decoding_settings(),
                "scorers": self.word,
                "per_pair_averaged": {"protocol": PER_PAIR_PROTOCOL, "scorers": self.word_per_pair},
            },
            "phrase_level": {"rule": PHRASE_RULE, **self.phrase_counts, "scorers": self.phrase},
        }
        if per_pair:
            result["per_pair"] = self.per_pair
        return result

    def _decoding_settings(self) -> dict[str, Any]:
        """What the JSON and the card record of the decoding beyond its name: the argmax floors, and which links
        outside passages window pairs print (each only when it applies)."""
        settings: dict[str, Any] = {"floors": self.floors} if self.floors else {}
        if self.min_outside > 1:
            settings["window_pairs_outside_passages"] = PassageRule.outside_note(self.min_outside)
        return settings

    def headline(self) -> str:
        """The one number, and what it is beside: the detector's word F1 under its decoding and the string
        baselines' on the same pairs."""
        return headline_text(self.card())

    def card(self) -> dict[str, Any]:
        """The held-out measures as a detector records them (``detector.json`` ``metrics``): the headline measure
        (word level, the detector's decoded links) beside the string baselines, then token level."""
        return {
            "headline": HEADLINE,
            "evaluated_on": f"{self.pairs} held-out pairs ({self.word_pairs} word pairs, {self.word_positives} "
                            f"linked; {self.windowed} run as window pairs)",
            "pairs": self.pairs, "decode": self.decode, "words": self.word_scheme, "threshold": self.threshold,
            **self._decoding_settings(),
            "word_level": self.word,
            "token_level": self.token,
            "phrase_level": self.phrase,
        }


HEADLINE = ("word-level precision, recall and F1 of the detector's decoded links (what detect prints) on held-out "
            "pairs, beside string baselines on the same pairs")
DETECTOR_ROW = "detector ({decode})"
HEADLINE_BASELINES = ("greedy string tiling (>= 3)", "run of >= 3 words", "same word")


def headline_text(card: Mapping[str, Any]) -> str:
    """One line: the detector's word F1 (P, R) under its decoding, then the baselines' F1 on the same pairs; for a
    detector card without word-level measures (trained before they were recorded), says so."""
    word = card.get("word_level") or {}
    if card.get("unmeasured"):
        return f"not measured on held-out pairs: {card['unmeasured']}"
    if "detector" not in word:
        return "no word-level measures recorded (trained before they were): run mia evaluate on held-out pairs"
    mine = word["detector"]
    beside = [name for name in HEADLINE_BASELINES if name in word]
    beside += [name for name in word if name.startswith(EMBEDDING_ALIGNER.split("{")[0])]
    others = ", ".join(f"{name} {word[name]['f1']:.3f}" for name in beside)
    return (f"word F1 {mine['f1']:.3f} (P {mine['precision']:.3f}, R {mine['recall']:.3f}): the detector's "
            f"{card.get('decode', '?')} links over {card.get('words', '?')} words on {card.get('evaluated_on', '?')}; "
            f"same pairs: {others}")


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
    candidates: Candidates = "sentences",
    passages: PassageRule | None = None,
    whole_probabilities: Mapping[str, np.ndarray] | None = None,
    embedding_layer: EmbeddingLayer = "middle",
    progress: Progress = no_progress,
) -> Evaluation:
    """Measure a detector and the string baselines on the same pairs, at token and word level. ``passages``
    (default: the detector's rule) decides, for pairs run as window pairs, which links outside passages are kept, as
    ``detect`` does. ``whole_probabilities``: probabilities of pairs that fit the model whole, by pair id, already
    taken by :meth:`~mia.detector.detector.Detector.probability_reader` from a pass that served another reader too
    (those pairs are not run again). ``embedding_layer``: also measure the embedding aligner of the same model at
    this layer (:mod:`mia.evaluate.embedding_aligner`; ``middle``: half the model's depth), beside the string
    baselines; None: not."""
    from mia.errors import MiaError

    detector.check_model(model)
    threshold = detector.threshold if threshold is None else threshold
    rule = detector.passage_rule if passages is None else passages
    trained = detector.card.fitted_hashes
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
    token_scores = TestScores()
    aligners = model_aligners(model, resolve_embedding_layer(model, embedding_layer))  # a wrong layer: said now
    words = WordTally(with_aer=with_aer, aligners=aligners)
    # pairs too large to measure are found before any pair runs (by their token counts: planning a long pair embeds
    # its sentences), left out and said; the other pairs are still measured
    reasons = {id(pair): too_large(pair, (len(model.tokens(pair.a)), len(model.tokens(pair.b))), word_scheme)
               for pair in untrained}
    not_measured = [{"id": pair.id, "reason": reason} for pair in untrained
                    if (reason := reasons[id(pair)]) is not None]
    if len(not_measured) == len(untrained):
        raise MiaError(f"none of the {len(untrained)} pairs could be measured: {not_measured[0]['reason']}")
    for pair in progress([pair for pair in untrained if reasons[id(pair)] is None], "evaluate",
                         len(untrained) - len(not_measured)):
        planned = plan_pair(model, pair, candidates=candidates)
        whole = planned.whole is not None
        windowed += not whole
        taken = whole_probabilities.get(pair.id) if whole_probabilities is not None and whole else None
        if taken is not None and taken.shape != planned.shape:
            raise ValueError(f"whole_probabilities of pair {pair.id!r} have shape {taken.shape}; its tokens make "
                             f"{planned.shape}")
        probabilities = (  # exact, every token pair
            taken if taken is not None else dense_scores(planned, model, scorer, batch_size=batch_size,
                                                              progress=progress))
        # the detector's output exactly as `detect` makes it: its decoded word links
        detection = decoded(pair, probabilities, (planned.a_spans, planned.b_spans), threshold=threshold,
                            decode=decode, words=word_scheme, floor=detector.floor_for(windowed=not whole),
                            passages=rule, min_outside=rule.outside_for(windowed=not whole))
        token_scores.add(token_labels(pair, planned.a_spans, planned.b_spans), probabilities,
                         [pair.a[s:e] for s, e in planned.a_spans], [pair.b[s:e] for s, e in planned.b_spans],
                         threshold=threshold)
        words.add(pair, detection)
    return Evaluation(
        pairs=len(untrained) - len(not_measured), excluded_trained=len(pairs) - len(untrained), windowed=windowed,
        threshold=threshold, word_scheme=word_scheme, with_aer=with_aer, token=token_scores.metrics(),
        decode=decode, token_pairs=token_scores.token_pairs, token_positives=token_scores.positives,
        min_outside=max(rule.min_outside, 1), not_measured=not_measured,
        floors={} if decode == "threshold" else {"pairs that fit the model": detector.floor_for(windowed=False),
                                                 "window pairs": detector.floor_for(windowed=True)},
        **words.results(),
    )


WordAligner = Callable[[Pair, np.ndarray, np.ndarray], np.ndarray]  # (pair, A's, B's word spans) -> bool links


def model_aligners(model: AttentionModel, embedding_layer: int | None) -> dict[str, WordAligner]:
    """The baselines that read the model itself, by their row name: the embedding aligner at ``embedding_layer``
    (none when it is None)."""
    if embedding_layer is None:
        return {}
    layer = embedding_layer

    def embedding_links(pair: Pair, a_words: np.ndarray, b_words: np.ndarray) -> np.ndarray:
        return embedding_argmax(model, pair.a, pair.b, a_words, b_words, layer=layer)

    return {EMBEDDING_ALIGNER.format(layer=layer): embedding_links}


@dataclass
class WordTally:
    """The word and phrase level of an evaluation, tallied pair by pair (nothing kept per word pair): for the
    detector's decoded links and each word baseline, micro counts, per-pair precision and recall (the alignment
    papers' protocol), phrases against the gold phrases, and the detector's word scores for its average precision."""

    with_aer: bool
    aligners: Mapping[str, WordAligner] = field(default_factory=dict)  # model-based baselines beside the strings
    scorers: tuple[str, ...] = ()
    totals: dict[str, WordCounts] = field(default_factory=dict)
    macro: dict[str, list[float]] = field(default_factory=dict)
    phrases: dict[str, PhraseCounts] = field(default_factory=lambda: {
        name: PhraseCounts() for name in ("detector", "run of >= 3 words", "greedy string tiling (>= 3)")})
    ranking: RankingTally = field(default_factory=RankingTally)
    word_pairs: int = 0
    word_positives: int = 0
    per_pair: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scorers = ("detector", *WORD_BASELINES, *self.aligners)
        self.totals = {name: WordCounts() for name in self.scorers}
        self.macro = {name: [0.0, 0.0] for name in self.scorers}

    def add(self, pair: Pair, detection: Any) -> None:
        """Tally one pair: the detector's links in ``detection`` and the baselines' on the same words."""
        a_words, b_words, scores = detection.word_scores()
        sure = token_labels(pair, a_words, b_words)
        possible = sure | token_labels(replace(pair, links=pair.links + pair.possible), a_words, b_words)
        decisions = {"detector": detection.word_links()}
        a_text, b_text = words_of(pair.a, a_words), words_of(pair.b, b_words)
        for name, baseline in WORD_BASELINES.items():
            decisions[name] = baseline(a_text, b_text)
        for name, aligner in self.aligners.items():
            decisions[name] = aligner(pair, a_words, b_words)
        row: dict[str, Any] = {"id": pair.id, "a_words": len(a_text), "b_words": len(b_text),
                               "gold_links": int(sure.sum())}
        for name in self.scorers:
            counts = word_counts(decisions[name], sure, possible)
            self.totals[name].add(counts)
            row[name] = {k: round(v, 4) for k, v in counts.metrics(with_aer=self.with_aer).items()}
            precision, recall = pair_precision_recall(decisions[name], possible)
            self.macro[name][0] += precision
            self.macro[name][1] += recall
        gold = gold_phrases(pair)
        for name in self.phrases:  # one phrase rule for the detector and the baselines: runs of linked words
            self.phrases[name].add(word_link_phrases(decisions[name], a_words, b_words, min_words=PHRASE_MIN_WORDS),
                                   gold)
        self.per_pair.append(row)
        self.ranking.add(sure, scores)
        self.word_pairs += sure.size
        self.word_positives += int(np.count_nonzero(sure))

    def results(self) -> dict[str, Any]:
        """The :class:`Evaluation` fields this tally fills."""
        measured = len(self.per_pair)
        return {
            "word": {name: self.totals[name].metrics(with_aer=self.with_aer) for name in self.scorers},
            "word_detector_ap": self.ranking.metrics()[0],
            "word_per_pair": {name: _precision_recall_f1(*(total / measured for total in self.macro[name]))
                              for name in self.scorers},
            "phrase": {name: counts.metrics() for name, counts in self.phrases.items()},
            "phrase_counts": {"gold": self.phrases["detector"].gold},
            "per_pair": self.per_pair, "word_pairs": self.word_pairs, "word_positives": self.word_positives,
        }


def too_large(pair: Pair, tokens: tuple[int, int], words: WordScheme) -> str | None:
    """Why ``pair`` (``tokens``: its token counts ``(n_a, n_b)``) is too large for the dense word-pair and
    token-pair matrices evaluation ranks and compares (more than :data:`MAX_CELLS` cells), or None."""
    n_words = len(word_spans(pair.a, words)), len(word_spans(pair.b, words))
    if max(n_words[0] * n_words[1], tokens[0] * tokens[1]) <= MAX_CELLS:
        return None
    return (f"{n_words[0]:,} x {n_words[1]:,} words ({tokens[0]:,} x {tokens[1]:,} tokens): more than the "
            f"{MAX_CELLS:,} word or token pairs that evaluation holds as dense matrices for one pair; documents are "
            "measured by their reused passages (evaluate --gold passages, PAN's measures) or split into shorter pairs")
