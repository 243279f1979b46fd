"""What a detector found in one pair: its decoded word links, the phrases they form, and, for research, the token
pairs above a threshold.

One output: a pair's **links** are the detector's decoded result, the word pairs its decoding (``threshold``,
``mutual-argmax`` or ``itermax``, :mod:`mia.alignment.decoding`) links from word-pair probabilities, a word pair's
probability being the highest of its token pairs'. Each link carries the character spans of its two words, that
probability, and the token pair it came from. **Phrases** are built from those same links: runs of linked word
pairs ``(i, j), (i+1, j+1), ...`` joined across at most :data:`PHRASE_GAP` skipped words on each side. This is what
``detect`` prints in every format and what ``evaluate`` scores. Raw token pairs at or above the threshold are
:meth:`Detection.token_links`, a separate, clearly named view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mia.alignment.decoding import ARGMAX_FLOOR, Decode, decode_entries, decode_floor
from mia.alignment.passages import Passage, PassageRule, PhraseSpan, merge_passages, passage_shortfall
from mia.errors import MiaError
from mia.text.pairs import Pair
from mia.text.words import WordScheme, token_word_ranges, token_words, word_scores, word_spans

PHRASE_GAP = 2  # words a phrase may skip on each side between two runs (see merge_runs)


@dataclass(frozen=True)
class TokenLink:
    """A token pair at or above a threshold: character spans in A and B, the detector's probability, token indices."""

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
class Link:
    """A decoded word link: the character spans of the two words, its probability (the highest of the words' token
    pairs), the words' indices, and the token pair that probability belongs to."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    probability: float
    a_word: int
    b_word: int
    a_token: int
    b_token: int

    def to_list(self) -> list[float | int]:
        return [self.a_start, self.a_end, self.b_start, self.b_end, round(self.probability, 4)]


@dataclass(frozen=True)
class Phrase:
    """Runs of linked word pairs ``(i, j), (i+1, j+1), ...``, joined across small gaps (:func:`merge_runs`), as
    character spans in A and B; ``words``: its links; ``score``: their mean probability."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    a_text: str
    b_text: str
    words: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"a": [self.a_start, self.a_end], "b": [self.b_start, self.b_end], "a_text": self.a_text,
                "b_text": self.b_text, "words": self.words, "score": round(self.score, 4)}


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
class WordEntries:
    """Word pairs with probability at or above a floor: word indices ``rows``, ``cols``, ``values`` ``[N]``, and the
    token pair ``a_tokens``, ``b_tokens`` ``[N]`` each value is the probability of."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    a_tokens: np.ndarray
    b_tokens: np.ndarray


@dataclass
class Detection:
    """What a detector found in one pair.

    ``links``: the decoded word links (``decode`` over ``words`` words: ``word_spans`` ``[n_a_words, 2]`` and
    ``[n_b_words, 2]``); ``phrases``: built from them. ``probabilities``: the token pairs' probabilities, float32
    ``[n_a, n_b]`` for a pair that fits the model, :class:`SparseScores` for a longer one; ``token_spans``: the
    tokens' character spans ``[n_a, 2]``, ``[n_b, 2]``; ``threshold``: the detector's (or the caller's).
    """

    pair: Pair
    links: list[Link]
    phrases: list[Phrase]
    probabilities: np.ndarray | SparseScores
    token_spans: tuple[np.ndarray, np.ndarray]
    word_spans: tuple[np.ndarray, np.ndarray]
    threshold: float = 0.5
    decode: Decode = "threshold"
    words: WordScheme = "regex"
    windows: dict[str, Any] | None = None  # how the pair was cut into windows (see mia.alignment.windowed)
    passages: list[Passage] = field(default_factory=list)  # the phrases merged by the gap rule, filtered
    passage_rule: PassageRule = PassageRule()
    floor: float = ARGMAX_FLOOR  # the argmax decodings' floor the links were decoded with
    min_outside: int = 1  # links outside every passage kept in phrases of at least this many links (1: all)
    no_passage: str | None = None  # why phrases formed no passage (None: passages were found, or no phrase)

    def to_dict(self, *, token_links: bool = False) -> dict[str, Any]:
        """The record ``detect`` writes: ``links`` (decoded word links ``[a_start, a_end, b_start, b_end, p]``),
        ``phrases``, how they were made, and with ``token_links`` the token pairs at or above the threshold."""
        record: dict[str, Any] = {
            "id": self.pair.id,
            "links": [link.to_list() for link in self.links],
            "phrases": [phrase.to_dict() for phrase in self.phrases],
            "passages": [passage.to_dict(self.pair.a, self.pair.b) for passage in self.passages],
            "decode": self.decode,
            "words": self.words,
        }
        if self.no_passage is not None:
            record["no_passage"] = self.no_passage
        if self.decode != "threshold":
            record["floor"] = self.floor
        if self.min_outside > 1:
            record["outside_passages"] = PassageRule.outside_note(self.min_outside)
        if token_links:
            record["threshold"] = round(self.threshold, 4)
            record["token_links"] = [link.to_list() for link in self.token_links()]
        if self.windows is not None and not self.windows.get("whole", False):
            record["windows"] = self.windows
        return record

    def word_pairs(self) -> set[tuple[int, int]]:
        """The linked word pairs ``(a word, b word)``."""
        return {(link.a_word, link.b_word) for link in self.links}

    def token_links(self, threshold: float | None = None) -> list[TokenLink]:
        """Token pairs with probability at or above ``threshold`` (default the detection's), in order: the raw
        material of the decoded links, for research. For documents only pairs above the kept floor are there."""
        limit = self.threshold if threshold is None else threshold
        a_spans, b_spans = self.token_spans
        if isinstance(self.probabilities, SparseScores):
            rows, cols, values = self.probabilities.at_least(limit)
            order = np.lexsort((cols, rows))
            rows, cols, values = rows[order], cols[order], values[order]
        else:
            rows, cols = np.nonzero(self.probabilities >= limit)
            values = self.probabilities[rows, cols]
        return [TokenLink(int(a_spans[i, 0]), int(a_spans[i, 1]), int(b_spans[j, 0]), int(b_spans[j, 1]), float(p),
                          int(i), int(j)) for i, j, p in zip(rows.tolist(), cols.tolist(), values.tolist())]

    def word_scores(self, scheme: WordScheme | None = None, *, max_cells: int = 50_000_000
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(a_word_spans, b_word_spans, scores)``: every word pair's probability ``[n_a_words, n_b_words]``, dense
        (-inf where a word has no token; for documents, 0 below the kept floor), for ranking measures."""
        scheme = scheme or self.words
        a_words, b_words = word_spans(self.pair.a, scheme), word_spans(self.pair.b, scheme)
        if len(a_words) * len(b_words) > max_cells:
            raise MiaError(f"{len(a_words)} x {len(b_words)} words are too many for a word-pair matrix")
        if not isinstance(self.probabilities, SparseScores):
            return a_words, b_words, word_scores(self.probabilities, *self.token_spans, a_words, b_words)
        entries = word_entries(self.probabilities, self.token_spans, (a_words, b_words), self.probabilities.floor)
        scores = np.zeros((len(a_words), len(b_words)), np.float32)
        scores[entries.rows, entries.cols] = entries.values
        return a_words, b_words, scores

    def word_links(self, scheme: WordScheme | None = None, threshold: float | None = None,
                   decode: Decode | None = None) -> np.ndarray:
        """bool ``[n_a_words, n_b_words]``: the decoded links as a matrix (another ``scheme``, ``threshold`` or
        ``decode`` than the detection's decodes again, from the same token probabilities)."""
        scheme, decode = scheme or self.words, decode or self.decode
        limit = self.threshold if threshold is None else threshold
        if (scheme, decode, limit) == (self.words, self.decode, self.threshold):
            words, pairs = self.word_spans, self.word_pairs()
        else:
            again = decoded(self.pair, self.probabilities, self.token_spans, threshold=limit, decode=decode,
                            words=scheme, floor=self.floor, passages=self.passage_rule,
                            min_outside=self.min_outside)
            words, pairs = again.word_spans, again.word_pairs()
        matrix = np.zeros((len(words[0]), len(words[1])), bool)
        for i, j in pairs:
            matrix[i, j] = True
        return matrix


@dataclass
class DetectionError:
    """A pair that could not be processed: its record in a batch says why, and the batch goes on."""

    pair: Pair
    error: str

    def to_dict(self, **_: Any) -> dict[str, Any]:
        return {"id": self.pair.id, "error": self.error}


# --- from token probabilities to decoded word links -------------------------------------------------------------


def word_entries(probabilities: np.ndarray | SparseScores, token_spans: tuple[np.ndarray, np.ndarray],
                 word_spans_: tuple[np.ndarray, np.ndarray], floor: float) -> WordEntries:
    """Word pairs whose probability (the highest of their token pairs') is at or above ``floor``, with that token
    pair: exact for dense probabilities and for sparse ones kept at or above ``floor``."""
    if isinstance(probabilities, SparseScores):
        rows, cols, values = probabilities.at_least(floor)
    else:
        rows, cols = np.nonzero(probabilities >= floor)
        values = probabilities[rows, cols]
    a_first, a_last = token_word_ranges(token_spans[0], word_spans_[0])
    b_first, b_last = token_word_ranges(token_spans[1], word_spans_[1])
    entry, a_word = token_words(rows, a_first, a_last)
    rows, cols, values = rows[entry], cols[entry], values[entry]
    entry, b_word = token_words(cols, b_first, b_last)
    rows, cols, values, a_word = rows[entry], cols[entry], values[entry], a_word[entry]
    n_b_words = max(len(word_spans_[1]), 1)
    key = a_word * n_b_words + b_word
    order = np.lexsort((cols, rows, -values, key))  # per word pair: highest first, then the first token pair
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]] if len(order) else order
    return WordEntries(a_word[first], b_word[first], values[first].astype(np.float32), rows[first], cols[first])


