"""The search index: every document's windows and sentences, their MinHash signatures and embeddings.

Built once (``mia index``), reused by ``search --index``, and updated by adding documents (the new documents'
rows are appended; nothing is recomputed for the others). In memory:

* ``documents``: the texts, as read;
* each document's tokens, made once when it is added: ``token_ids`` int64 ``[T]`` and ``token_spans`` int64
  ``[T, 2]`` (character spans in the document) of all documents in a row, ``document_tokens`` int64 ``[D, 2]``
  (each document's first and end row in them);
* ``windows`` int64 ``[W, 3]`` (document, first char, end char) and ``window_tokens`` int64 ``[W, 2]`` (first and
  end token within the document), ``sentences`` int64 ``[S, 4]`` (document, first char, end char, home window),
  ``words`` int64 ``[S]`` (words per sentence), ``signatures`` uint32 ``[S, P]`` (datasketch's ``affine32``
  MinHash), ``vectors`` float32 ``[S, D]``.

A window pair reaches a worker as the two windows' token ids, and sentences are embedded from theirs: no text is
tokenised twice.

On disk (:mod:`mia.search.index_file`): a folder of plain files, nothing pickled, updated atomically as a whole.
The LSH tables and the HNSW graph are rebuilt from the arrays when a search needs them. The settings an index was
built with (model, window size, shingle and MinHash settings) are its own: every later search and update uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mia.alignment.candidate_windows import candidate_units, sentence_homes
from mia.alignment.sentence_candidates import CandidateOptions
from mia.errors import MiaError
from mia.io import check_writable_folder
from mia.models.attention import AttentionModel
from mia.models.encoding import TextTokens
from mia.progress import Progress, no_progress
from mia.search.collection import Document, check_unique
from mia.search.collection_candidates import SCHEME, signatures, word_counts
from mia.search.index_file import INDEX_FILE, read_generation, tidy_generation, write_generation
from mia.text.corpus import split_sentences
from mia.text.windows import Window, plan_windows

Embed = Callable[[Sequence[TextTokens]], np.ndarray]  # unit-length embeddings [n, dim] of n texts (their tokens)
OWNED = ("shingle", "word_chars", "num_perm", "seed")  # candidate settings an index's signatures depend on


@dataclass
class SearchIndex:
    """Documents cut into windows and sentences, with what the candidate families need (module docstring)."""

    settings: dict[str, Any]
    documents: list[Document] = field(default_factory=list)
    windows: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    sentences: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    words: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    signatures: np.ndarray | None = None
    vectors: np.ndarray | None = None
    token_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    token_spans: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    document_tokens: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    window_tokens: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    state: str | None = None  # the manifest this index was read from (an update checks it is still there)

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self.documents]

    def tokens_of(self, doc: int) -> TextTokens:
        """A document's tokens, as made when it was added."""
        start, end = self.document_tokens[doc].tolist()
        return TextTokens(self.documents[doc].text, self.token_ids[start:end], self.token_spans[start:end])

    def window(self, window: int) -> TextTokens:
        """A window's tokens (a range of its document's)."""
        doc, char_start, char_end = self.windows[window].tolist()
        start, end = self.window_tokens[window].tolist()
        return self.tokens_of(doc).part(start, end, char_start, char_end)

    def window_span(self, window: int) -> tuple[str, int, int]:
        """``(document id, first char, end char)`` of a window."""
        doc, start, end = self.windows[window].tolist()
        return self.documents[doc].id, start, end

    def sentence_tokens(self, rows: Sequence[int] | None = None) -> list[TextTokens]:
        """The tokens of sentences (rows of ``sentences``; default all): the document's tokens that start inside
        the sentence."""
        chosen = range(len(self.sentences)) if rows is None else rows
        found = []
        for row in chosen:
            doc, start, end, _ = self.sentences[row].tolist()
            tokens = self.tokens_of(doc)
            first, last = np.searchsorted(tokens.spans[:, 0], [start, end], side="left")
            found.append(tokens.part(int(first), int(last), start, end))
        return found


def index_settings(model: AttentionModel, options: CandidateOptions) -> dict[str, Any]:
    """What an index depends on: the model (its windows and embeddings) and the shingle settings."""
    return {"model": model.name, "fingerprint": model.fingerprint,
            "window_tokens": min(model.window_sizes()),
            "shingle": options.shingle, "word_chars": options.word_chars, "num_perm": options.num_perm,
            "seed": options.seed, "minhash_scheme": SCHEME}


