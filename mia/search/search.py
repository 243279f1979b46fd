"""Corpus search: which passages of which documents reuse which others.

:func:`search` takes indexed documents (:mod:`mia.search.index`), finds candidate window pairs
(:mod:`mia.search.collection_candidates`), has an engine's workers score only those with the detector
(:mod:`mia.search.engine`), and merges the phrases found into passages (:mod:`mia.search.results_file`).
:func:`search_documents` does all of it, engine included, for documents in memory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mia.alignment.decoding import ARGMAX_FLOOR, Decode
from mia.alignment.detection import SparseScores, decoded
from mia.alignment.passages import PassageRule
from mia.alignment.sentence_candidates import CandidateOptions
from mia.errors import MiaError
from mia.models.attention import AttentionModel
from mia.models.encoding import TextTokens
from mia.progress import Progress, no_progress
from mia.search.collection import Document, check_unique
from mia.search.collection_candidates import check_candidate_options, embedding_pairs, shingle_pairs
from mia.search.engine import Engine, EngineName, InProcessEngine, WindowJob, WorkerSpec, start_engine
from mia.search.index import OWNED, Embed, SearchIndex, add_documents, index_options, index_settings
from mia.search.results_file import Passage
from mia.text.pairs import Pair

EMBED_BATCH = 64


@dataclass(frozen=True)
class SearchOptions:
    """The candidate families, the detector's decoding and passage rule (None: the detector's own) and the batch
    size of the workers' tasks."""

    candidates: CandidateOptions = field(default_factory=CandidateOptions)
    rule: PassageRule | None = None
    decode: Decode | None = None
    threshold: float | None = None
    batch_size: int = 8  # window pairs per task sent to a worker


@dataclass(frozen=True)
class Settings:
    """:class:`SearchOptions` with the detector's own filled in, and the probability token pairs are kept from."""

    candidates: CandidateOptions
    rule: PassageRule
    decode: Decode
    threshold: float
    floor: float
    batch_size: int
    argmax_floor: float = ARGMAX_FLOOR  # the detector's floor for documents (Detector.document_floor)


@dataclass
class SearchResult:
    """The passages found and the summary of the search (options, counts, times)."""

    passages: list[Passage]
    summary: dict[str, Any]

    def records(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.passages]

    def to_pandas(self) -> Any:
        """The passages as a pandas DataFrame (the columns of the results file)."""
        import pandas as pd

        from mia.search.results_file import COLUMNS

        return pd.DataFrame(self.records(), columns=list(COLUMNS))


WindowPairs = dict[tuple[int, int], set[str]]  # (A window, B window) -> the families that proposed it


def candidate_window_pairs(
    index: SearchIndex, against: SearchIndex | None, options: CandidateOptions
) -> tuple[WindowPairs, dict[str, int]]:
    """Window pairs ``(A window, B window)`` proposed by the candidate families, and sentence pairs per family.

    Without ``against``, both windows come from ``index``, never from one document, A's document first by id;
    with it, A windows are ``index``'s and B windows ``against``'s.
    """
    other = index if against is None else against
    pairs: WindowPairs = {}
    counts: dict[str, int] = {}
    ids = index.ids
    for family in options.families:
        least = options.min_words if family == "shingles" else options.embedding_min_words
        query_rows, indexed_rows = np.nonzero(index.words >= least)[0], np.nonzero(other.words >= least)[0]
        if family == "shingles":
            if index.signatures is None or other.signatures is None:
                continue
            found = shingle_pairs(index.signatures[query_rows], other.signatures[indexed_rows], options)
        else:
            if index.vectors is None or other.vectors is None:
                continue
            found = embedding_pairs(index.vectors[query_rows], other.vectors[indexed_rows], options,
                                   same=against is None)
        seen: set[tuple[int, int]] = set()
        for q, i, _ in found:
            a, b = int(query_rows[q]), int(indexed_rows[i])
            da, db = int(index.sentences[a, 0]), int(other.sentences[b, 0])
            if against is None:
                if da == db:
                    continue
                if ids[da] > ids[db]:
                    a, b = b, a
            seen.add((a, b))
            pairs.setdefault((int(index.sentences[a, 3]), int(other.sentences[b, 3])), set()).add(family)
        counts[family] = len(seen)
    return pairs, counts


