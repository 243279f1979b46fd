"""The search index on disk: one validated record, generations switched by one rename, nothing pickled.

A folder holds ``index.json`` (the manifest) and the two data files of its *generation*:
``arrays.<generation>.npz`` and ``documents.<generation>.jsonl`` (format 1 indexes named them ``arrays.npz`` and
``documents.jsonl``; they are still read). An update writes a new generation's data files beside the old ones,
then ``index.json`` naming them, renamed into place: that rename is the switch. A failure, a full disk or SIGTERM
at any step before it leaves the previous ``index.json`` naming the previous files, untouched; only after it are the
previous generation's files removed. Writers hold an exclusive lock on the folder, readers a shared one, and an
update that finds the index changed since it was read (another run added documents meanwhile) is refused.

Everything read is checked, with the file and the field named: ``index.json`` field by field (:class:`IndexRecord`),
the data files against their SHA-256 in it, each document's text against its own SHA-256 and length, and every array
for its dtype, shape and range (windows inside their documents, sentences inside theirs with a home window of the
same document).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mia.errors import MiaError
from mia.io import folder_lock, parse_json, read_bytes_capped, write_bytes_atomic
from mia.search.collection import Document
from mia.search.collection_candidates import INDEX_SETTING_RANGES, SCHEME
from mia.search.index_checks import IndexFileError, check_spans, check_tokens

FORMAT = 2
READABLE = (1, 2)
INDEX_FILE = "index.json"
_DATA_NAME = re.compile(r"^(arrays|documents)(\.[0-9a-f]{16})?\.(npz|jsonl)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# a temporary file of an update that was killed before it could remove it (mia.io.atomic_file names them so)
_LEFTOVER = re.compile(r"^\.(arrays\.[0-9a-f]{16}\.npz|documents\.[0-9a-f]{16}\.jsonl|index\.json)\.[a-z0-9_]{8}\.tmp$")
# name -> (type, smallest, largest): what the search settings of an index may hold
SETTINGS: dict[str, tuple[type, int, int]] = {
    "window_tokens": (int, 1, 10**6), **{name: (int, *bounds) for name, bounds in INDEX_SETTING_RANGES.items()},
    "seed": (int, 0, 2**32 - 1),
}


@dataclass(frozen=True)
class DocumentEntry:
    id: str
    chars: int
    sha256: str


@dataclass(frozen=True)
class IndexRecord:
    """What ``index.json`` holds, validated: the settings, the documents, the sizes, the data files and hashes."""

    format: int
    settings: dict[str, Any]
    documents: tuple[DocumentEntry, ...]
    windows: int
    sentences: int
    arrays_file: str
    documents_file: str
    sha256: dict[str, str]

    @classmethod
    def from_json(cls, data: Any, where: str) -> IndexRecord:
        if not isinstance(data, dict):
            raise IndexFileError(f"{where}: expected a JSON object")
        version: Any = data.get("format")
        if not _is_int(version) or version not in READABLE:
            raise IndexFileError(f"{where}: field 'format' is {version!r}; this mia reads index formats "
                                 f"{', '.join(map(str, READABLE))}: build the index again with `mia index`")
        settings = data.get("settings")
        if not isinstance(settings, dict):
            raise IndexFileError(f"{where}: field 'settings' must be an object")
        for key in ("model", "fingerprint"):
            if not isinstance(settings.get(key), str) or not settings[key]:
                raise IndexFileError(f"{where}: field 'settings.{key}' must be a non-empty string")
        for key, (_, low, high) in SETTINGS.items():
            value: Any = settings.get(key)
            if not _is_int(value) or not low <= value <= high:
                raise IndexFileError(f"{where}: field 'settings.{key}' must be a whole number from {low} to {high}, "
                                     f"got {value!r}")
        if settings.get("minhash_scheme", SCHEME) != SCHEME:
            raise IndexFileError(f"{where}: field 'settings.minhash_scheme' must be {SCHEME!r}")
        entries = data.get("documents")
        if not isinstance(entries, list):
            raise IndexFileError(f"{where}: field 'documents' must be a list")
        documents = tuple(_entry(entry, f"{where}: documents[{n}]") for n, entry in enumerate(entries))
        if len({d.id for d in documents}) != len(documents):
            raise IndexFileError(f"{where}: field 'documents' names a document id twice")
        counts = {}
        for key in ("windows", "sentences"):
            value = data.get(key)
            if not _is_int(value) or value < 0:
                raise IndexFileError(f"{where}: field '{key}' must be a whole number from 0, got {value!r}")
            counts[key] = int(value)
        files = data.get("files", {"arrays": "arrays.npz", "documents": "documents.jsonl"} if version == 1 else None)
        if not isinstance(files, dict) or set(files) != {"arrays", "documents"}:
            raise IndexFileError(f"{where}: field 'files' must name the 'arrays' and 'documents' files")
        for key, name in files.items():
            match = _DATA_NAME.match(name) if isinstance(name, str) else None
            if match is None or match[1] != key:
                raise IndexFileError(f"{where}: field 'files.{key}' is {name!r}, not a data file name of an index")
        digests = data.get("sha256")
        if not isinstance(digests, dict) or any(not isinstance(digests.get(n), str) or not _SHA256.match(digests[n])
                                                 for n in files.values()):
            raise IndexFileError(f"{where}: field 'sha256' must hold the SHA-256 of {files['arrays']} and "
                                 f"{files['documents']}")
        return cls(int(version), dict(settings), documents, counts["windows"], counts["sentences"],
                   files["arrays"], files["documents"], {n: digests[n] for n in files.values()})

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "settings": self.settings,
                "documents": [{"id": d.id, "chars": d.chars, "sha256": d.sha256} for d in self.documents],
                "windows": self.windows, "sentences": self.sentences,
                "files": {"arrays": self.arrays_file, "documents": self.documents_file}, "sha256": self.sha256}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(entry: Any, where: str) -> DocumentEntry:
    if not isinstance(entry, dict):
        raise IndexFileError(f"{where}: expected an object with id, chars and sha256")
    doc_id: Any = entry.get("id")
    chars: Any = entry.get("chars")
    digest: Any = entry.get("sha256")
    if not isinstance(doc_id, str) or not doc_id:
        raise IndexFileError(f"{where}: field 'id' must be a non-empty string")
    if not _is_int(chars) or chars < 0:
        raise IndexFileError(f"{where}: field 'chars' must be a whole number from 0")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise IndexFileError(f"{where}: field 'sha256' must be a SHA-256 in hex")
    return DocumentEntry(doc_id, int(chars), digest)


# --- the data files ---------------------------------------------------------------------------------------------


@dataclass
class IndexData:
    """An index as read from disk: the record, the documents, the arrays, and a token of the manifest read (an
    update checks the folder still holds it)."""

    record: IndexRecord
    documents: list[Document]
    arrays: dict[str, np.ndarray]
    state: str | None


def arrays_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def documents_bytes(documents: list[Document]) -> bytes:
    lines = [json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) for d in documents]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def manifest_state(folder: Path) -> str | None:
    """The SHA-256 of the folder's ``index.json`` now (None: there is none)."""
    try:
        return hashlib.sha256((folder / INDEX_FILE).read_bytes()).hexdigest()
    except OSError:
        return None


