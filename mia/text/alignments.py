"""Pharaoh-format word alignments in and out.

Input, as word-alignment tools use it: two text files with one whitespace-tokenised sentence per line, and an
alignment file with one line per sentence pair holding links ``i-j`` (sure) or ``ipj`` (possible), word indices
counted from 0 (``i`` in A, ``j`` in B). Possible links may also come from a separate file (all its links are
possible). Each sentence pair becomes a pair-file record whose texts are the words joined by single spaces; a
sure link becomes a link between the two words' character spans (``links``), a possible one goes to
``possible`` (an optional field other readers may ignore). Sure links count as possible too, as in AER.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mia.errors import MiaError
from mia.io import read_text
from mia.text.pairs import Link, Pair

_LINK = re.compile(r"^(\d+)([-p])(\d+)$")
WordLink = tuple[int, int]


def parse_pharaoh_line(line: str, *, where: str) -> tuple[list[WordLink], list[WordLink]]:
    """Sure and possible ``(i, j)`` links of one alignment line."""
    sure: list[WordLink] = []
    possible: list[WordLink] = []
    for item in line.split():
        match = _LINK.match(item)
        if match is None:
            raise MiaError(f"{where}: {item!r} is not a link i-j (sure) or ipj (possible) with indices from 0")
        i, kind, j = int(match.group(1)), match.group(2), int(match.group(3))
        (sure if kind == "-" else possible).append((i, j))
    return sure, possible


def _read_lines(path: str | Path, flag: str) -> list[str]:
    """The file's lines, split at line ends only (a U+2028 or U+0085 inside a sentence does not start a new one)."""
    text = read_text(path, f"{flag} {path}")
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") or not text else lines


def _word_char_spans(words: list[str]) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for word in words:
        spans.append((cursor, cursor + len(word)))
        cursor += len(word) + 1
    return spans


def import_alignments(
    a_path: str | Path,
    b_path: str | Path,
    alignments_path: str | Path,
    *,
    possible_path: str | Path | None = None,
    id_prefix: str = "s",
) -> list[Pair]:
    """Read a Pharaoh alignment set into pairs (one per sentence pair, ids ``f"{id_prefix}{line}"``)."""
    a_lines = _read_lines(a_path, "--a")
    b_lines = _read_lines(b_path, "--b")
    alignment_lines = _read_lines(alignments_path, "--alignments")
    possible_lines = _read_lines(possible_path, "--possible") if possible_path else None
    counts = {"--a": len(a_lines), "--b": len(b_lines), "--alignments": len(alignment_lines)}
    if possible_lines is not None:
        counts["--possible"] = len(possible_lines)
    if len(set(counts.values())) != 1:
        raise MiaError("the files must have one line per sentence pair, but they have " +
                       ", ".join(f"{flag} {n} lines" for flag, n in counts.items()))
    if not a_lines:
        raise MiaError(f"--a {a_path}, --b {b_path} and --alignments {alignments_path} hold no sentence pairs")
    pairs = []
    for index, (a_line, b_line, links_line) in enumerate(zip(a_lines, b_lines, alignment_lines)):
        a_words, b_words = a_line.split(), b_line.split()
        where = f"{alignments_path}:{index + 1}"
        sure, possible = parse_pharaoh_line(links_line, where=where)
        if possible_lines is not None:
            extra_sure, extra_possible = parse_pharaoh_line(possible_lines[index], where=f"{possible_path}:{index + 1}")
            possible += extra_sure + extra_possible
        for i, j in sure + possible:
            if i >= len(a_words) or j >= len(b_words):
                raise MiaError(
                    f"{where}: link {i}-{j} is out of range: A has {len(a_words)} words and B has "
                    f"{len(b_words)} words on this line (indices count from 0)"
                )
        a_spans, b_spans = _word_char_spans(a_words), _word_char_spans(b_words)

        def to_links(word_links: Iterable[WordLink]) -> tuple[Link, ...]:
            return tuple((*a_spans[i], *b_spans[j]) for i, j in sorted(set(word_links)))

        pairs.append(Pair(
            id=f"{id_prefix}{index}", a=" ".join(a_words), b=" ".join(b_words),
            links=to_links(sure), possible=to_links(set(possible) - set(sure)),
        ))
    return pairs


def pharaoh_line(linked: np.ndarray | Iterable[tuple[int, int]]) -> str:
    """``i-j`` links, sorted, of a bool word-pair matrix ``[n_a_words, n_b_words]`` or of word index pairs."""
    pairs = zip(*np.nonzero(linked)) if isinstance(linked, np.ndarray) else sorted(linked)
    return " ".join(f"{i}-{j}" for i, j in pairs)
