"""The checks of a search index's arrays against its documents (:mod:`mia.search.index_file` reads, these check).

Each raises :class:`IndexFileError` naming the file and what lies outside where it must lie.
"""

from __future__ import annotations

import numpy as np

from mia.errors import MiaError
from mia.search.collection import Document


class IndexFileError(MiaError):
    """An index folder that is damaged, tampered with or written by another tool."""


def check_spans(arrays: dict[str, np.ndarray], documents: list[Document], where: str) -> None:
    """Windows and sentences lie inside their documents; a sentence's home window is of its own document."""
    lengths = np.array([len(d.text) for d in documents] + [0], np.int64)
    windows, sentences = arrays["windows"], arrays["sentences"]
    for key, rows in (("windows", windows), ("sentences", sentences)):
        if not len(rows):
            continue
        doc, start, end = rows[:, 0], rows[:, 1], rows[:, 2]
        inside = (doc >= 0) & (doc < len(documents))
        bad = ~inside | (start < 0) | (end < start) | (end > lengths[np.where(inside, doc, len(documents))])
        if bad.any():
            raise IndexFileError(f"{where}: {key} row {int(np.argmax(bad))} lies outside its document")
    if len(sentences):
        home = sentences[:, 3]
        valid = (home >= 0) & (home < len(windows))
        if not valid.all() or (windows[home, 0] != sentences[:, 0]).any():
            raise IndexFileError(f"{where}: a sentence's home window is not a window of its document")
    if (arrays["words"] < 0).any():
        raise IndexFileError(f"{where}: array 'words' holds negative counts")


def check_tokens(arrays: dict[str, np.ndarray], documents: list[Document], where: str) -> None:
    """Each document's tokens lie in the token arrays and inside its text; each window is a range of its document's
    tokens that starts and ends where its characters do."""
    bounds, spans, windows = arrays["document_tokens"], arrays["token_spans"], arrays["windows"]
    n_tokens = len(arrays["token_ids"])
    if len(bounds) and ((bounds[:, 0] < 0) | (bounds[:, 1] < bounds[:, 0]) | (bounds[:, 1] > n_tokens)).any():
        raise IndexFileError(f"{where}: document_tokens point outside the token arrays")
    for number, (first_token, end_token) in enumerate(bounds.tolist()):
        part = spans[first_token:end_token]
        length = len(documents[number].text)
        if len(part) and ((part[:, 0] < 0) | (part[:, 1] < part[:, 0]) | (part[:, 1] > length)).any():
            raise IndexFileError(f"{where}: a token of document {documents[number].id!r} lies outside its text")
    if not len(windows):
        return
    doc = windows[:, 0]
    first, last = arrays["window_tokens"][:, 0], arrays["window_tokens"][:, 1]
    counts = bounds[doc, 1] - bounds[doc, 0]
    if ((first < 0) | (last <= first) | (last > counts)).any():
        raise IndexFileError(f"{where}: window_tokens point outside their documents' tokens")
    head, tail = bounds[doc, 0] + first, bounds[doc, 0] + last - 1
    if (spans[head, 0] != windows[:, 1]).any() or (spans[tail, 1] != windows[:, 2]).any():
        raise IndexFileError(f"{where}: window_tokens do not cover the windows' characters")
