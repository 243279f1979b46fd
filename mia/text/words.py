"""Words, the level people read: segmentation, and lifting token-pair scores to word pairs.

``regex`` words (the default for evaluation) are runs of letters/digits, or single punctuation marks;
``whitespace`` words are what word-alignment corpora (Pharaoh format) count: whitespace-separated tokens.
:data:`CONTENT_WORD` (runs of word characters, punctuation dropped) is what the document-level matchers compare:
the search index's shingles and the word n-gram baseline. Every word pattern of the package is defined here.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

WordScheme = Literal["regex", "whitespace"]
_PATTERNS: dict[str, re.Pattern[str]] = {
    "regex": re.compile(r"[^\W_]+|[^\w\s]|_"),
    "whitespace": re.compile(r"\S+"),
}
WHITESPACE_WORD = _PATTERNS["whitespace"]  # a whitespace-separated token
CONTENT_WORD = re.compile(r"\w+")  # a run of word characters: punctuation is not a word here


def word_spans(text: str, scheme: WordScheme = "regex") -> np.ndarray:
    """Character spans of the words of ``text``: int ``[n_words, 2]``."""
    pattern = _PATTERNS.get(scheme)
    if pattern is None:
        raise ValueError(f"unknown word scheme {scheme!r}: use 'regex' or 'whitespace'")
    spans = [match.span() for match in pattern.finditer(text)]
    return np.array(spans, dtype=np.int64).reshape(-1, 2)


def words_of(text: str, spans: np.ndarray) -> list[str]:
    return [text[start:end] for start, end in spans]


def token_word_ranges(token_spans: np.ndarray, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each token, the first and last word it shares a character with (``first > last``: none): int ``[n]``.
    The one token-to-word map (words sorted and disjoint, as :func:`word_spans` makes them)."""
    if len(spans) == 0 or len(token_spans) == 0:
        return np.zeros(len(token_spans), np.int64), np.full(len(token_spans), -1, np.int64)
    starts, ends = token_spans[:, 0], token_spans[:, 1]
    first = np.searchsorted(spans[:, 1], starts, side="right")  # the first word ending after the token starts
    last = np.searchsorted(spans[:, 0], ends, side="left") - 1  # the last word starting before the token ends
    empty = ends <= starts
    return first, np.where(empty, -1, last)


def token_words(index: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each entry of ``index`` (token indices) repeated once per word its token overlaps (``first``, ``last``: from
    :func:`token_word_ranges`): the (entry, word) arrays, int ``[m]`` each."""
    counts = np.maximum(last[index] - first[index] + 1, 0)
    entry = np.repeat(np.arange(len(index)), counts)
    offset = np.arange(len(entry)) - np.repeat(np.cumsum(counts) - counts, counts)
    return entry, first[index][entry] + offset


def token_word_overlap(token_spans: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """bool ``[n_words, n_tokens]``: True where a token shares a character with a word (from
    :func:`token_word_ranges`)."""
    first, last = token_word_ranges(token_spans, spans)
    words = np.arange(len(spans))[:, None]
    return (words >= first[None, :]) & (words <= last[None, :])


def word_scores(
    token_scores: np.ndarray,
    a_token_spans: np.ndarray,
    b_token_spans: np.ndarray,
    a_word_spans: np.ndarray,
    b_word_spans: np.ndarray,
) -> np.ndarray:
    """Score of each word pair: the highest score of a token pair overlapping both words.

    ``token_scores`` ``[n_a_tokens, n_b_tokens]`` -> float32 ``[n_a_words, n_b_words]`` (-inf where a word has
    no token). With decisions as scores, a word pair is linked when any of their token pairs is.
    """
    a_map = token_word_overlap(a_token_spans, a_word_spans)
    b_map = token_word_overlap(b_token_spans, b_word_spans)
    rows = np.full((len(a_word_spans), token_scores.shape[1]), -np.inf, dtype=np.float32)
    for word, tokens in enumerate(a_map):
        if tokens.any():
            rows[word] = token_scores[tokens].max(axis=0)
    result = np.full((len(a_word_spans), len(b_word_spans)), -np.inf, dtype=np.float32)
    for word, tokens in enumerate(b_map):
        if tokens.any():
            result[:, word] = rows[:, tokens].max(axis=1)
    return result


def overlap(start: int, end: int, other_start: int, other_end: int) -> int:
    """Characters two spans ``[start, end)`` and ``[other_start, other_end)`` share."""
    return max(0, min(end, other_end) - max(start, other_start))


def in_context(text: str, start: int, end: int, context: int, *, marks: tuple[str, str] = ("[", "]")) -> str:
    """``…before[span]after…``: ``text[start:end]`` between ``marks`` with ``context`` characters each side, on
    one line (every run of whitespace one space)."""
    def flat(part: str) -> str:
        return re.sub(r"\s+", " ", part)

    lead = "…" if start > context else ""
    tail = "…" if end + context < len(text) else ""
    before, after = text[max(0, start - context) : start], text[end : end + context]
    return f"{lead}{flat(before)}{marks[0]}{flat(text[start:end])}{marks[1]}{flat(after)}{tail}"
