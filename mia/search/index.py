"""The search index: every document's windows and sentences, their MinHash signatures and embeddings.

Built once (``mia index``), reused by ``search --index``, and updated by adding documents (the new documents'
rows are appended; nothing is recomputed for the others). On disk it is a folder of plain files, nothing pickled:

* ``index.json``: format, settings (model, fingerprint, window size, shingle settings), the documents' ids,
  lengths and text hashes, and the sha256 of the two other files;
* ``documents.jsonl``: ``{"id", "text"}`` per document;
* ``arrays.npz``: ``windows`` int64 ``[W, 3]`` (document, first char, end char), ``sentences`` int64 ``[S, 4]``
  (document, first char, end char, home window), ``words`` int64 ``[S]`` (words per sentence), ``signatures``
  uint32 ``[S, P]`` (datasketch's ``affine32`` MinHash), ``vectors`` float32 ``[S, D]``.

The LSH tables and the HNSW graph are rebuilt from the arrays when a search needs them.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mia.errors import MiaError
from mia.io import parse_json, write_bytes_atomic, write_jsonl
from mia.models.attention import AttentionModel
from mia.models.encoding import text_token_spans, window_sizes
from mia.progress import Progress, no_progress
from mia.search.candidates import SCHEME, CandidateOptions, signatures, word_counts
from mia.search.documents import Document, check_unique
from mia.text.corpus import split_sentences
from mia.text.windows import Window, plan_windows

FORMAT = 1
INDEX_FILE, DOCUMENTS_FILE, ARRAYS_FILE = "index.json", "documents.jsonl", "arrays.npz"
Embed = Callable[[Sequence[str]], np.ndarray]  # unit-length embeddings [n, dim] of n texts


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

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self.documents]

    def window_text(self, window: int) -> str:
        doc, start, end = self.windows[window]
        return self.documents[doc].text[start:end]

    def window_span(self, window: int) -> tuple[str, int, int]:
        """``(document id, first char, end char)`` of a window."""
        doc, start, end = self.windows[window].tolist()
        return self.documents[doc].id, start, end

    def sentence_texts(self) -> list[str]:
        return [self.documents[d].text[s:e] for d, s, e, _ in self.sentences]


def index_settings(model: AttentionModel, options: CandidateOptions) -> dict[str, Any]:
    """What an index depends on: the model (its windows and embeddings) and the shingle settings."""
    return {"model": model.name, "fingerprint": model.fingerprint,
            "window_tokens": min(window_sizes(model.tokenizer, model.architecture, model.max_length)),
            "shingle": options.shingle, "word_chars": options.word_chars, "num_perm": options.num_perm,
            "seed": options.seed, "minhash_scheme": SCHEME}


def document_units(model: AttentionModel, text: str, size: int) -> tuple[list[Window], list[tuple[int, int, int]]]:
    """A document's windows and its sentences ``(first char, end char, home window)``: the home is the window that
    holds the sentence whole with the widest margin (for a sentence longer than a window: the one overlapping most)."""
    spans = text_token_spans(model.tokenizer, text)
    sentences = split_sentences(text)
    windows = plan_windows(spans, sentences, size) if len(spans) else []
    units: list[tuple[int, int, int]] = []
    for start, end in sentences:
        if not windows:
            break
        margins = [min(start - w.char_start, w.char_end - end) if w.char_start <= start and end <= w.char_end
                   else min(end, w.char_end) - max(start, w.char_start) - 10**9 for w in windows]
        units.append((start, end, int(np.argmax(margins))))
    return windows, units


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
    known = {d.id: d.digest for d in index.documents}
    changed = [d.id for d in documents if d.id in known and known[d.id] != d.digest]
    if changed:
        raise MiaError(f"document {changed[0]!r} is in the index with another text ({len(changed)} such); "
                       "give changed documents new ids or build a new index")
    new = list(check_unique([d for d in documents if d.id not in known], "the documents"))
    if not new:
        return index, 0
    size = int(index.settings["window_tokens"])
    windows, sentences = [index.windows], [index.sentences]
    first_doc, first_window = len(index.documents), len(index.windows)
    texts: list[str] = []
    for number, document in enumerate(progress(new, "windows", len(new))):
        doc_windows, units = document_units(model, document.text, size)
        doc = first_doc + number
        windows.append(np.array([(doc, w.char_start, w.char_end) for w in doc_windows], np.int64).reshape(-1, 3))
        sentences.append(np.array([(doc, s, e, first_window + w) for s, e, w in units], np.int64).reshape(-1, 4))
        texts.extend(document.text[s:e] for s, e, _ in units)
        first_window += len(doc_windows)
    added_signatures = signatures(texts, options)
    vectors = None
    if embed is not None:
        old = index.vectors if index.vectors is not None or not len(index.sentences) else \
            embed(index.sentence_texts())
        added = embed(texts).astype(np.float32)
        vectors = added if old is None else np.concatenate([old.astype(np.float32), added])
    old_signatures = index.signatures if index.signatures is not None else np.zeros((0, options.num_perm), np.uint32)
    return replace(
        index, documents=[*index.documents, *new], windows=np.concatenate(windows), sentences=np.concatenate(sentences),
        words=np.concatenate([index.words, word_counts(texts)]),
        signatures=np.concatenate([old_signatures, added_signatures]), vectors=vectors,
    ), len(new)


# --- on disk ---------------------------------------------------------------------------------------------------


def arrays_of(index: SearchIndex) -> dict[str, np.ndarray]:
    arrays = {"windows": index.windows, "sentences": index.sentences, "words": index.words}
    if index.signatures is not None:
        arrays["signatures"] = index.signatures
    if index.vectors is not None:
        arrays["vectors"] = index.vectors
    return arrays


def save_index(index: SearchIndex, folder: str | Path) -> Path:
    """Write the index folder (each file atomically, ``index.json`` last, naming the others' hashes)."""
    folder = Path(folder)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays_of(index))  # type: ignore[arg-type]
    arrays = buffer.getvalue()
    documents = [json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) for d in index.documents]
    documents_bytes = ("\n".join(documents) + "\n").encode("utf-8") if documents else b""
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(arrays, folder / ARRAYS_FILE)
    write_bytes_atomic(documents_bytes, folder / DOCUMENTS_FILE)
    record = {"format": FORMAT, "settings": index.settings,
              "documents": [{"id": d.id, "chars": len(d.text), "sha256": d.digest} for d in index.documents],
              "windows": len(index.windows), "sentences": len(index.sentences),
              "sha256": {ARRAYS_FILE: hashlib.sha256(arrays).hexdigest(),
                         DOCUMENTS_FILE: hashlib.sha256(documents_bytes).hexdigest()}}
    write_jsonl([record], folder / INDEX_FILE)
    return folder


