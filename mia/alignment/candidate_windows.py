"""Documents: the window pairs of two long texts that the detector scores, chosen by sentence candidates.

Each text is cut into windows (:mod:`mia.text.windows`) and into sentences, each sentence with its *home* window
(the one that holds it whole with the widest margin). The candidate families (:mod:`mia.alignment.sentence_candidates`)
propose sentence pairs; their home windows are the window pairs scored. ``all`` scores every window pair (the
exhaustive reference). Corpus search chooses its window pairs by the same rules across a collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from mia.alignment.sentence_candidates import CandidateOptions, embedding_pairs, sentence_words, shingle_pairs
from mia.models.attention import AttentionModel
from mia.models.encoding import TextTokens
from mia.text.windows import Window
from mia.text.words import WHITESPACE_WORD

Candidates = Literal["sentences", "all"]
CANDIDATES: tuple[Candidates, ...] = ("sentences", "all")
Sentence = tuple[int, int, int]  # (first char, end char, home window)


MAX_UNIT_WORDS = 40  # a longer "sentence" (a list, a page without full stops) is compared in pieces of this many words


def candidate_units(text: str, sentences: Sequence[tuple[int, int]], max_words: int = MAX_UNIT_WORDS
                    ) -> list[tuple[int, int]]:
    """The spans candidates compare: each sentence, or for one of more than ``max_words`` words, pieces of
    ``max_words`` words overlapping by half (so a copy inside a page without full stops still has a piece of its
    own to match)."""
    units: list[tuple[int, int]] = []
    step = max(1, max_words // 2)
    for start, end in sentences:
        words = [match.span() for match in WHITESPACE_WORD.finditer(text, start, end)]
        if len(words) <= max_words:
            units.append((start, end))
            continue
        for first in range(0, len(words) - step, step):
            piece = words[first : first + max_words]
            units.append((piece[0][0], piece[-1][1]))
    return units


def sentence_homes(sentences: Sequence[tuple[int, int]], windows: Sequence[Window]) -> list[Sentence]:
    """Each sentence ``(first char, end char)`` with its home window: the one that holds it whole with the widest
    margin (for a sentence longer than a window: the one overlapping most)."""
    homes: list[Sentence] = []
    if not windows:
        return homes
    for start, end in sentences:
        margins = [min(start - w.char_start, w.char_end - end) if w.char_start <= start and end <= w.char_end
                   else min(end, w.char_end) - max(start, w.char_start) - 10**9 for w in windows]
        homes.append((start, end, int(np.argmax(margins))))
    return homes


def sentence_tokens(tokens: TextTokens, sentences: Sequence[Sentence]) -> list[TextTokens]:
    """Each sentence's tokens: those of the text that start inside it."""
    found = []
    for start, end, _ in sentences:
        first, last = np.searchsorted(tokens.spans[:, 0], [start, end], side="left")
        found.append(tokens.part(int(first), int(last), start, end))
    return found


def candidate_window_pairs(
    model: AttentionModel, a: TextTokens, b: TextTokens, a_sentences: Sequence[Sentence],
    b_sentences: Sequence[Sentence], options: CandidateOptions = CandidateOptions(),
) -> tuple[list[tuple[int, int]], dict[str, Any]]:
    """The window pairs ``(a window, b window)`` the candidate families propose for two texts, and the counts
    (sentence pairs per family, window pairs per family)."""
    from mia.models.embedding import embed_tokens
    from mia.models.embedding_cache import EmbeddingCache

    a_parts, b_parts = sentence_tokens(a, a_sentences), sentence_tokens(b, b_sentences)
    cache = getattr(model, "sentence_embeddings", None) or EmbeddingCache()
    found: dict[tuple[int, int], set[str]] = {}
    counts: dict[str, Any] = {"sentence_pairs": {}, "window_pairs_by_family": {}}
    for family in options.families:
        if family == "shingles":
            pairs = shingle_pairs([p.text for p in a_parts], [p.text for p in b_parts], options)
        else:
            vectors = cache.vectors([p.ids for p in a_parts + b_parts], lambda ids: embed_tokens(model, ids))
            a_words = np.array([len(sentence_words(p.text)) for p in a_parts], dtype=np.int64)
            b_words = np.array([len(sentence_words(p.text)) for p in b_parts], dtype=np.int64)
            pairs = embedding_pairs(vectors[: len(a_parts)], vectors[len(a_parts) :], options,
                                    a_usable=a_words >= options.embedding_min_words,
                                    b_usable=b_words >= options.embedding_min_words)
        counts["sentence_pairs"][family] = len(pairs)
        for i, j in pairs:
            found.setdefault((a_sentences[i][2], b_sentences[j][2]), set()).add(family)
        counts["window_pairs_by_family"][family] = sum(family in by for by in found.values())
    return sorted(found), counts
