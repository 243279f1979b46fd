"""Candidates: which window pairs of two long texts are worth the attention detector.

Found between **sentences** and mapped to the window pair of the two sentences' home windows (the window where
each sits most centrally): a reused passage of 2-4 sentences is a small part of a window, and a window's shingle
set and its mean-pooled embedding are mostly the rest of the window. Two families:

* ``shingles``: sentence pairs whose word shingles (lower-cased words, ``shingle`` words each) have a Jaccard
  similarity of at least ``lsh_threshold``; sentences with fewer than ``min_words`` words take no part (they recur
  everywhere: "I see.");
* ``embeddings``: for each sentence of A, the ``neighbours`` most similar sentences of B by the model's own
  mean-pooled embeddings, kept from a cosine of ``min_similarity``, and mutual nearest neighbours from
  ``mutual_similarity`` (a copy with a third of its words changed is often its source's nearest sentence at only
  0.5-0.7).

For one pair of texts both are computed exactly (every sentence pair); corpus search finds the same pairs with
MinHash LSH and an HNSW index (:mod:`mia.search.collection_candidates`), approximations of these rules. ``all``
scores every
window pair: the exhaustive reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from mia.text.words import CONTENT_WORD

Family = Literal["shingles", "embeddings"]
FAMILIES: tuple[Family, ...] = ("shingles", "embeddings")


@dataclass(frozen=True)
class CandidateOptions:
    """Which candidate families run, and their settings (recorded with every result)."""

    families: tuple[Family, ...] = FAMILIES
    shingle: int = 3  # words per shingle
    word_chars: int = 1  # shorter words are left out of shingles
    num_perm: int = 64  # MinHash permutations (corpus search)
    lsh_threshold: float = 0.3  # Jaccard similarity a shingle candidate needs (search: what the LSH is tuned for)
    min_words: int = 6  # shorter sentences take no part in the shingles family
    embedding_min_words: int = 2  # nor in the embeddings family
    neighbours: int = 3  # nearest sentences per sentence
    min_similarity: float = 0.75  # cosine similarity a neighbour needs
    mutual_similarity: float = 0.5  # cosine similarity mutual nearest neighbours need
    hnsw_m: int = 32  # faiss HNSW links per node (corpus search)
    ef_search: int = 64  # faiss HNSW search breadth (corpus search)
    seed: int = 1  # MinHash seed (corpus search)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "families": list(self.families)}


def sentence_words(text: str, min_chars: int = 1) -> list[str]:
    """The lower-cased words of ``text`` that have at least ``min_chars`` characters."""
    return [w for w in CONTENT_WORD.findall(text.lower()) if len(w) >= min_chars]


def shingles(words: Sequence[str], size: int) -> set[str]:
    """The word ``size``-grams of ``words``; one shingle for a shorter sentence."""
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def shingle_pairs(a_texts: Sequence[str], b_texts: Sequence[str], options: CandidateOptions) -> set[tuple[int, int]]:
    """Sentence pairs ``(a, b)`` whose shingle sets have a Jaccard similarity of at least ``lsh_threshold``
    (exact; sentences under ``min_words`` words left out)."""
    def sets(texts: Sequence[str]) -> list[set[str] | None]:
        out: list[set[str] | None] = []
        for text in texts:
            words = sentence_words(text, options.word_chars)
            out.append(shingles(words, options.shingle) if len(words) >= options.min_words else None)
        return out

    a_sets, b_sets = sets(a_texts), sets(b_texts)
    holders: dict[str, list[int]] = {}
    for j, found in enumerate(b_sets):
        for shingle in found or ():
            holders.setdefault(shingle, []).append(j)
    pairs = set()
    for i, found in enumerate(a_sets):
        if not found:
            continue
        shared: dict[int, int] = {}
        for shingle in found:
            for j in holders.get(shingle, ()):
                shared[j] = shared.get(j, 0) + 1
        for j, count in shared.items():
            other = b_sets[j] or set()
            if count / (len(found) + len(other) - count) >= options.lsh_threshold:
                pairs.add((i, j))
    return pairs


def embedding_pairs(a_vectors: np.ndarray, b_vectors: np.ndarray, options: CandidateOptions, *,
                    a_usable: np.ndarray | None = None, b_usable: np.ndarray | None = None) -> set[tuple[int, int]]:
    """Sentence pairs ``(a, b)`` the embeddings propose (exact): each A sentence's ``neighbours`` most similar B
    sentences at or above ``min_similarity``, and mutual nearest neighbours at or above ``mutual_similarity``.
    Vectors: unit length, float32 ``[n, dim]``; ``*_usable``: bool masks of the sentences taking part."""
    if len(a_vectors) == 0 or len(b_vectors) == 0:
        return set()
    similarity = a_vectors @ b_vectors.T
    if a_usable is not None:
        similarity[~a_usable, :] = -np.inf
    if b_usable is not None:
        similarity[:, ~b_usable] = -np.inf
    pairs = set()
    k = min(options.neighbours, similarity.shape[1])
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    for i, row in enumerate(nearest):
        for j in row.tolist():
            if similarity[i, j] >= options.min_similarity:
                pairs.add((i, j))
    best_b, best_a = similarity.argmax(axis=1), similarity.argmax(axis=0)
    for i, j in enumerate(best_b.tolist()):
        if best_a[j] == i and similarity[i, j] >= options.mutual_similarity:
            pairs.add((i, j))
    return pairs