def document_units(model: AttentionModel, text: str, size: int
                   ) -> tuple[TextTokens, list[Window], list[tuple[int, int, int]]]:
    """A document's tokens (its one tokenisation), windows and candidate units ``(first char, end char, home
    window)`` (:mod:`mia.alignment.candidate_windows`: sentences, long ones in pieces; the home is the window that
    holds the unit whole with the widest margin), as ``detect`` makes them for two documents."""
    tokens = model.tokens(text)
    sentences = split_sentences(text)
    windows = plan_windows(tokens.spans, sentences, size) if len(tokens) else []
    return tokens, windows, sentence_homes(candidate_units(text, sentences), windows)


def with_tokens(index: SearchIndex, model: AttentionModel) -> SearchIndex:
    """``index`` with its documents' tokens (an index of format 1 stored none: each document is tokenised once
    here, and its windows found among the tokens)."""
    if len(index.document_tokens) == len(index.documents):
        return index
    ids, spans, bounds, window_tokens = [], [], [], np.zeros((len(index.windows), 2), np.int64)
    total = 0
    for doc, document in enumerate(index.documents):
        tokens = model.tokens(document.text)
        ids.append(tokens.ids)
        spans.append(tokens.spans)
        bounds.append((total, total + len(tokens)))
        total += len(tokens)
        rows = np.flatnonzero(index.windows[:, 0] == doc)
        window_tokens[rows, 0] = np.searchsorted(tokens.spans[:, 0], index.windows[rows, 1], side="left")
        window_tokens[rows, 1] = np.searchsorted(tokens.spans[:, 1], index.windows[rows, 2], side="right")
    return replace(index, token_ids=np.concatenate(ids) if ids else np.zeros(0, np.int64),
                   token_spans=np.concatenate(spans) if spans else np.zeros((0, 2), np.int64),
                   document_tokens=np.array(bounds, np.int64).reshape(-1, 2), window_tokens=window_tokens)


def add_documents(
    index: SearchIndex, documents: Sequence[Document], model: AttentionModel, *, options: CandidateOptions,
    embed: Embed | None, progress: Progress = no_progress,
) -> tuple[SearchIndex, int]:
    """``index`` with ``documents`` added, and how many were new. A document already there with the same text is
    skipped; one with the same id and another text is an error (build a new index, or give it another id).

    ``embed`` is required when the index holds embeddings (every sentence row keeps its vector); given for an
    index without them, it embeds the sentences already there too."""
    if embed is None and index.vectors is not None:
        raise MiaError("this index holds embeddings: give embed to add documents to it")
    index = with_tokens(index, model)
    known = {d.id: d.digest for d in index.documents}
    changed = [d.id for d in documents if d.id in known and known[d.id] != d.digest]
    if changed:
        raise MiaError(f"document {changed[0]!r} is in the index with another text ({len(changed)} such); "
                       "give changed documents new ids or build a new index")
    new = list(check_unique([d for d in documents if d.id not in known], "the documents"))
    if not new:
        return index, 0
    size = int(index.settings["window_tokens"])
    windows, window_tokens, sentences = [index.windows], [index.window_tokens], [index.sentences]
    ids, spans, bounds = [index.token_ids], [index.token_spans], [index.document_tokens]
    first_doc, first_window, first_token = len(index.documents), len(index.windows), len(index.token_ids)
    added: list[TextTokens] = []
    for number, document in enumerate(progress(new, "windows", len(new))):
        tokens, doc_windows, units = document_units(model, document.text, size)
        doc = first_doc + number
        ids.append(tokens.ids)
        spans.append(tokens.spans)
        bounds.append(np.array([[first_token, first_token + len(tokens)]], np.int64))
        first_token += len(tokens)
        windows.append(np.array([(doc, w.char_start, w.char_end) for w in doc_windows], np.int64).reshape(-1, 3))
        window_tokens.append(np.array([(w.start, w.end) for w in doc_windows], np.int64).reshape(-1, 2))
        sentences.append(np.array([(doc, s, e, first_window + w) for s, e, w in units], np.int64).reshape(-1, 4))
        for start, end, _ in units:
            first, last = np.searchsorted(tokens.spans[:, 0], [start, end], side="left")
            added.append(tokens.part(int(first), int(last), start, end))
        first_window += len(doc_windows)
    texts = [part.text for part in added]
    added_signatures = signatures(texts, options)
    vectors = None
    if embed is not None:
        old = index.vectors if index.vectors is not None or not len(index.sentences) else \
            embed(index.sentence_tokens())
        fresh = embed(added).astype(np.float32)
        parts = [part.astype(np.float32) for part in (old, fresh) if part is not None and len(part)]
        vectors = np.concatenate(parts) if parts else None
    old_signatures = index.signatures if index.signatures is not None else np.zeros((0, options.num_perm), np.uint32)
    return replace(
        index, documents=[*index.documents, *new], windows=np.concatenate(windows),
        window_tokens=np.concatenate(window_tokens), sentences=np.concatenate(sentences),
        words=np.concatenate([index.words, word_counts(texts)]),
        signatures=np.concatenate([old_signatures, added_signatures]), vectors=vectors,
        token_ids=np.concatenate(ids), token_spans=np.concatenate(spans), document_tokens=np.concatenate(bounds),
    ), len(new)