def write_generation(folder: Path, settings: dict[str, Any], documents: list[Document],
                     arrays: dict[str, np.ndarray], *, expected_state: str | None) -> None:
    """Write a new generation and switch ``index.json`` to it (module docstring). ``expected_state``: the manifest
    the update started from (None for a new index); if the folder holds another one now, nothing is written."""
    generation = secrets.token_hex(8)
    arrays_name, documents_name = f"arrays.{generation}.npz", f"documents.{generation}.jsonl"
    arrays_data, documents_data = arrays_bytes(arrays), documents_bytes(documents)
    record = IndexRecord(
        FORMAT, settings, tuple(DocumentEntry(d.id, len(d.text), d.digest) for d in documents),
        len(arrays["windows"]), len(arrays["sentences"]), arrays_name, documents_name,
        {arrays_name: hashlib.sha256(arrays_data).hexdigest(),
         documents_name: hashlib.sha256(documents_data).hexdigest()})
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder, exclusive=True):
        if manifest_state(folder) != expected_state:
            raise MiaError(f"{folder} was changed by another run while this one worked (its index.json is not the "
                           "one read); nothing was written: run the command again")
        previous = _data_files(folder)
        written: list[Path] = []
        try:
            for name, data in ((arrays_name, arrays_data), (documents_name, documents_data)):
                written.append(folder / name)
                write_bytes_atomic(data, folder / name)
            write_bytes_atomic((json.dumps(record.to_json(), indent=1) + "\n").encode("utf-8"), folder / INDEX_FILE)
        except BaseException:
            for path in written:  # the switch did not happen: the new generation's files go, the old index stays
                path.unlink(missing_ok=True)
            raise
        for path in previous:  # the switch happened: the files of earlier generations are no longer named
            if path.name not in (arrays_name, documents_name):
                path.unlink(missing_ok=True)
        _remove_leftovers(folder)


