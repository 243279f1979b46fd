"""Candidate window pairs across a collection: the sentence rules of :mod:`mia.alignment.sentence_candidates`, found
with approximate nearest-neighbour indexes because every sentence of every document cannot be compared with every
other.

Documents are cut into windows exactly as long texts are (:mod:`mia.text.windows`) and candidates are found between
**sentences** and mapped to the window pair of the two sentences' home windows (:mod:`mia.alignment.candidate_windows`):

* ``shingles``: MinHash LSH (``datasketch``) over each sentence's word shingles, tuned for the Jaccard similarity
  ``lsh_threshold`` the exact rule uses for one pair of texts; sentences with fewer than ``min_words`` words take
  no part;
* ``embeddings``: the ``neighbours`` nearest sentences by the model's own mean-pooled embeddings in an HNSW index
  (``faiss``), kept from a cosine of ``min_similarity``, and mutual nearest neighbours from ``mutual_similarity``.

The defaults were chosen on planted-reuse runs with seed 7 (``benchmarks/search_benchmark.py``), never on the
seed-0 run the README reports. A document is never paired with itself; within one collection each unordered pair
of documents is considered once (the window of the document that comes first by id is the A side).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from mia.alignment.sentence_candidates import FAMILIES, CandidateOptions, sentence_words, shingles

SCHEME = "affine32"  # datasketch's MinHash scheme: 32-bit hash values
# name -> (smallest, largest): the shingle and MinHash settings an index is built with, a search runs with and an
# index file may hold (one range for `index`, `search` and the index reader; the LSH's set-up time grows with the
# square of num_perm: 7 s at 4,096 here)
INDEX_SETTING_RANGES: dict[str, tuple[int, int]] = {"shingle": (1, 64), "word_chars": (1, 64), "num_perm": (2, 4096)}


def check_candidate_options(options: CandidateOptions) -> None:
    """Raise :class:`MiaError` for settings the candidate families cannot run with (checked before any work)."""
    from mia.errors import MiaError

    unknown = [f for f in options.families if f not in FAMILIES]
    if unknown or not options.families:
        raise MiaError(f"candidate families must be one or more of {', '.join(FAMILIES)}, got {options.families}")
    for name in ("shingle", "word_chars", "num_perm", "min_words", "embedding_min_words", "neighbours", "hnsw_m",
                 "ef_search"):
        value = getattr(options, name)
        low, high = INDEX_SETTING_RANGES.get(name, (1, None))
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            allowed = f"from {low}" if high is None else f"from {low} to {high}"
            raise MiaError(f"candidate setting {name} must be a whole number {allowed}, got {value!r}")
    for name in ("lsh_threshold", "min_similarity", "mutual_similarity"):
        value = getattr(options, name)
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise MiaError(f"candidate setting {name} must be between 0 and 1, got {value!r}")
    if "shingles" in options.families:
        from datasketch import MinHashLSH

        try:
            MinHashLSH(threshold=options.lsh_threshold, num_perm=options.num_perm)
        except ValueError:
            raise MiaError(f"--lsh-threshold {options.lsh_threshold} is too high for {options.num_perm} MinHash "
                           "permutations (the LSH needs at least 2 bands); lower it, or index with more "
                           "--num-perm") from None


def signatures(texts: Sequence[str], options: CandidateOptions) -> np.ndarray:
    """MinHash signatures uint32 ``[len(texts), num_perm]`` of each text's word shingles."""
    from datasketch import MinHash

    if not texts:
        return np.zeros((0, options.num_perm), np.uint32)
    sets = [{shingle.encode("utf-8") for shingle in shingles(sentence_words(t, options.word_chars), options.shingle)}
            for t in texts]
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
