"""String baselines for reuse between documents: passages found without a model, to set beside the detector's.

* :func:`ngram_passages`: seed-and-merge over word n-grams, the aligner of thirty lines a text-reuse engineer writes
  first: every word ``n``-gram (lower-cased) the two documents share is a seed; seeds within ``gap`` characters of
  each other in both documents are merged (the gap rule of :mod:`mia.alignment.passages`).
* :func:`tfidf_passages`: sentence seeds after the PAN 2014 winner (Sanchez-Perez, Sidorov and Gelbukh, "A Winning
  Approach to Text Alignment", PAN 2014), simplified: sentences as tf-idf vectors (idf over both documents'
  sentences), a seed where cosine and Dice similarity both reach ``threshold``, seeds merged by the gap rule, and
  passages shorter than ``min_chars`` on either side dropped.

Both return passages ``(a_start, a_end, b_start, b_end)`` in character offsets.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from mia.alignment.passages import PassageRule, merge_passages
from mia.text.corpus import split_sentences
from mia.text.words import CONTENT_WORD

Span4 = tuple[int, int, int, int]


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group().lower(), m.start(), m.end()) for m in CONTENT_WORD.finditer(text)]


def ngram_passages(a: str, b: str, *, n: int = 8, gap: int = 250) -> list[Span4]:
    """Word ``n``-gram seeds merged within ``gap`` characters on both sides (module docstring)."""
    a_words, b_words = _words(a), _words(b)
    where: dict[tuple[str, ...], list[int]] = {}
    for j in range(len(b_words) - n + 1):
        where.setdefault(tuple(w for w, _, _ in b_words[j : j + n]), []).append(j)
    seeds = []
    for i in range(len(a_words) - n + 1):
        for j in where.get(tuple(w for w, _, _ in a_words[i : i + n]), ()):
            seeds.append((a_words[i][1], a_words[i + n - 1][2], b_words[j][1], b_words[j + n - 1][2], n, 1.0))
    rule = PassageRule(gap=gap, min_words=0, min_longest=0)
    return [(p.a_start, p.a_end, p.b_start, p.b_end) for p in merge_passages(seeds, rule)]


def tfidf_passages(a: str, b: str, *, threshold: float = 0.33, gap: int = 300, min_chars: int = 150) -> list[Span4]:
    """Sentence seeds by tf-idf cosine and Dice, merged by the gap rule, short passages dropped (module docstring)."""
    a_sentences, b_sentences = split_sentences(a), split_sentences(b)
    bags = [Counter(w for w, _, _ in _words(text[s:e])) for text, spans in ((a, a_sentences), (b, b_sentences))
            for s, e in spans]
    documents = len(bags)
    frequency = Counter(word for bag in bags for word in bag)
    idf = {word: math.log(documents / count) for word, count in frequency.items()}

    def vector(bag: Counter[str]) -> dict[str, float]:
        weights = {word: count * idf[word] for word, count in bag.items()}
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        return {word: v / norm for word, v in weights.items()}

    a_bags, b_bags = bags[: len(a_sentences)], bags[len(a_sentences) :]
    a_vectors, b_vectors = [vector(bag) for bag in a_bags], [vector(bag) for bag in b_bags]
    seeds = []
    for i, (a_vector, a_bag) in enumerate(zip(a_vectors, a_bags)):
        for j, (b_vector, b_bag) in enumerate(zip(b_vectors, b_bags)):
            shared = a_bag.keys() & b_bag.keys()
            if not shared:
                continue
            cosine = sum(a_vector[w] * b_vector[w] for w in shared)
            dice = 2 * len(shared) / (len(a_bag) + len(b_bag))
            if cosine >= threshold and dice >= threshold:
                (a0, a1), (b0, b1) = a_sentences[i], b_sentences[j]
                seeds.append((a0, a1, b0, b1, 1, cosine))
    rule = PassageRule(gap=gap, min_words=0, min_longest=0)
    return [(p.a_start, p.a_end, p.b_start, p.b_end) for p in merge_passages(seeds, rule)
            if p.a_end - p.a_start >= min_chars and p.b_end - p.b_start >= min_chars]


DOCUMENT_BASELINES: dict[str, Callable[[str, str], list[Span4]]] = {
    "word 8-gram seeds, merged within 250 chars": ngram_passages,
    "tf-idf sentence seeds (after Sanchez-Perez 2014)": tfidf_passages,
}