def tidy_generation(folder: Path, *, expected_state: str | None) -> None:
    """Remove what killed updates left in ``folder`` (temporary files, data files no ``index.json`` names) when the
    index is still the one read (``expected_state``); an update that adds nothing calls this instead of writing."""
    with folder_lock(folder, exclusive=True):
        if expected_state is None or manifest_state(folder) != expected_state:
            return
        try:
            raw = read_bytes_capped(folder / INDEX_FILE, str(folder / INDEX_FILE)).decode("utf-8")
            record = IndexRecord.from_json(parse_json(raw, INDEX_FILE), INDEX_FILE)
        except (MiaError, UnicodeDecodeError):
            return  # not an index this mia reads: nothing in it is touched
        named = {record.arrays_file, record.documents_file}
        for path in _data_files(folder):
            if path.name not in named:
                path.unlink(missing_ok=True)
        _remove_leftovers(folder)


def _remove_leftovers(folder: Path) -> None:
    """Remove the temporary files of killed updates (only names :func:`mia.io.atomic_file` gives the index's own
    files); called under the exclusive lock, when no other update can be writing."""
    for path in folder.iterdir():
        if _LEFTOVER.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)


def _data_files(folder: Path) -> list[Path]:
    """The data files of any generation in ``folder`` (names only mia gives)."""
    return [path for path in folder.iterdir() if _DATA_NAME.match(path.name) and path.is_file()]