def decoded(pair: Pair, probabilities: np.ndarray | SparseScores, token_spans: tuple[np.ndarray, np.ndarray], *,
            threshold: float, decode: Decode, words: WordScheme = "regex", min_phrase_words: int = 1,
            windows: dict[str, Any] | None = None, gap: int = PHRASE_GAP,
            passages: PassageRule = PassageRule(), floor: float = ARGMAX_FLOOR, min_outside: int = 1) -> Detection:
    """The detection of one pair from its token probabilities: word pairs decoded by ``decode`` (the argmax
    decodings link no word pair below ``floor``; the same links for dense and for sparse probabilities kept at or
    above :func:`~mia.alignment.decoding.decode_floor`), the phrases of at least ``min_phrase_words`` links they
    form, and the passages those form under ``passages``. With ``min_outside`` > 1 (pairs run as window pairs, see
    :mod:`mia.alignment.passages`) only the links and phrases inside a passage, or in a phrase of at least
    ``min_outside`` links, are kept; the passages are the same."""
    spans = (word_spans(pair.a, words), word_spans(pair.b, words))
    entries = word_entries(probabilities, token_spans, spans, decode_floor(decode, threshold, floor))
    chosen = np.flatnonzero(decode_entries((entries.rows, entries.cols, entries.values), decode, threshold,
                                           floor=floor))
    chosen = chosen[np.lexsort((entries.cols[chosen], entries.rows[chosen]))]
    (a_words, b_words) = spans
    links = [Link(int(a_words[i, 0]), int(a_words[i, 1]), int(b_words[j, 0]), int(b_words[j, 1]), float(p), int(i),
                  int(j), int(ta), int(tb))
             for i, j, p, ta, tb in zip(entries.rows[chosen].tolist(), entries.cols[chosen].tolist(),
                                        entries.values[chosen].tolist(), entries.a_tokens[chosen].tolist(),
                                        entries.b_tokens[chosen].tolist())]
    by_cell = {(link.a_word, link.b_word): link for link in links}
    runs = [trim_leading_marks(pair, spans, run) for run in merge_runs(diagonal_runs(set(by_cell)), gap=gap)]
    trimmed = {cell for run in runs for cell in run}
    links = [link for link in links if (link.a_word, link.b_word) in trimmed or not _is_mark(pair, spans, link)]
    every = [phrase_of(pair, spans, [by_cell[cell] for cell in run]) for run in runs]
    spans_of_phrases = [PhraseSpan(p.a_start, p.a_end, p.b_start, p.b_end, p.words, p.score) for p in every]
    merged = merge_passages(spans_of_phrases, passages)
    no_passage = None if merged else passage_shortfall(spans_of_phrases, passages)
    if min_outside > 1:  # a document pair: what lies outside every passage is printed in long phrases only
        kept = [k for k, p in enumerate(every) if p.words >= min_outside or within_passage(p, merged)]
        cells = {cell for k in kept for cell in runs[k]}
        links = [link for link in links if (link.a_word, link.b_word) in cells]
        every = [every[k] for k in kept]
    every.sort(key=lambda p: (p.a_start, p.b_start))
    return Detection(pair=pair, links=links, phrases=[p for p in every if p.words >= min_phrase_words],
                     probabilities=probabilities, token_spans=token_spans, word_spans=spans, threshold=threshold,
                     decode=decode, words=words, windows=windows, passages=merged, passage_rule=passages,
                     floor=floor, min_outside=max(min_outside, 1), no_passage=no_passage)