def is_index(folder: str | Path) -> bool:
    return (Path(folder) / INDEX_FILE).is_file()


def check_index_destination(folder: str | Path, flag: str = "--out") -> bool:
    """True when ``folder`` holds an index (to be updated); False when it is new or empty. Anything else is refused:
    mia writes into no folder it did not make."""
    path = Path(folder)
    if is_index(path):
        return True
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise MiaError(f"{flag} {path} exists and is not a mia index; give a new or empty folder")
    return False


def load_index(folder: str | Path, flag: str = "--index") -> SearchIndex:
    """Read and check an index folder (hashes, shapes); no pickle is ever loaded."""
    path = Path(folder)
    if not is_index(path):
        raise MiaError(f"{flag} {path}: not a mia index (no {INDEX_FILE}); build one with `mia index`")
    record = parse_json((path / INDEX_FILE).read_text(encoding="utf-8"), f"{flag} {path / INDEX_FILE}")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise MiaError(f"{flag} {path}: index format {record.get('format') if isinstance(record, dict) else '?'} "
                       f"is not {FORMAT}; build the index again with this mia")
    data = {name: (path / name).read_bytes() for name in (ARRAYS_FILE, DOCUMENTS_FILE)}
    for name, raw in data.items():
        if hashlib.sha256(raw).hexdigest() != record["sha256"].get(name):
            raise MiaError(f"{flag} {path}: {name} does not match {INDEX_FILE} (changed or half-written); "
                           "build the index again")
    documents = [Document(str(r["id"]), str(r["text"])) for r in _json_lines(data[DOCUMENTS_FILE], path)]
    with np.load(io.BytesIO(data[ARRAYS_FILE]), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    index = SearchIndex(record["settings"], documents, arrays["windows"], arrays["sentences"], arrays["words"],
                        arrays.get("signatures"), arrays.get("vectors"))
    if len(index.documents) != len(record["documents"]) or len(index.words) != len(index.sentences):
        raise MiaError(f"{flag} {path}: the index files disagree on their sizes; build the index again")
    return index


def _json_lines(raw: bytes, path: Path) -> Iterable[dict[str, Any]]:
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if line.strip():
            yield parse_json(line, f"{path / DOCUMENTS_FILE}:{number}")