def read_generation(folder: Path, flag: str) -> IndexData:
    """Read and check the index in ``folder`` (module docstring)."""
    where = f"{flag} {folder}"
    with folder_lock(folder, exclusive=False):
        raw = read_bytes_capped(folder / INDEX_FILE, f"{where}: {INDEX_FILE}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise IndexFileError(f"{where}: {INDEX_FILE} is not UTF-8 (byte {error.start})") from None
        record = IndexRecord.from_json(parse_json(text, f"{where}: {INDEX_FILE}"), f"{where}: {INDEX_FILE}")
        data = {}
        for name in (record.arrays_file, record.documents_file):
            try:
                data[name] = read_bytes_capped(folder / name, f"{where}: {name}")
            except MiaError:
                raise IndexFileError(f"{where}: {name}, named by {INDEX_FILE}, is missing or unreadable; build the "
                                     "index again") from None
            if hashlib.sha256(data[name]).hexdigest() != record.sha256[name]:
                raise IndexFileError(f"{where}: {name} does not match {INDEX_FILE} (changed or damaged); build the "
                                     "index again")
    documents = _documents(data[record.documents_file], record, where)
    arrays = _arrays(data[record.arrays_file], record, documents, where)
    return IndexData(record, documents, arrays, hashlib.sha256(raw).hexdigest())


def _documents(raw: bytes, record: IndexRecord, where: str) -> list[Document]:
    name = record.documents_file
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise IndexFileError(f"{where}: {name} is not UTF-8 (byte {error.start})") from None
    documents = []
    for number, line in enumerate(text.split("\n"), start=1):  # "\n" only: U+2028 may sit inside a text
        if not line.strip():
            continue
        item = parse_json(line, f"{where}: {name}:{number}")
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("text"), str):
            raise IndexFileError(f"{where}: {name}:{number}: expected an object with a string id and text")
        documents.append(Document(item["id"], item["text"]))
    if [d.id for d in documents] != [d.id for d in record.documents]:
        raise IndexFileError(f"{where}: {name} does not hold the documents {INDEX_FILE} lists")
    for document, entry in zip(documents, record.documents):
        if len(document.text) != entry.chars or document.digest != entry.sha256:
            raise IndexFileError(f"{where}: the text of document {document.id!r} does not match its SHA-256 in "
                                 f"{INDEX_FILE}; build the index again")
    return documents


def _arrays(raw: bytes, record: IndexRecord, documents: list[Document], where: str) -> dict[str, np.ndarray]:
    name = record.arrays_file
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key]) for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError) as error:  # a pickled (object) array is a ValueError
        raise IndexFileError(f"{where}: {name} is not readable ({type(error).__name__}: {error})") from None
    n_windows, n_sentences = record.windows, record.sentences
    num_perm = record.settings["num_perm"]
    n_tokens = len(arrays["token_ids"]) if "token_ids" in arrays and arrays["token_ids"].ndim == 1 else None
    expected = {"windows": ("i", (n_windows, 3)), "sentences": ("i", (n_sentences, 4)), "words": ("i", (n_sentences,)),
                "signatures": ("u", (n_sentences, num_perm)), "vectors": ("f", (n_sentences, None)),
                "token_ids": ("i", (None,)), "token_spans": ("i", (n_tokens, 2)),
                "document_tokens": ("i", (len(documents), 2)), "window_tokens": ("i", (n_windows, 2))}
    tokens = ("token_ids", "token_spans", "document_tokens", "window_tokens")
    if any(key in arrays for key in tokens) and not all(key in arrays for key in tokens):
        raise IndexFileError(f"{where}: {name} holds some of the arrays {', '.join(tokens)} but not all")
    for key, (kind, shape) in expected.items():
        if key not in arrays:
            if key in ("windows", "sentences", "words"):
                raise IndexFileError(f"{where}: {name} lacks the array {key!r}")
            continue
        array = arrays[key]
        fits = array.ndim == len(shape) and all(s is None or a == s for a, s in zip(array.shape, shape))
        if array.dtype.kind != kind or not fits:
            raise IndexFileError(f"{where}: {name}: array {key!r} is {array.dtype} {array.shape}, expected "
                                 f"{kind} {tuple('any' if s is None else s for s in shape)}")
    for key in ("windows", "sentences", "words", *tokens):
        if key in arrays:
            arrays[key] = arrays[key].astype(np.int64)
    if "signatures" in arrays:
        arrays["signatures"] = arrays["signatures"].astype(np.uint32)
    if "vectors" in arrays:
        vectors = arrays["vectors"].astype(np.float32)
        if not np.isfinite(vectors).all():
            raise IndexFileError(f"{where}: {name}: array 'vectors' holds NaN or infinite values")
        arrays["vectors"] = vectors
    check_spans(arrays, documents, f"{where}: {name}")
    if "token_ids" in arrays:
        check_tokens(arrays, documents, f"{where}: {name}")
    return arrays
