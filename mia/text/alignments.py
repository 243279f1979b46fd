"""Pharaoh-format word alignments in and out.

Input, as word-alignment tools use it: two text files with one whitespace-tokenised sentence per line, and an
alignment file with one line per sentence pair holding links ``i-j`` (sure) or ``ipj`` (possible), word indices
counted from 0 (``i`` in A, ``j`` in B). Possible links may also come from a separate file (all its links are
possible). Each sentence pair becomes a pair-file record whose texts are the words joined by single spaces; a
sure link becomes a link between the two words' character spans (``links``), a possible one goes to
``possible`` (an optional field other readers may ignore). Sure links count as possible too, as in AER.

MultiMWA (Lan, Jiang and Xu, ACL 2021) keeps a set in one TSV file, a sentence pair a line: id, sentence A
(whitespace-tokenised), a placeholder, sentence B, a placeholder, two flags, sure links ``i-j``, possible links
``i-j`` (fields 1, 2, 4, 8 and 9; more fields may follow). :func:`read_multimwa` reads it into the same pairs.
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
        where = f"{alignments_path}:{index + 1}"
        sure, possible = parse_pharaoh_line(links_line, where=where)
        if possible_lines is not None:
            extra_sure, extra_possible = parse_pharaoh_line(possible_lines[index], where=f"{possible_path}:{index + 1}")
            possible += extra_sure + extra_possible
        pairs.append(aligned_pair(f"{id_prefix}{index}", a_line.split(), b_line.split(), sure, possible, where=where))
    return pairs


def aligned_pair(pair_id: str, a_words: list[str], b_words: list[str], sure: list[WordLink],
                 possible: list[WordLink], *, where: str) -> Pair:
    """The pair of two whitespace-tokenised sentences and their word links (indices from 0): texts are the words
    joined by single spaces, links the words' character spans; a sure link is not also possible-only."""
    for i, j in sure + possible:
        if i >= len(a_words) or j >= len(b_words):
            raise MiaError(
                f"{where}: link {i}-{j} is out of range: A has {len(a_words)} words and B has "
                f"{len(b_words)} words on this line (indices count from 0)"
            )
    a_spans, b_spans = _word_char_spans(a_words), _word_char_spans(b_words)

    def to_links(word_links: Iterable[WordLink]) -> tuple[Link, ...]:
        return tuple((*a_spans[i], *b_spans[j]) for i, j in sorted(set(word_links)))

    return Pair(id=pair_id, a=" ".join(a_words), b=" ".join(b_words), links=to_links(sure),
                possible=to_links(set(possible) - set(sure)))


MULTIMWA_FIELDS = 9  # id, A, -, B, -, flag, flag, sure, possible (a line may hold more, empty, fields after them)


def read_multimwa(path: str | Path, *, id_prefix: str = "") -> list[Pair]:
    """The sentence pairs of a MultiMWA TSV file (module docstring), ids ``f"{id_prefix}{its id}"``; a line with
    fewer fields, a link that is not ``i-j`` or lies outside its sentences, an empty sentence or an id given twice is
    an error naming the line."""
    lines = _read_lines(path, "--multimwa")
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.rstrip("\r").split("\t")
        if len(fields) < MULTIMWA_FIELDS:
            raise MiaError(f"{where}: {len(fields)} tab-separated fields, a MultiMWA line has at least "
                           f"{MULTIMWA_FIELDS} (id, A, -, B, -, two flags, sure links, possible links)")
        pair_id = id_prefix + fields[0].strip()
        if not fields[0].strip():
            raise MiaError(f"{where}: the id (field 1) is empty")
        if pair_id in seen:
            raise MiaError(f"{where}: the id {fields[0].strip()!r} is on line {seen[pair_id]} already")
        seen[pair_id] = number
        a_words, b_words = fields[1].split(), fields[3].split()
        if not a_words or not b_words:
            raise MiaError(f"{where}: sentence {'A (field 2)' if not a_words else 'B (field 4)'} is empty")
        sure, sure_marked_possible = parse_pharaoh_line(fields[7], where=f"{where} (sure links)")
        possible, possible_marked = parse_pharaoh_line(fields[8], where=f"{where} (possible links)")
        pairs.append(aligned_pair(pair_id, a_words, b_words, sure, sure_marked_possible + possible + possible_marked,
                                  where=where))
    if not pairs:
        raise MiaError(f"--multimwa {path}: holds no sentence pair")
    return pairs


def pharaoh_line(linked: np.ndarray | Iterable[tuple[int, int]]) -> str:
    """``i-j`` links, sorted, of a bool word-pair matrix ``[n_a_words, n_b_words]`` or of word index pairs."""
    pairs = zip(*np.nonzero(linked)) if isinstance(linked, np.ndarray) else sorted(linked)
    return " ".join(f"{i}-{j}" for i, j in pairs)
