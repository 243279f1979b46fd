"""What a detector found in one pair: linked token pairs, the phrases they form, and word-level links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mia.text.pairs import Pair
from mia.text.words import WordScheme, word_scores, word_spans


@dataclass(frozen=True)
class TokenLink:
    """A linked token pair: character spans in A and B and the detector's probability."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    probability: float
    a_index: int
    b_index: int

    def to_list(self) -> list[float | int]:
        return [self.a_start, self.a_end, self.b_start, self.b_end, round(self.probability, 4)]


@dataclass(frozen=True)
class Phrase:
    """A maximal run of consecutive linked token pairs ``(i, j), (i+1, j+1), ...``, merged into spans."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    a_text: str
    b_text: str
    tokens: int
    score: float  # mean probability of the run's token pairs

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": [self.a_start, self.a_end],
            "b": [self.b_start, self.b_end],
            "a_text": self.a_text,
            "b_text": self.b_text,
            "tokens": self.tokens,
            "score": round(self.score, 4),
        }


@dataclass
class Detection:
    """What a detector found in one pair.

    ``probabilities``: float32 ``[n_a, n_b]``, every token pair; ``token_spans``: character spans of A's and B's
    tokens, ``[n_a, 2]`` and ``[n_b, 2]``; ``threshold``: the probability a link needs.
    """

    pair: Pair
    links: list[TokenLink]
    phrases: list[Phrase]
    probabilities: np.ndarray
    token_spans: tuple[np.ndarray, np.ndarray]
    threshold: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pair.id,
            "links": [link.to_list() for link in self.links],
            "phrases": [phrase.to_dict() for phrase in self.phrases],
        }

    def word_scores(self, scheme: WordScheme = "whitespace") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(a_word_spans, b_word_spans, scores)``: a word pair's score is the highest of its token pairs'."""
        a_words, b_words = word_spans(self.pair.a, scheme), word_spans(self.pair.b, scheme)
        scores = word_scores(self.probabilities, self.token_spans[0], self.token_spans[1], a_words, b_words)
        return a_words, b_words, scores

    def word_links(self, scheme: WordScheme = "whitespace", threshold: float | None = None) -> np.ndarray:
        """bool ``[n_a_words, n_b_words]``: two words are linked when any of their token pairs is (probability
        >= ``threshold``, default the detection's own)."""
        limit = self.threshold if threshold is None else threshold
        return self.word_scores(scheme)[2] >= limit


def detection_from_probabilities(
    pair: Pair, a_spans: np.ndarray, b_spans: np.ndarray, probabilities: np.ndarray, *, threshold: float,
    min_phrase_tokens: int = 1,
) -> Detection:
    """Links (token pairs with probability >= threshold) and the phrases they form.

    ``a_spans`` ``[n_a, 2]``, ``b_spans`` ``[n_b, 2]``: the tokens' character spans; ``probabilities`` ``[n_a, n_b]``.
    """
    linked = probabilities >= threshold
    rows, cols = np.nonzero(linked)
    links = [
        TokenLink(a0, a1, b0, b1, p, i, j)
        for (a0, a1), (b0, b1), p, i, j in zip(
            a_spans[rows].tolist(), b_spans[cols].tolist(), probabilities[rows, cols].tolist(),
            rows.tolist(), cols.tolist(),
        )
    ]
    phrases = []
    for run in diagonal_runs(linked):
        if len(run) < min_phrase_tokens:
            continue
        (i0, j0), (i1, j1) = run[0], run[-1]
        a_start, a_end = int(a_spans[i0, 0]), int(a_spans[i1, 1])
        b_start, b_end = int(b_spans[j0, 0]), int(b_spans[j1, 1])
        phrases.append(Phrase(
            a_start, a_end, b_start, b_end, pair.a[a_start:a_end], pair.b[b_start:b_end], len(run),
            float(probabilities[[i for i, _ in run], [j for _, j in run]].mean()),
        ))
    phrases.sort(key=lambda p: (p.a_start, p.b_start))
    return Detection(pair=pair, links=links, phrases=phrases, probabilities=probabilities,
                     token_spans=(a_spans, b_spans), threshold=threshold)


def diagonal_runs(linked: np.ndarray) -> list[list[tuple[int, int]]]:
    """Maximal runs ``(i, j), (i+1, j+1), ...`` of True cells of a bool ``[n_a, n_b]`` matrix."""
    cells = set(zip(*(index.tolist() for index in np.nonzero(linked))))
    runs = []
    for i, j in sorted(cells):
        if (i - 1, j - 1) in cells:
            continue  # not the start of a run
        run = [(i, j)]
        while (run[-1][0] + 1, run[-1][1] + 1) in cells:
            run.append((run[-1][0] + 1, run[-1][1] + 1))
        runs.append(run)
    return runs
