"""Corpora: paragraphs of text, read from plain text or JSONL, and split into sentences with spaCy.

A corpus file is either plain text with paragraphs separated by blank lines, or JSONL (``.jsonl``) with one
object per line holding a ``text`` field. The default corpus ships inside the package: the prose paragraphs of
the Python language reference (``mia/data/python_reference.txt``, built by ``scripts/build_default_corpus.py``
from CPython's ``pydoc_data``; Python documentation, PSF License).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mia.errors import MiaError
from mia.io import parse_json, read_text

DEFAULT_CORPUS_NAME = "python-reference"
LONG_PARAGRAPH = 100_000  # characters: longer texts go to spaCy in pieces (its limit is 1,000,000, E088)


def default_corpus_path() -> Path:
    """Path of the corpus that ships with mia (prose of the Python language reference)."""
    return Path(str(resources.files("mia") / "data" / "python_reference.txt"))


def read_paragraphs(path: str | Path | None = None) -> list[str]:
    """Read the paragraphs of a corpus file (plain text or ``.jsonl``); ``None`` reads the default corpus.

    Whitespace inside a paragraph is collapsed to single spaces; empty paragraphs are dropped.
    """
    path = default_corpus_path() if path is None else Path(path)
    if not path.is_file():
        raise MiaError(f"corpus file not found: {path} (give a plain-text or .jsonl file with --corpus)")
    raw = read_text(path, f"corpus {path}")
    if path.suffix == ".jsonl":
        texts = _jsonl_texts(raw, path)
    else:
        texts = re.split(r"\n[ \t]*\n", raw)
    paragraphs = [" ".join(text.split()) for text in texts]
    paragraphs = [p for p in paragraphs if p]
    if not paragraphs:
        raise MiaError(f"{path}: the corpus holds no text")
    return paragraphs


def _jsonl_texts(raw: str, path: Path) -> list[str]:
    texts = []
    for number, line in enumerate(raw.split("\n"), start=1):  # "\n" only: U+2028 may sit inside a text
        if not line.strip():
            continue
        record: Any = parse_json(line, f"{path}:{number}")
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise MiaError(f'{path}:{number}: each line must be an object with a string "text" field')
        texts.append(record["text"])
    return texts


@lru_cache(maxsize=4)
def sentence_splitter(spacy_model: str | None = None) -> Any:
    """A spaCy pipeline that sets sentence boundaries.

    ``None`` gives a blank English pipeline with the rule-based ``sentencizer`` (works offline, no download);
    a name such as ``en_core_web_sm`` loads that installed pipeline.
    """
    import spacy

    if spacy_model is None:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        return nlp
    try:
        return spacy.load(spacy_model)
    except OSError:
        raise MiaError(
            f"spaCy pipeline {spacy_model!r} is not installed; install it or leave out --spacy-model "
            "to use the built-in rule-based sentencizer"
        ) from None


def split_sentences(paragraph: str, nlp: Any = None) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``paragraph``, surrounding whitespace excluded.

    Texts of any length are taken (longer ones go to spaCy in pieces, see :func:`long_text_sentences`).
    """
    nlp = sentence_splitter() if nlp is None else nlp
    if len(paragraph) > LONG_PARAGRAPH:
        return long_text_sentences(paragraph, nlp)
    return sentence_spans(nlp(paragraph))


def sentence_spans(doc: Any) -> list[tuple[int, int]]:
    """Character spans of the sentences of a parsed spaCy ``Doc``, surrounding whitespace excluded."""
    spans = []
    for sentence in doc.sents:
        text = sentence.text
        start = sentence.start_char + len(text) - len(text.lstrip())
        end = sentence.start_char + len(text.rstrip())
        if end > start:
            spans.append((start, end))
    return spans


def long_text_sentences(text: str, nlp: Any = None, *, piece: int = LONG_PARAGRAPH) -> list[tuple[int, int]]:
    """Sentence spans of a text of any length: spaCy takes it in pieces of at most ``piece`` characters.

    A piece ends after the last sentence-final mark (``.``, ``!``, ``?`` and a space) before the limit, else at
    the last whitespace, else at the limit; its spans are shifted back to positions in ``text``.
    """
    nlp = sentence_splitter() if nlp is None else nlp
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(start + piece, len(text))
        if end < len(text):
            window = text[start:end]
            cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
            cut = cut + 1 if cut > 0 else window.rfind(" ")
            end = start + cut if cut > 0 else end
        spans.extend((start + a, start + b) for a, b in sentence_spans(nlp(text[start:end])))
        start = end
    return spans
