"""Corpus search: which passages of which documents reuse which others.

:func:`search` takes indexed documents (:mod:`mia.search.index`), finds candidate window pairs
(:mod:`mia.search.candidates`), has an engine's workers score only those with the detector
(:mod:`mia.search.engine`), and merges the phrases found into passages (:mod:`mia.search.passages`).
:func:`search_documents` does all of it, engine included, for documents in memory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mia.errors import MiaError
from mia.models.attention import AttentionModel
from mia.progress import Progress, no_progress
from mia.search.candidates import CandidateOptions, embedding_pairs, shingle_pairs
from mia.search.documents import Document, check_unique
from mia.search.engine import Engine, EngineName, InProcessEngine, WindowJob, WorkerSpec, start_engine
from mia.search.index import Embed, SearchIndex, add_documents, index_settings
from mia.search.passages import (
    DEFAULT_GAP,
    DEFAULT_MIN_LONGEST,
    DEFAULT_MIN_TOKENS,
    DocumentPhrase,
    Passage,
    merge_passages,
)

EMBED_BATCH = 64


@dataclass(frozen=True)
class SearchOptions:
    candidates: CandidateOptions = field(default_factory=CandidateOptions)
    gap: int = DEFAULT_GAP  # characters between phrases of one passage, on each side
    min_passage_tokens: int = DEFAULT_MIN_TOKENS
    min_longest_phrase: int = DEFAULT_MIN_LONGEST
    batch_size: int = 8  # window pairs per task sent to a worker


@dataclass
class SearchResult:
    """The passages found and the summary of the search (options, counts, times)."""

    passages: list[Passage]
    summary: dict[str, Any]
    window_pairs: list[tuple[tuple[str, int, int], tuple[str, int, int]]] = field(default_factory=list)
    """The window pairs scored: ``((A id, first char, end char), (B id, first char, end char))``."""

    def records(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.passages]

    def to_pandas(self) -> Any:
        """The passages as a pandas DataFrame (the columns of the results file)."""
        import pandas as pd

        from mia.search.passages import COLUMNS

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
    """Passages of ``index``'s documents reused in one another (or in ``against``'s documents)."""
    other = index if against is None else against
    started = time.perf_counter()
    window_pairs, sentence_pairs = candidate_window_pairs(index, against, options.candidates)
    candidates_seconds = time.perf_counter() - started
    keys = sorted(window_pairs)
    jobs: list[WindowJob] = [(n, index.window_text(wa), other.window_text(wb)) for n, (wa, wb) in enumerate(keys)]
    batches = [jobs[i : i + options.batch_size] for i in range(0, len(jobs), options.batch_size)]
    found: dict[tuple[int, int], list[DocumentPhrase]] = {}
    errors: list[str] = []
    started = time.perf_counter()
    for results in progress(engine.score(batches), "window pairs", len(batches)):
        for key, phrases, error in results:
            if error:
                errors.append(error)
            wa, wb = keys[key]
            (da, sa, _), (db, sb, _) = index.windows[wa].tolist(), other.windows[wb].tolist()  # Python ints
            found.setdefault((da, db), []).extend(
                (a0 + sa, a1 + sa, b0 + sb, b1 + sb, tokens, score) for a0, a1, b0, b1, tokens, score in phrases)
    scoring_seconds = time.perf_counter() - started
    passages: list[Passage] = []
    for (da, db), phrases in sorted(found.items()):
        a_doc, b_doc = index.documents[da], other.documents[db]
        passages.extend(merge_passages(a_doc.id, a_doc.text, b_doc.id, b_doc.text, phrases, max_gap=options.gap,
                                       min_tokens=options.min_passage_tokens, min_longest=options.min_longest_phrase))
    passages.sort(key=lambda p: (p.a_id, p.b_id, p.a_start, p.b_start))
    families = {f: sum(f in found_by for found_by in window_pairs.values()) for f in options.candidates.families}
    summary = {
        "documents": len(index.documents), "against": None if against is None else len(against.documents),
        "windows": len(index.windows) + (0 if against is None else len(against.windows)),
        "sentences": len(index.sentences) + (0 if against is None else len(against.sentences)),
        "index": index.settings,
        "candidates": {**options.candidates.to_dict(), "sentence_pairs": sentence_pairs,
                       "window_pairs_by_family": families, "window_pairs": len(keys),
                       "window_pairs_without_candidates": all_window_pairs(index, against)},
        "window_pairs_scored": len(keys) - len(errors), "window_pair_errors": len(errors),
        "first_errors": errors[:5], "passages": len(passages),
        "passage_rule": {"gap_chars": options.gap, "min_tokens": options.min_passage_tokens,
                         "min_longest_phrase": options.min_longest_phrase},
        "engine": engine.describe(),
        "seconds": {"candidates": round(candidates_seconds, 2), "scoring": round(scoring_seconds, 2)},
    }
    return SearchResult(passages, summary, [(index.window_span(wa), other.window_span(wb)) for wa, wb in keys])


def engine_embed(engine: Engine, progress: Progress = no_progress) -> Embed:
    """Embeddings by the engine's workers, in batches (for :func:`add_documents`)."""
    def embed(texts: Sequence[str]) -> np.ndarray:
        batches = [texts[i : i + EMBED_BATCH] for i in range(0, len(texts), EMBED_BATCH)]
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


def index_options(index: SearchIndex, options: CandidateOptions) -> CandidateOptions:
    """``options`` with the shingle settings an index was built with (its signatures depend on them)."""
    keep = {name: index.settings[name] for name in ("shingle", "word_chars", "num_perm", "seed")
            if name in index.settings}
    return replace(options, **keep)


def search_documents(
    documents: Sequence[Document | tuple[str, str]], *, against: Sequence[Document | tuple[str, str]] | None = None,
    detector: str = "minilm-reuse", options: SearchOptions = SearchOptions(), engine: EngineName = "local",
    workers: int = 1, address: str | None = None, threads: int = 1, device: str = "auto",
    threshold: float | None = None, min_phrase_tokens: int = 2, progress: Progress = no_progress,
) -> SearchResult:
    """Search documents (:class:`~mia.search.documents.Document` or ``(id, text)`` pairs) in memory, start to end:
    an engine started and closed, the indexes built on the way (not saved)."""
    spec = WorkerSpec(detector, threshold=threshold, min_phrase_tokens=min_phrase_tokens, device=device,
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
