"""What a detector found in one pair: linked token pairs, the phrases they form, and word-level links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mia.detector.decoding import Decode
from mia.detector.decoding import decode as decode_words
from mia.text.pairs import Pair
from mia.text.words import WordScheme, span_holding, word_scores, word_spans

PHRASE_GAP = 3  # tokens a phrase may skip on each side between two runs (see merge_runs)


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
    """Runs of consecutive linked token pairs ``(i, j), (i+1, j+1), ...``, joined across small gaps
    (:func:`merge_runs`), as character spans in A and B."""

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
class SparseScores:
    """Token-pair probabilities at or above ``floor``, as coordinates: ``rows``, ``cols``, ``values`` ``[N]``."""

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    floor: float

    def at_least(self, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = self.values >= threshold
        return self.rows[keep], self.cols[keep], self.values[keep]


@dataclass
class Detection:
    """What a detector found in one pair.

    ``probabilities``: float32 ``[n_a, n_b]``, every token pair; ``token_spans``: character spans of A's and B's
    tokens, ``[n_a, 2]`` and ``[n_b, 2]``; ``threshold``: the probability a link needs.
    """

    pair: Pair
    links: list[TokenLink]
    phrases: list[Phrase]
    probabilities: np.ndarray | SparseScores
    token_spans: tuple[np.ndarray, np.ndarray]
    threshold: float = 0.5
    windows: dict[str, Any] | None = None  # how the pair was cut into windows (see mia.detector.windowed)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.pair.id,
            "links": [link.to_list() for link in self.links],
            "phrases": [phrase.to_dict() for phrase in self.phrases],
        }
        if self.windows is not None and not self.windows.get("whole", False):
            record["windows"] = self.windows
        return record

    def word_scores(self, scheme: WordScheme = "whitespace") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(a_word_spans, b_word_spans, scores)``: a word pair's score is the highest of its token pairs'
        (for sparse scores, of those kept above the floor; others score 0)."""
        a_words, b_words = word_spans(self.pair.a, scheme), word_spans(self.pair.b, scheme)
        if isinstance(self.probabilities, SparseScores):
            return a_words, b_words, sparse_word_scores(self.probabilities, self.token_spans, a_words, b_words)
        scores = word_scores(self.probabilities, self.token_spans[0], self.token_spans[1], a_words, b_words)
        return a_words, b_words, scores

    def word_links(self, scheme: WordScheme = "whitespace", threshold: float | None = None,
                   decode: Decode = "threshold") -> np.ndarray:
        """bool ``[n_a_words, n_b_words]``, decoded from word-pair probabilities (:mod:`mia.detector.decoding`):
        by default two words are linked when any of their token pairs is (probability >= ``threshold``, default
        the detection's own)."""
        limit = self.threshold if threshold is None else threshold
        return decode_words(self.word_scores(scheme)[2], decode, limit)


@dataclass
class DetectionError:
    """A pair that could not be processed: its record in a batch says why, and the batch goes on."""

    pair: Pair
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.pair.id, "error": self.error}


def sparse_word_scores(scores: SparseScores, token_spans: tuple[np.ndarray, np.ndarray], a_words: np.ndarray,
                       b_words: np.ndarray, *, max_cells: int = 50_000_000) -> np.ndarray:
    """Word-pair scores ``[n_a_words, n_b_words]`` from sparse token-pair scores (0 below the floor)."""
    from mia.errors import MiaError

    if len(a_words) * len(b_words) > max_cells:
        raise MiaError(f"{len(a_words)} x {len(b_words)} words are too many for a word-pair matrix; use --format "
                       "json or jsonl for documents")
    result = np.zeros((len(a_words), len(b_words)), dtype=np.float32)
    a_of, b_of = span_holding(a_words, token_spans[0][:, 0]), span_holding(b_words, token_spans[1][:, 0])
    wa, wb = a_of[scores.rows], b_of[scores.cols]
    keep = (wa >= 0) & (wb >= 0)
    np.maximum.at(result, (wa[keep], wb[keep]), scores.values[keep])
    return result