_CLOSING = frozenset(".!?…:;,”’)]}»")  # marks that end what comes before them (straight quotes may open: not here)


def _is_mark(pair: Pair, spans: tuple[np.ndarray, np.ndarray], link: Link | tuple[int, int]) -> bool:
    """Whether both words of a link (or cell) are closing punctuation (a full stop, a closing quote, ...)."""
    i, j = (link.a_word, link.b_word) if isinstance(link, Link) else link
    a_word = pair.a[spans[0][i, 0] : spans[0][i, 1]]
    b_word = pair.b[spans[1][j, 0] : spans[1][j, 1]]
    return bool(a_word) and bool(b_word) and set(a_word + b_word) <= _CLOSING


def trim_leading_marks(pair: Pair, spans: tuple[np.ndarray, np.ndarray],
                       run: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A phrase's cells without the closing marks it starts with (the full stop of the sentence before a copied
    sentence links to the one before its copy: they end other sentences); an opening quote stays (it is part of the
    sentence), and a phrase of marks only keeps its last."""
    first = 0
    while first < len(run) - 1 and _is_mark(pair, spans, run[first]):
        first += 1
    return run[first:]


def within_passage(phrase: Phrase, passages: list[Passage]) -> bool:
    """Whether a phrase lies inside one of the passages on both sides."""
    return any(p.a_start <= phrase.a_start and phrase.a_end <= p.a_end and p.b_start <= phrase.b_start
               and phrase.b_end <= p.b_end for p in passages)


def phrase_of(pair: Pair, spans: tuple[np.ndarray, np.ndarray], run: list[Link]) -> Phrase:
    """The phrase of a run of links (in order): from its first word to its last on each side."""
    first, last = run[0], run[-1]
    a_start, a_end = int(spans[0][first.a_word, 0]), int(spans[0][last.a_word, 1])
    b_start, b_end = int(spans[1][first.b_word, 0]), int(spans[1][last.b_word, 1])
    return Phrase(a_start, a_end, b_start, b_end, pair.a[a_start:a_end], pair.b[b_start:b_end], len(run),
                  float(np.mean([link.probability for link in run])))


def merge_runs(runs: list[list[tuple[int, int]]], *, gap: int = PHRASE_GAP) -> list[list[tuple[int, int]]]:
    """Phrases from diagonal runs: a run joins the phrase whose last cell ``(i, j)`` it follows with at most
    ``gap`` words skipped on each side, ``i < i0 <= i + 1 + gap`` and ``j < j0 <= j + 1 + gap`` (so a changed,
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