# --- on disk ---------------------------------------------------------------------------------------------------


def arrays_of(index: SearchIndex) -> dict[str, np.ndarray]:
    arrays = {"windows": index.windows, "sentences": index.sentences, "words": index.words,
              "token_ids": index.token_ids, "token_spans": index.token_spans,
              "document_tokens": index.document_tokens, "window_tokens": index.window_tokens}
    if index.signatures is not None:
        arrays["signatures"] = index.signatures
    if index.vectors is not None:
        arrays["vectors"] = index.vectors
    return arrays


def save_index(index: SearchIndex, folder: str | Path) -> Path:
    """Write ``index`` into ``folder`` as a new generation, switched in by one rename (:mod:`mia.search.index_file`);
    refused when the folder's index changed since ``index`` was read from it."""
    folder = Path(folder)
    write_generation(folder, index.settings, index.documents, arrays_of(index), expected_state=index.state)
    return folder


def tidy_index(index: SearchIndex, folder: str | Path) -> None:
    """Remove what killed updates left in the index folder ``folder`` that ``index`` was read from (an update that
    adds nothing writes nothing, but still tidies: :func:`mia.search.index_file.tidy_generation`)."""
    tidy_generation(Path(folder), expected_state=index.state)


def is_index(folder: str | Path) -> bool:
    return (Path(folder) / INDEX_FILE).is_file()


def check_index_destination(folder: str | Path, flag: str = "--out") -> bool:
    """True when ``folder`` holds an index (to be updated); False when it is new or empty. Anything else is refused
    before any work: a file, a broken link, a path under a file, a folder mia cannot write, a folder holding other
    things (mia writes into no folder it did not make)."""
    path = Path(folder)
    if not str(folder).strip():
        raise MiaError(f"{flag} is empty; give a folder for the index")
    if path.is_symlink() and not path.exists():
        raise MiaError(f"{flag} {path} is a broken symbolic link")
    if is_index(path):
        check_writable_folder(path, flag=flag, target=path)
        return True
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise MiaError(f"{flag} {path} exists and is not a mia index; give a new or empty folder")
    check_writable_folder(path if path.exists() else path.parent, flag=flag, target=path)
    return False


def load_index(folder: str | Path, flag: str = "--index") -> SearchIndex:
    """Read and check an index folder (every field, hash, shape and span); no pickle is ever loaded."""
    path = Path(folder)
    if not is_index(path):
        raise MiaError(f"{flag} {path}: not a mia index (no {INDEX_FILE}); build one with `mia index`")
    data = read_generation(path, flag)
    arrays = data.arrays
    tokens = {name: arrays[name] for name in ("token_ids", "token_spans", "document_tokens", "window_tokens")
              if name in arrays}
    return SearchIndex(data.record.settings, data.documents, arrays["windows"], arrays["sentences"], arrays["words"],
                       arrays.get("signatures"), arrays.get("vectors"), **tokens, state=data.state)


def check_settings(index: SearchIndex, given: dict[str, Any]) -> None:
    """Raise when a setting the user gave (``given``: name -> value, None for not given) differs from the one
    ``index`` was built with (its signatures depend on it): an index's settings are its own."""
    for name, value in given.items():
        if value is not None and index.settings.get(name) != value:
            raise MiaError(f"--{name.replace('_', '-')} {value}: the index was built with {index.settings.get(name)}; "
                           "an index keeps its own settings (leave the option out, or build a new index)")


def index_options(index: SearchIndex, options: CandidateOptions) -> CandidateOptions:
    """``options`` with the settings ``index`` was built with (its signatures depend on them)."""
    return replace(options, **{name: index.settings[name] for name in OWNED})