def detection_from_sparse(
    pair: Pair, a_spans: np.ndarray, b_spans: np.ndarray, scores: SparseScores, *, threshold: float,
    min_phrase_tokens: int = 1, windows: dict[str, Any] | None = None, gap: int = PHRASE_GAP,
) -> Detection:
    """Links and phrases from sparse token-pair scores (never a dense ``[n_a, n_b]`` matrix)."""
    rows, cols, values = scores.at_least(threshold)
    order = np.lexsort((cols, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    links = [TokenLink(int(a_spans[i, 0]), int(a_spans[i, 1]), int(b_spans[j, 0]), int(b_spans[j, 1]), float(p),
                       int(i), int(j)) for i, j, p in zip(rows.tolist(), cols.tolist(), values.tolist())]
    value_of = {(int(i), int(j)): p for i, j, p in zip(rows, cols, values)}
    phrases = [phrase_of(pair, a_spans, b_spans, run, np.array([value_of[cell] for cell in run], np.float32))
               for run in merge_runs(diagonal_runs(set(value_of)), gap=gap) if len(run) >= min_phrase_tokens]
    phrases.sort(key=lambda p: (p.a_start, p.b_start))
    return Detection(pair=pair, links=links, phrases=phrases, probabilities=scores, token_spans=(a_spans, b_spans),
                     threshold=threshold, windows=windows)


def phrase_of(pair: Pair, a_spans: np.ndarray, b_spans: np.ndarray, run: list[tuple[int, int]],
              probabilities: np.ndarray) -> Phrase:
    """The phrase of a diagonal run of token pairs; its score is the mean probability (float32 ``[len(run)]``)."""
    (i0, j0), (i1, j1) = run[0], run[-1]
    a_start, a_end = int(a_spans[i0, 0]), int(a_spans[i1, 1])
    b_start, b_end = int(b_spans[j0, 0]), int(b_spans[j1, 1])
    return Phrase(a_start, a_end, b_start, b_end, pair.a[a_start:a_end], pair.b[b_start:b_end], len(run),
                  float(probabilities.mean()))


def detection_from_probabilities(
    pair: Pair, a_spans: np.ndarray, b_spans: np.ndarray, probabilities: np.ndarray, *, threshold: float,
    min_phrase_tokens: int = 1, windows: dict[str, Any] | None = None, gap: int = PHRASE_GAP,
) -> Detection:
    """Links (token pairs with probability >= threshold) and the phrases they form (runs merged by
    :func:`merge_runs`; ``tokens`` of a phrase counts its linked token pairs).

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
    phrases = [phrase_of(pair, a_spans, b_spans, run, probabilities[[i for i, _ in run], [j for _, j in run]])
               for run in merge_runs(diagonal_runs(linked), gap=gap) if len(run) >= min_phrase_tokens]
    phrases.sort(key=lambda p: (p.a_start, p.b_start))
    return Detection(pair=pair, links=links, phrases=phrases, probabilities=probabilities,
                     token_spans=(a_spans, b_spans), threshold=threshold, windows=windows)


def merge_runs(runs: list[list[tuple[int, int]]], *, gap: int = PHRASE_GAP) -> list[list[tuple[int, int]]]:
    """Phrases from diagonal runs: a run joins the phrase whose last cell ``(i, j)`` it follows with at most
    ``gap`` tokens skipped on each side, ``i < i0 <= i + 1 + gap`` and ``j < j0 <= j + 1 + gap`` (so a changed,
    inserted or deleted word, or a small offset, does not split a copied sentence). Where several phrases could
    take a run, the one with the smallest total skip does. ``gap=0`` keeps the strict runs."""
    if gap <= 0:
        return runs
    phrases: list[list[tuple[int, int]]] = []
    ending: dict[tuple[int, int], int] = {}  # last cell of an open phrase -> its index
    for run in sorted(runs):
        i0, j0 = run[0]
        best, best_skip = None, None
        for di in range(1, gap + 2):
            for dj in range(1, gap + 2):
                index = ending.get((i0 - di, j0 - dj))
                if index is not None and (best_skip is None or di + dj < best_skip):
                    best, best_skip = index, di + dj
        if best is None:
            phrases.append(list(run))
            best = len(phrases) - 1
        else:
            del ending[phrases[best][-1]]
            phrases[best].extend(run)
        ending[phrases[best][-1]] = best
    return phrases


def diagonal_runs(linked: np.ndarray | set[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Maximal runs ``(i, j), (i+1, j+1), ...`` of True cells of a bool ``[n_a, n_b]`` matrix (or a set of cells)."""
    cells = linked if isinstance(linked, set) else set(zip(*(index.tolist() for index in np.nonzero(linked))))
    runs = []
    for i, j in sorted(cells):
        if (i - 1, j - 1) in cells:
            continue  # not the start of a run
        run = [(i, j)]
        while (run[-1][0] + 1, run[-1][1] + 1) in cells:
            run.append((run[-1][0] + 1, run[-1][1] + 1))
        runs.append(run)
    return runs
