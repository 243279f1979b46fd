"""Noisy copies: the paragraph's sentences shuffled, then words changed, for a relation string search misses.

B is a paragraph. A is its sentences in a shuffled order, each sentence's (whitespace) words edited with a seeded
random stream: a share **substituted** by other corpus words, **deleted**, **inserted** (corpus words), and moved
in **local swaps** (two neighbouring words trade places; the swap rate is the share of words moved). Optionally
whole unrelated corpus sentences are mixed in (``extra_sentences``: the chance of one after each copied
sentence), so that not every part of A has a copy in B. Links: one per surviving word, joining its span in A to
its span in B (the strings are equal: the verbatim rule of the pair file applies).

"A third changed" (the evaluation mix of the README) is :data:`EVALUATION_NOISE`: 15% substituted, 5% deleted,
5% inserted, 8% in local swaps. Training uses other rates (:data:`TRAINING_NOISE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mia.errors import MiaError
from mia.text.pairs import Copier, Link, Pair, Span, shuffled_copy_pair


@dataclass(frozen=True)
class Noise:
    """Rates of word edits (shares of a sentence's words) and of extra sentences (chance after each sentence)."""

    substitute: float = 0.15
    delete: float = 0.05
    insert: float = 0.05
    swap: float = 0.08
    extra_sentences: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise MiaError(f"noise rate {name} must be between 0 and 1, got {value}")
        if self.substitute + self.delete > 1.0:
            raise MiaError("substitute + delete rates cannot exceed 1")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


EVALUATION_NOISE = Noise(substitute=0.15, delete=0.05, insert=0.05, swap=0.08)  # "a third changed"
TRAINING_NOISE = Noise(substitute=0.10, delete=0.10, insert=0.10, swap=0.04, extra_sentences=0.3)


def noisy_copy_pair(
    paragraph: str, sentences: Sequence[Span], rng: np.random.Generator, *, pair_id: str, noise: Noise,
    vocabulary: Sequence[str], extra: Sequence[str] = (),
) -> Pair | None:
    """A noisy shuffled copy of ``paragraph`` (A) paired with the paragraph (B); ``None`` under 2 sentences.

    ``vocabulary``: words to substitute and insert (drawn uniformly, so by corpus frequency when it is the
    corpus's word list); ``extra``: unrelated sentences to mix in.
    """
    if len(sentences) < 2:
        return None
    if not vocabulary:
        raise MiaError("noisy copies need a vocabulary of corpus words")
    order = np.arange(len(sentences))
    while np.array_equal(order, np.arange(len(sentences))):
        order = rng.permutation(len(sentences))
    words: list[tuple[str, Span | None]] = []  # the words of A, each with its span in B (None: not a copy)
    sentence_of: list[int] = []  # the copied sentence each word of A belongs to (-1: extra text)
    for position, index in enumerate(order.tolist()):
        start, end = sentences[index]
        edited = edited_words(paragraph, start, end, rng, noise, vocabulary)
        words.extend(edited)
        sentence_of.extend([index] * len(edited))
        if extra and noise.extra_sentences and rng.random() < noise.extra_sentences and position < len(order):
            added = extra[int(rng.integers(len(extra)))].split()
            words.extend((word, None) for word in added)
            sentence_of.extend([-1] * len(added))
    pieces, links, cursor = [], [], 0
    extent: dict[int, list[int]] = {}  # copied sentence -> [first char, end char] of its words in A
    for (text, source), sentence in zip(words, sentence_of):
        if source is not None:
            links.append((cursor, cursor + len(text), source[0], source[1]))
        if sentence >= 0:
            extent.setdefault(sentence, [cursor, cursor + len(text)])[1] = cursor + len(text)
        pieces.append(text)
        cursor += len(text) + 1
    phrases = tuple((a0, a1, *sentences[k]) for k, (a0, a1) in sorted(extent.items(), key=lambda item: item[1][0]))
    link_tuple: tuple[Link, ...] = tuple(links)
    return Pair(id=pair_id, a=" ".join(pieces), b=paragraph, links=link_tuple, phrases=phrases)


def edited_words(paragraph: str, start: int, end: int, rng: np.random.Generator, noise: Noise,
            vocabulary: Sequence[str]) -> list[tuple[str, Span | None]]:
    """One sentence's words after deletions, substitutions, swaps and insertions."""
    import re

    words: list[tuple[str, Span | None]] = []
    for match in re.finditer(r"\S+", paragraph[start:end]):
        span = (start + match.start(), start + match.end())
        draw = rng.random()
        if draw < noise.delete:
            continue
        if draw < noise.delete + noise.substitute:
            words.append((_other_word(match.group(), rng, vocabulary), None))
        else:
            words.append((match.group(), span))
    position = 0
    while position + 1 < len(words):  # local swaps: a share `swap` of the words is moved, two at a time
        if rng.random() < noise.swap / 2:
            words[position], words[position + 1] = words[position + 1], words[position]
            position += 2
        else:
            position += 1
    edited: list[tuple[str, Span | None]] = []
    for word in words:
        edited.append(word)
        if rng.random() < noise.insert:
            edited.append((_other_word(word[0], rng, vocabulary), None))
    return edited or words


def _other_word(word: str, rng: np.random.Generator, vocabulary: Sequence[str]) -> str:
    for _ in range(10):
        other = vocabulary[int(rng.integers(len(vocabulary)))]
        if other != word:
            return other
    return word + "s"


def noisy_copier(paragraphs: Sequence[str], noise: Noise) -> Copier:
    """A :data:`~mia.text.pairs.Copier` of noisy copies; substitutions and insertions draw from the corpus's
    words, extra text is a run of 8-25 words from another paragraph."""
    vocabulary = corpus_vocabulary(paragraphs)

    def copy(paragraph: str, sentences: Sequence[Span], rng: np.random.Generator, pair_id: str,
             index: int) -> Pair | None:
        extra = [_unrelated_text(paragraphs, index, rng) for _ in range(4)] if noise.extra_sentences else []
        return noisy_copy_pair(paragraph, sentences, rng, pair_id=pair_id, noise=noise, vocabulary=vocabulary,
                               extra=extra)

    return copy


def mixed_copier(paragraphs: Sequence[str], noise: Noise) -> Copier:
    """Shuffled copies for even paragraphs, noisy copies for odd ones (both shapes of match in one set)."""
    noisy = noisy_copier(paragraphs, noise)

    def copy(paragraph: str, sentences: Sequence[Span], rng: np.random.Generator, pair_id: str,
             index: int) -> Pair | None:
        if index % 2 == 0:
            return shuffled_copy_pair(paragraph, sentences, rng, pair_id=pair_id)
        return noisy(paragraph, sentences, rng, pair_id, index)

    return copy


def _unrelated_text(paragraphs: Sequence[str], index: int, rng: np.random.Generator) -> str:
    if len(paragraphs) < 2:
        return ""
    other = int(rng.integers(len(paragraphs) - 1))
    words = paragraphs[other + (other >= index)].split()
    length = int(rng.integers(8, 26))
    start = int(rng.integers(max(len(words) - length, 0) + 1))
    return " ".join(words[start : start + length])


def corpus_vocabulary(paragraphs: Sequence[str], *, limit: int = 200_000) -> list[str]:
    """The corpus's whitespace words in order (the first ``limit``): drawing from it follows word frequency."""
    words: list[str] = []
    for paragraph in paragraphs:
        words.extend(paragraph.split())
        if len(words) >= limit:
            break
    return words[:limit]
