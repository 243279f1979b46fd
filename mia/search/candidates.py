"""Candidate window pairs: which windows of two documents are worth the attention detector.

Documents are cut into windows exactly as long texts are (:mod:`mia.text.windows`: runs of whole sentences that
fit the model, one sentence of overlap). Candidates are found between **sentences** and mapped to the window
pair of the two sentences' home windows (the window where each sits most centrally): a reused passage of 2-4
sentences is a small part of a window, and both a window's shingle set and its mean-pooled embedding are mostly
the rest of the window, so matching whole windows would dilute exactly the signal we look for.

Two families (each optional, settings recorded in the search summary):

* ``shingles``: MinHash LSH (``datasketch``) over each sentence's word shingles (lower-cased words, ``shingle``
  words each); sentences with fewer than ``min_words`` words take no part (they recur everywhere: "I see.");
* ``embeddings``: the ``neighbours`` nearest sentences by the model's own mean-pooled embeddings in an HNSW index
  (``faiss``), kept when the cosine similarity is at least ``min_similarity``, and mutual nearest neighbours kept
  from ``mutual_similarity`` up (a copy with a third of its words changed is often its source's nearest sentence
  at a similarity of only 0.5-0.7).

The defaults were chosen on planted-reuse runs with seed 7 (``benchmarks/search_benchmark.py``), never on the
seed-0 run the README reports.

A document is never paired with itself; within one collection each unordered pair of documents is considered once
(the window of the document that comes first by id is the A side).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Family = Literal["shingles", "embeddings"]
FAMILIES: tuple[Family, ...] = ("shingles", "embeddings")
_WORD = re.compile(r"\w+")
SCHEME = "affine32"  # datasketch's MinHash scheme: 32-bit hash values


@dataclass(frozen=True)
class CandidateOptions:
    """Which candidate families run, and their settings (recorded in the search summary)."""

    families: tuple[Family, ...] = FAMILIES
    shingle: int = 3  # words per shingle
    word_chars: int = 1  # shorter words are left out of shingles
    num_perm: int = 64  # MinHash permutations
    lsh_threshold: float = 0.3  # Jaccard similarity datasketch tunes its bands and rows for
    min_words: int = 6  # shorter sentences take no part in the shingles family
    embedding_min_words: int = 2  # nor in the embeddings family
    neighbours: int = 3  # nearest sentences per sentence
    min_similarity: float = 0.75  # cosine similarity a neighbour needs
    mutual_similarity: float = 0.5  # cosine similarity mutual nearest neighbours need
    hnsw_m: int = 32  # faiss HNSW links per node
    ef_search: int = 64  # faiss HNSW search breadth
    seed: int = 1  # MinHash seed

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "families": list(self.families)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateOptions:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        if "families" in values:
            values["families"] = tuple(values["families"])
        return cls(**values)


def sentence_words(text: str, min_chars: int = 1) -> list[str]:
    """The lower-cased words of ``text`` that have at least ``min_chars`` characters."""
    return [w for w in _WORD.findall(text.lower()) if len(w) >= min_chars]


def shingles(words: Sequence[str], size: int) -> set[bytes]:
    """The word ``size``-grams of ``words`` (as bytes, what MinHash hashes); one shingle for a shorter sentence."""
    if len(words) <= size:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


def signatures(texts: Sequence[str], options: CandidateOptions) -> np.ndarray:
    """MinHash signatures uint32 ``[len(texts), num_perm]`` of each text's word shingles."""
    from datasketch import MinHash

    if not texts:
        return np.zeros((0, options.num_perm), np.uint32)
    sets = [shingles(sentence_words(t, options.word_chars), options.shingle) for t in texts]
    hashes = MinHash.bulk(sets, num_perm=options.num_perm, seed=options.seed, scheme=SCHEME)
    return np.stack([np.asarray(h.hashvalues, dtype=np.uint32) for h in hashes])


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """int64 ``[len(texts)]``: words per text (a family leaves out sentences shorter than its minimum)."""
    return np.array([len(sentence_words(t)) for t in texts], dtype=np.int64)


def shingle_pairs(
    query: np.ndarray, indexed: np.ndarray, options: CandidateOptions
) -> Iterable[tuple[int, int, float]]:
    """``(query row, indexed row, estimated Jaccard)`` for sentence pairs MinHash LSH proposes.

    ``query`` and ``indexed``: signatures ``[n, num_perm]`` (the same array for a search within one collection).
    """
    from datasketch import LeanMinHash, MinHashLSH

    lsh = MinHashLSH(threshold=options.lsh_threshold, num_perm=options.num_perm)
    with lsh.insertion_session() as session:
        for row, values in enumerate(indexed):
            session.insert(row, LeanMinHash(seed=options.seed, hashvalues=values, scheme=SCHEME),
                           check_duplication=False)
    for row, values in enumerate(query):
        for other in lsh.query(LeanMinHash(seed=options.seed, hashvalues=values, scheme=SCHEME)):
            yield row, int(other), float(np.mean(values == indexed[other]))


def embedding_pairs(
    query: np.ndarray, indexed: np.ndarray, options: CandidateOptions, *, same: bool = False
) -> Iterable[tuple[int, int, float]]:
    """``(query row, indexed row, cosine)`` for sentence pairs the embeddings propose (HNSW, faiss): each query
    sentence's ``neighbours`` nearest at or above ``min_similarity``, and **mutual nearest neighbours** (each the
    other's nearest) at or above ``mutual_similarity``. Vectors: unit length, float32 ``[n, dim]``; ``same``: query
    and indexed are one array (a sentence is not its own neighbour)."""
    if len(query) == 0 or len(indexed) == 0:
        return
    k = min(options.neighbours + int(same), len(indexed))
    similarity, rows = hnsw(indexed, options).search(np.ascontiguousarray(query, dtype=np.float32), k)
    best = nearest(rows, same)
    if same:
        best_back = best
    else:  # the indexed sentences' nearest query sentence
        _, back_rows = hnsw(query, options).search(np.ascontiguousarray(indexed, dtype=np.float32), 1)
        best_back = nearest(back_rows, False)
    for row in range(len(query)):
        for other, value in zip(rows[row], similarity[row]):
            if other < 0 or (same and other == row):
                continue
            mutual = other == best[row] and best_back[other] == row and value >= options.mutual_similarity
            if value >= options.min_similarity or mutual:
                yield row, int(other), float(value)


def hnsw(vectors: np.ndarray, options: CandidateOptions) -> Any:
    """A faiss HNSW index (inner product) over ``vectors`` float32 ``[n, dim]``."""
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = options.ef_search
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def nearest(rows: np.ndarray, same: bool) -> np.ndarray:
    """Each row's nearest neighbour (-1: none), itself left out when ``same``."""
    best = np.full(len(rows), -1, dtype=np.int64)
    for row in range(len(rows)):
        for other in rows[row]:
            if other >= 0 and not (same and other == row):
                best[row] = other
                break
    return best