def all_window_pairs(index: SearchIndex, against: SearchIndex | None) -> int:
    """How many window pairs a search without candidates would score (documents never with themselves)."""
    per_doc = np.bincount(index.windows[:, 0], minlength=len(index.documents)) if len(index.windows) else np.zeros(0)
    if against is not None:
        return int(len(index.windows) * len(against.windows))
    return int((per_doc.sum() ** 2 - (per_doc**2).sum()) // 2)


def search(
    index: SearchIndex, engine: Engine, *, against: SearchIndex | None = None,
    options: SearchOptions = SearchOptions(), progress: Progress = no_progress,
) -> SearchResult:
    """Passages of ``index``'s documents reused in one another (or in ``against``'s documents).

    The shingle and MinHash settings are ``index``'s own (``options.candidates`` gives the rest); ``against`` must
    have been built with the same ones."""
    other = index if against is None else against
    if any(other.settings.get(name) != index.settings.get(name) for name in (*OWNED, "fingerprint")):
        raise MiaError("the two collections were indexed with different models or shingle settings; index --against "
                       "with the settings of the index")
    if any(len(part.document_tokens) != len(part.documents) for part in (index, other)):
        raise MiaError("the index holds no tokens of its documents (format 1): pass it through build_index first")
    settings = resolved(replace(options, candidates=index_options(index, options.candidates)),
                        engine.spec.detector, engine.spec.threshold)
    check_candidate_options(settings.candidates)
    started = time.perf_counter()
    window_pairs, sentence_pairs = candidate_window_pairs(index, against, settings.candidates)
    candidates_seconds = time.perf_counter() - started
    keys = sorted(window_pairs)
    jobs: list[WindowJob] = [(n, index.window(wa), other.window(wb)) for n, (wa, wb) in enumerate(keys)]
    batches = [jobs[i : i + settings.batch_size] for i in range(0, len(jobs), settings.batch_size)]
    found: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}  # document pair -> (keys, values)
    errors: list[str] = []
    started = time.perf_counter()
    for results in progress(engine.score(batches), "window pairs", len(batches)):
        for key, rows, cols, values, error in results:
            if error:
                errors.append(error)
                continue
            wa, wb = keys[key]
            da, db = int(index.windows[wa, 0]), int(other.windows[wb, 0])
            rows = rows.astype(np.int64) + int(index.window_tokens[wa, 0])  # tokens of the whole documents
            cols = cols.astype(np.int64) + int(other.window_tokens[wb, 0])
            n_b = int(other.document_tokens[db, 1] - other.document_tokens[db, 0])
            found.setdefault((da, db), []).append((rows * n_b + cols, values))
    scoring_seconds = time.perf_counter() - started
    passages: list[Passage] = []
    for (da, db), parts in sorted(found.items()):
        passages.extend(document_passages(index, other, da, db, parts, settings))
    passages.sort(key=lambda p: (p.a_id, p.b_id, p.a_start, p.b_start))
    families = {f: sum(f in found_by for found_by in window_pairs.values()) for f in settings.candidates.families}
    summary = {
        "documents": len(index.documents), "against": None if against is None else len(against.documents),
        "windows": len(index.windows) + (0 if against is None else len(against.windows)),
        "sentences": len(index.sentences) + (0 if against is None else len(against.sentences)),
        "index": index.settings,
        "candidates": {**settings.candidates.to_dict(), "sentence_pairs": sentence_pairs,
                       "window_pairs_by_family": families, "window_pairs": len(keys),
                       "window_pairs_without_candidates": all_window_pairs(index, against)},
        "window_pairs_scored": len(keys) - len(errors), "window_pair_errors": len(errors),
        "first_errors": errors[:5], "passages": len(passages),
        "decoding": {"decode": settings.decode, "words": "regex", "threshold": settings.threshold,
                     "floor": settings.argmax_floor},
        "passage_rule": settings.rule.to_dict(links=False),  # search prints passages, no links
        "engine": engine.describe(),
        "seconds": {"candidates": round(candidates_seconds, 2), "scoring": round(scoring_seconds, 2)},
    }
    return SearchResult(passages, summary)


def resolved(options: SearchOptions, detector_name: str, threshold: float | None) -> Settings:
    """``options`` with what it leaves to the detector filled in from the detector the workers run."""
    from mia.detector.detector import Detector, kept_floor

    detector = Detector.load(detector_name)
    decode = options.decode or detector.decode
    limit = options.threshold if options.threshold is not None else (
        threshold if threshold is not None else detector.threshold)
    return Settings(options.candidates, options.rule or detector.passage_rule, decode, limit,
                    kept_floor(decode, limit), options.batch_size, detector.document_floor)


