"""The documents a search reads: a folder of ``.txt`` files (the id is the file name without ``.txt``) or a JSONL
file with ``id`` and ``text`` on each line.

Texts are kept exactly as stored (no newline translation, nothing stripped), so that the character offsets a
search reports index the original documents: Python string positions, that is Unicode code points.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mia.errors import MiaError
from mia.io import iter_text_lines, parse_json, read_text


@dataclass(frozen=True)
class Document:
    id: str
    text: str

    @property
    def digest(self) -> str:
        """sha256 of the text (an index checks that a document it holds has not changed)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def read_documents(path: str | Path, *, flag: str = "--docs") -> list[Document]:
    """The documents in ``path`` (a folder of ``.txt`` files or a JSONL file), in id order; ids must be unique."""
    path = Path(path)
    if path.is_dir():
        documents = [_text_file(file, flag) for file in sorted(path.glob("*.txt")) if file.is_file()]
        if not documents:
            raise MiaError(f"{flag} {path}: the folder holds no .txt file")
    elif path.is_file():
        documents = list(_jsonl_documents(path, flag))
        if not documents:
            raise MiaError(f"{flag} {path}: the file holds no document")
    else:
        raise MiaError(f"{flag} {path}: no such folder or file")
    return sorted(check_unique(documents, f"{flag} {path}"), key=lambda d: d.id)


def check_unique(documents: Sequence[Document], where: str) -> Sequence[Document]:
    seen: set[str] = set()
    for document in documents:
        if not document.id:
            raise MiaError(f"{where}: a document has an empty id; every document needs one")
        if document.id in seen:
            raise MiaError(f"{where}: document id {document.id!r} appears twice; ids must be unique")
        seen.add(document.id)
    return documents


def _text_file(file: Path, flag: str) -> Document:
    return Document(file.name[: -len(".txt")], read_text(file, f"{flag} {file}", translate_newlines=False))


def _jsonl_documents(path: Path, flag: str) -> Iterable[Document]:
    for number, line in iter_text_lines(path, f"{flag} {path}"):
        if not line.strip():
            continue
        where = f"{flag} {path}:{number}"
        record = parse_json(line, where)
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise MiaError(f"{where}: each line must be a JSON object with a string \"text\" and an \"id\"")
        doc_id = record.get("id")
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or str(doc_id) == "":
            raise MiaError(f"{where}: \"id\" must be a non-empty string or an integer")
        yield Document(str(doc_id), record["text"])
