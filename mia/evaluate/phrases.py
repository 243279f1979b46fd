"""Phrase-level evaluation: is each copied passage found as one phrase, and is each phrase found a copy?

Gold phrases are span pairs ``(a_start, a_end, b_start, b_end)``: a pair file's optional ``phrases`` (the copied
sentences of noisy copies), else its links; gold spans adjacent on both sides (only whitespace between) are
joined, as a detector's phrase would join them. A gold phrase is **found** when one predicted phrase covers at
least 90% of its characters on both sides. A predicted phrase is **correct** when at least 90% of its characters
on both sides lie inside the two spans of one gold phrase. Every scorer's phrases are made by one rule, from its linked
words (:func:`word_link_phrases`); phrases of fewer than 3 words are word matches, measured at word level, and not
counted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mia.alignment.detection import PHRASE_GAP, diagonal_runs, merge_runs
from mia.evaluate.metrics import f1_score
from mia.text.pairs import Link, Pair
from mia.text.words import overlap

COVER = 0.9
Span4 = tuple[int, int, int, int]


def gold_phrases(pair: Pair) -> list[Span4]:
    """The pair's gold phrases, adjacent ones joined (module docstring)."""
    spans = sorted(pair.phrases or pair.links)
    joined: list[list[int]] = []
    for a0, a1, b0, b1 in spans:
        if joined:
            last = joined[-1]
            if (a0 >= last[1] and not pair.a[last[1] : a0].strip() and b0 >= last[3]
                    and not pair.b[last[3] : b0].strip()):
                last[1], last[3] = a1, b1
                continue
        joined.append([a0, a1, b0, b1])
    return [(a0, a1, b0, b1) for a0, a1, b0, b1 in joined]


def _covers(phrase: Span4, gold: Span4) -> bool:
    a = overlap(phrase[0], phrase[1], gold[0], gold[1]) >= COVER * (gold[1] - gold[0])
    return a and overlap(phrase[2], phrase[3], gold[2], gold[3]) >= COVER * (gold[3] - gold[2])


def _inside(phrase: Span4, gold: Span4) -> bool:
    a = overlap(phrase[0], phrase[1], gold[0], gold[1]) >= COVER * (phrase[1] - phrase[0])
    return a and overlap(phrase[2], phrase[3], gold[2], gold[3]) >= COVER * (phrase[3] - phrase[2])


@dataclass
class PhraseCounts:
    """Gold phrases found, gold phrases, predicted phrases correct, predicted phrases (summed over pairs)."""

    found: int = 0
    gold: int = 0
    correct: int = 0
    predicted: int = 0

    def add(self, predicted: Sequence[Span4], gold: Sequence[Span4]) -> None:
        self.gold += len(gold)
        self.predicted += len(predicted)
        self.found += sum(any(_covers(p, g) for p in predicted) for g in gold)
        self.correct += sum(any(_inside(p, g) for g in gold) for p in predicted)

    def metrics(self) -> dict[str, float]:
        recall = self.found / self.gold if self.gold else 0.0
        precision = self.correct / self.predicted if self.predicted else 0.0
        return {"precision": precision, "recall": recall, "f1": f1_score(precision, recall)}


def word_link_phrases(linked: np.ndarray, a_words: np.ndarray, b_words: np.ndarray, *, min_words: int = 1,
                      gap: int = PHRASE_GAP) -> list[Link]:
    """Phrases of a word-link matrix (the detector's decoded links or a string baseline's): diagonal runs of linked
    words, joined across at most ``gap`` words on each side (the rule of ``detect``'s phrases), as character span
    pairs."""

    phrases = []
    for run in merge_runs(diagonal_runs(linked), gap=gap):
        if len(run) >= min_words:
            (i0, j0), (i1, j1) = run[0], run[-1]
            phrases.append((int(a_words[i0, 0]), int(a_words[i1, 1]), int(b_words[j0, 0]), int(b_words[j1, 1])))
    return phrases