def document_passages(index: SearchIndex, other: SearchIndex, da: int, db: int,
                      parts: list[tuple[np.ndarray, np.ndarray]], options: Settings) -> list[Passage]:
    """The passages of one document pair from its scored window pairs, as ``detect`` makes them for two documents:
    each token pair's highest probability over the window pairs, decoded into word links, phrases, passages."""
    a_doc, b_doc = index.documents[da], other.documents[db]
    a_tokens, b_tokens = index.tokens_of(da), other.tokens_of(db)
    key = np.concatenate([k for k, _ in parts])
    value = np.concatenate([v for _, v in parts]).astype(np.float32)
    order = np.lexsort((-value, key))  # by key, highest first: the first of each key is its maximum
    key, value = key[order], value[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    key, value = key[first], value[first]
    n_b = max(len(b_tokens), 1)
    scores = SparseScores((len(a_tokens), len(b_tokens)), key // n_b, key % n_b, value, options.floor)
    detection = decoded(Pair(f"{a_doc.id}|{b_doc.id}", a_doc.text, b_doc.text), scores,
                        (a_tokens.spans, b_tokens.spans), threshold=options.threshold, decode=options.decode,
                        passages=options.rule, floor=options.argmax_floor)
    return [Passage(a_doc.id, p.a_start, p.a_end, b_doc.id, p.b_start, p.b_end, p.score,
                    a_doc.text[p.a_start : p.a_end], b_doc.text[p.b_start : p.b_end], p.words, p.phrases, p.longest)
            for p in detection.passages]


def engine_embed(engine: Engine, progress: Progress = no_progress) -> Embed:
    """Embeddings by the engine's workers, from the texts' tokens, in batches (for :func:`add_documents`)."""
    def embed(texts: Sequence[TextTokens]) -> np.ndarray:
        ids = [text.ids for text in texts]
        batches = [ids[i : i + EMBED_BATCH] for i in range(0, len(ids), EMBED_BATCH)]
        rows: Iterable[np.ndarray] = progress(engine.embed(batches), "embeddings", len(batches))
        parts = [np.asarray(r, np.float32) for r in rows if len(r)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    return embed


@contextlib.contextmanager
def open_engine(spec: WorkerSpec, *, engine: EngineName = "local", workers: int = 1,
                address: str | None = None) -> Iterator[tuple[Engine, AttentionModel]]:
    """A started engine and the model (here, for cutting documents into windows); the engine is closed after."""
    from mia.detector.detector import Detector

    running = start_engine(spec, engine=engine, workers=workers, address=address)
    try:
        model = running.worker.model if isinstance(running, InProcessEngine) else \
            Detector.load(spec.detector).load_model(device="cpu")
        yield running, model
    finally:
        running.close()


def build_index(documents: Sequence[Document], engine: Engine, model: AttentionModel, *,
                options: CandidateOptions = CandidateOptions(), index: SearchIndex | None = None,
                progress: Progress = no_progress) -> tuple[SearchIndex, int]:
    """A new index of ``documents``, or ``index`` with them added; and how many documents were added."""
    if index is None:
        index = SearchIndex(index_settings(model, options))
    elif index.settings.get("fingerprint") != model.fingerprint:
        raise MiaError(f"the index was built with model {index.settings.get('model')!r} (fingerprint "
                       f"{index.settings.get('fingerprint')}), not the detector's {model.name!r}; use a detector of "
                       "that model or build a new index")
    wanted = "embeddings" in options.families or index.vectors is not None  # an index's rows keep their vectors
    embed = engine_embed(engine, progress) if wanted else None
    return add_documents(index, documents, model, options=index_options(index, options), embed=embed,
                         progress=progress)


def search_documents(
    documents: Sequence[Document | tuple[str, str]], *, against: Sequence[Document | tuple[str, str]] | None = None,
    detector: str = "minilm-reuse", options: SearchOptions = SearchOptions(), engine: EngineName = "local",
    workers: int = 1, address: str | None = None, threads: int = 1, device: str = "auto",
    threshold: float | None = None, progress: Progress = no_progress,
) -> SearchResult:
    """Search documents (:class:`~mia.search.collection.Document` or ``(id, text)`` pairs) in memory, start to end:
    an engine started and closed, the indexes built on the way (not saved)."""
    spec = WorkerSpec(detector, threshold=threshold, device=device,
                      threads=threads)
    started = time.perf_counter()
    with open_engine(spec, engine=engine, workers=workers, address=address) as (running, model):
        index, _ = build_index(as_documents(documents), running, model, options=options.candidates,
                               progress=progress)
        other = None if against is None else build_index(as_documents(against), running, model,
                                                         options=options.candidates, progress=progress)[0]
        indexed = time.perf_counter() - started
        result = search(index, running, against=other, options=options, progress=progress)
    result.summary["seconds"]["index"] = round(indexed, 2)
    return result


def as_documents(items: Sequence[Document | tuple[str, str]]) -> list[Document]:
    documents = [d if isinstance(d, Document) else Document(str(d[0]), str(d[1])) for d in items]
    return sorted(check_unique(documents, "the documents"), key=lambda d: d.id)
