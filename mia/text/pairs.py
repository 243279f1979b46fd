"""Text pairs with character-span links: the pair file format, the shuffled-copy generator, token labels.

Pair file (JSONL), one object per line::

    {"id": str, "a": str, "b": str, "links": [[a_start, a_end, b_start, b_end], ...]}

A link joins the character span ``a[a_start:a_end]`` to ``b[b_start:b_end]`` (end exclusive).

Token labels (the gold rule), for a token ``a_i`` of A and ``b_j`` of B, each taken as the characters it
covers in its text with surrounding whitespace left out (so byte-level BPE's leading space does not count):

* verbatim link (both spans hold the same string): the spans correspond character by character, and
  ``a_i``/``b_j`` are linked when some character of ``a_i`` inside the link is the copy of some character
  of ``b_j``. The same word elsewhere in B, outside the copied span, is not linked.
* any other link: every token overlapping the A span is linked to every token overlapping the B span.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mia.errors import MiaError
from mia.io import iter_text_lines, parse_json, printable, write_jsonl
from mia.text.corpus import LONG_PARAGRAPH, long_text_sentences, sentence_spans, sentence_splitter
from mia.workers import cap_workers

Link = tuple[int, int, int, int]
Span = tuple[int, int]


@dataclass(frozen=True)
class Pair:
    """Two texts and the character-span links between them."""

    id: str
    a: str
    b: str
    links: tuple[Link, ...] = field(default_factory=tuple)
    possible: tuple[Link, ...] = field(default_factory=tuple)  # optional "possible" links (alignment sets)
    phrases: tuple[Link, ...] = field(default_factory=tuple)  # optional gold phrase span pairs (copied sentences)
    names: tuple[str, str] | None = None  # optional names of the two documents (file names; PAN output uses them)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id, "a": self.a, "b": self.b, "links": [list(link) for link in self.links]
        }
        if self.possible:
            record["possible"] = [list(link) for link in self.possible]
        if self.phrases:
            record["phrases"] = [list(link) for link in self.phrases]
        if self.names:
            record["names"] = list(self.names)
        return record

    @classmethod
    def from_dict(cls, record: Any, *, where: str = "pair") -> Pair:
        """Validate one pair-file record; errors name ``where`` (e.g. ``file.jsonl:12``)."""
        if not isinstance(record, dict):
            raise MiaError(f"{where}: expected a JSON object with id, a, b and links")
        for key in ("a", "b"):
            if not isinstance(record.get(key), str):
                raise MiaError(f'{where}: "{key}" must be a string')
        pair_id = record.get("id")
        if isinstance(pair_id, bool) or not isinstance(pair_id, (str, int)):
            raise MiaError(f'{where}: "id" must be a string')
        names = record.get("names")
        if names is not None and (not isinstance(names, list) or len(names) != 2
                                  or not all(isinstance(n, str) and n.strip() for n in names)):
            raise MiaError(f'{where}: "names" must be two non-empty strings (the documents\' names)')
        a, b = record["a"], record["b"]
        links = _parse_links(record.get("links", []), a, b, where=where, key="links")
        possible = _parse_links(record.get("possible", []), a, b, where=where, key="possible")
        phrases = _parse_links(record.get("phrases", []), a, b, where=where, key="phrases")
        return cls(id=str(pair_id), a=a, b=b, links=links, possible=possible, phrases=phrases,
                   names=None if names is None else (names[0], names[1]))


def _parse_links(raw_links: Any, a: str, b: str, *, where: str, key: str) -> tuple[Link, ...]:
    if not isinstance(raw_links, list):
        raise MiaError(f'{where}: "{key}" must be a list of [a_start, a_end, b_start, b_end]')
    links = []
    for link in raw_links:
        if (
            not isinstance(link, list)
            or len(link) != 4
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in link)
        ):
            raise MiaError(f"{where}: link {link!r} is not [a_start, a_end, b_start, b_end] (integers)")
        a_start, a_end, b_start, b_end = link
        if a_start > a_end or b_start > b_end:
            raise MiaError(f"{where}: link {link} ends before it starts (a link is [a_start, a_end, b_start, b_end])")
        if not (0 <= a_start <= a_end <= len(a)) or not (0 <= b_start <= b_end <= len(b)):
            raise MiaError(f"{where}: link {link} lies outside the texts (len(a)={len(a)}, len(b)={len(b)})")
        links.append((a_start, a_end, b_start, b_end))
    return tuple(links)


def pair_hash(pair: Pair) -> str:
    """A short hash of a pair's two texts (ids aside), to recognise the pairs a detector was trained on."""
    return hashlib.sha1(f"{pair.a}\0{pair.b}".encode()).hexdigest()[:16]


def iter_pairs(path: str | Path) -> Iterator[Pair]:
    """Read a pair file lazily, validating each line; a bad line raises :class:`MiaError` naming it.

    Pair ids must be unique in a file (output and the training split are keyed by id): a repeated id is an
    error naming both lines.
    """
    path = Path(path)
    if not path.is_file():
        raise MiaError(f"pair file not found: {path}")
    seen: dict[str, int] = {}
    for number, line in iter_text_lines(path, str(path)):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        pair = Pair.from_dict(parse_json(line, where), where=where)
        if pair.id in seen:
            raise MiaError(f"{where}: pair id {printable(pair.id)!r} repeats line {seen[pair.id]}; ids must be unique")
        seen[pair.id] = number
        yield pair


def read_pairs(path: str | Path) -> list[Pair]:
    """Read and validate a whole pair file."""
    pairs = list(iter_pairs(path))
    if not pairs:
        raise MiaError(f"{path}: the pair file holds no pairs")
    return pairs


def write_pairs(pairs: Iterable[Pair], path: str | Path) -> int:
    """Write pairs in the pair-file format; returns the number written."""
    return write_jsonl((pair.to_dict() for pair in pairs), path)


# --- generator -----------------------------------------------------------------------------------------


def shuffled_copy_pair(
    paragraph: str, sentences: Sequence[Span], rng: np.random.Generator, *, pair_id: str
) -> Pair | None:
    """Pair a paragraph (B) with a copy whose sentences are shuffled (A); ``None`` under 2 sentences.

    The order of A is never the original order. A joins the sentences with single spaces. One link per
    sentence joins its span in A to its span in B.
    """
    if len(sentences) < 2:
        return None
    order = np.arange(len(sentences))
    while np.array_equal(order, np.arange(len(sentences))):
        order = rng.permutation(len(sentences))
    pieces, links, cursor = [], [], 0
    for index in order.tolist():
        start, end = sentences[index]
        pieces.append(paragraph[start:end])
        links.append((cursor, cursor + end - start, start, end))
        cursor += end - start + 1
    return Pair(id=pair_id, a=" ".join(pieces), b=paragraph, links=tuple(links))


Copier = Callable[[str, Sequence[Span], np.random.Generator, str, int], "Pair | None"]
"""Makes the pair of one paragraph: ``(paragraph, sentence spans, random stream, pair id, paragraph index)``."""


def shuffled_copier(paragraph: str, sentences: Sequence[Span], rng: np.random.Generator, pair_id: str,
                    index: int) -> Pair | None:
    """The default :data:`Copier`: :func:`shuffled_copy_pair`."""
    return shuffled_copy_pair(paragraph, sentences, rng, pair_id=pair_id)


@dataclass
class GenerationSummary:
    paragraphs: int = 0
    pairs: int = 0
    skipped_single_sentence: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "paragraphs": self.paragraphs,
            "pairs": self.pairs,
            "skipped_single_sentence": self.skipped_single_sentence,
        }


def generate_pairs(
    paragraphs: Sequence[str],
    *,
    seed: int = 0,
    limit: int | None = None,
    id_prefix: str = "p",
    spacy_model: str | None = None,
    n_jobs: int = 1,
    copier: Copier | None = None,
) -> tuple[list[Pair], GenerationSummary]:
    """Make copy pairs from paragraphs, reproducibly for a ``seed`` (shuffled copies unless ``copier`` says
    otherwise, e.g. :func:`mia.text.noise.noisy_copier`).

    Each paragraph gets its own random stream (seeded with ``(seed, index)``), so the pairs do not depend on
    ``n_jobs``. Paragraph ``k`` gives the pair ``f"{id_prefix}{k}"``. ``limit`` caps the number of pairs, and
    sentence splitting stops once it is reached. ``n_jobs`` worker processes split sentences, capped at the
    cores available (:func:`mia.workers.cap_workers`).
    """
    make_pair = copier or shuffled_copier
    if limit is not None and limit < 1:
        raise MiaError("--limit must be at least 1")
    n_jobs = cap_workers(n_jobs)
    summary = GenerationSummary()
    pairs: list[Pair] = []
    first = 0
    while first < len(paragraphs) and (limit is None or len(pairs) < limit):
        size = _SPLIT_CHUNK * n_jobs
        if limit is not None:  # split no more paragraphs than the limit can still use (some have 1 sentence)
            size = min(size, 2 * (limit - len(pairs)) + 8)
        chunk = paragraphs[first : first + size]
        spans = _sentence_spans(chunk, spacy_model=spacy_model, n_jobs=n_jobs)
        for index, (paragraph, sentences) in enumerate(zip(chunk, spans), start=first):
            if limit is not None and len(pairs) >= limit:
                break
            summary.paragraphs += 1
            rng = np.random.default_rng([seed, index])
            pair = make_pair(paragraph, sentences, rng, f"{id_prefix}{index}", index)
            if pair is None:
                summary.skipped_single_sentence += 1
            else:
                pairs.append(pair)
        first += len(chunk)
    summary.pairs = len(pairs)
    return pairs, summary


def generated_paragraph(pair_id: str, id_prefix: str = "p") -> int:
    """The index of the paragraph a generated pair was made from, read off its id (``f"{id_prefix}{k}"``, as
    :func:`generate_pairs` names it); -1 for any other id (:func:`plant_in_documents`: no paragraph of its own)."""
    rest = pair_id[len(id_prefix) :] if pair_id.startswith(id_prefix) else ""
    return int(rest) if rest.isascii() and rest.isdigit() else -1


def plant_in_documents(
    pair: Pair, paragraphs: Sequence[str], own: int, rng: np.random.Generator, *, words: int = 400
) -> Pair:
    """The copy pair ``pair`` (B: paragraph ``own`` of ``paragraphs``, A: its copy) as a passage reused between two
    documents: A's copy is put between unrelated paragraphs, B's paragraph too, each document about ``words`` words
    around the passage, at a random paragraph boundary. The links (and ``possible``, ``phrases``) move with the texts,
    so most token pairs of the result are "nothing here": the two documents share no other paragraph.

    Host paragraphs are drawn from ``paragraphs`` other than ``own`` (-1: none excluded), A's and B's disjoint."""
    others = np.delete(np.arange(len(paragraphs)), own) if 0 <= own < len(paragraphs) else np.arange(len(paragraphs))
    order = rng.permutation(others).tolist()

    def hosts() -> list[str]:
        chosen: list[str] = []
        count = 0
        while count < words and order:
            text = paragraphs[order.pop()].strip()
            if text:
                chosen.append(text)
                count += len(text.split())
        return chosen

    def place(text: str, host: list[str]) -> tuple[str, int]:
        at = int(rng.integers(len(host) + 1))
        before = "\n\n".join(host[:at])
        offset = len(before) + (2 if at else 0)
        return "\n\n".join([*host[:at], text, *host[at:]]), offset

    a, a_shift = place(pair.a, hosts())
    b, b_shift = place(pair.b, hosts())

    def moved(links: tuple[Link, ...]) -> tuple[Link, ...]:
        return tuple((a0 + a_shift, a1 + a_shift, b0 + b_shift, b1 + b_shift) for a0, a1, b0, b1 in links)

    return Pair(id=pair.id, a=a, b=b, links=moved(pair.links), possible=moved(pair.possible),
                phrases=moved(pair.phrases), names=pair.names)


_SPLIT_CHUNK = 256  # paragraphs split per worker before the limit is checked again


def _sentence_spans(
    paragraphs: Sequence[str], *, spacy_model: str | None, n_jobs: int
) -> list[list[Span]]:
    if n_jobs == 1 or len(paragraphs) < 200:
        return _split_chunk(list(paragraphs), spacy_model)
    from joblib import Parallel, delayed

    size = -(-len(paragraphs) // n_jobs)
    chunks = [list(paragraphs[i : i + size]) for i in range(0, len(paragraphs), size)]
    results = Parallel(n_jobs=n_jobs)(delayed(_split_chunk)(chunk, spacy_model) for chunk in chunks)
    return [spans for chunk in results for spans in chunk]


def _split_chunk(paragraphs: list[str], spacy_model: str | None) -> list[list[Span]]:
    nlp = sentence_splitter(spacy_model)
    short = [p for p in paragraphs if len(p) <= LONG_PARAGRAPH]
    parsed = iter(nlp.pipe(short, batch_size=256))
    return [sentence_spans(next(parsed)) if len(p) <= LONG_PARAGRAPH else long_text_sentences(p, nlp)
            for p in paragraphs]


# --- token labels --------------------------------------------------------------------------------------


def token_labels(
    pair: Pair, a_spans: np.ndarray, b_spans: np.ndarray
) -> np.ndarray:
    """Gold labels of every token pair under the rule in the module docstring.

    ``a_spans``: int array ``[n_a, 2]`` of character spans in ``pair.a`` (whitespace stripped);
    ``b_spans``: ``[n_b, 2]`` in ``pair.b``. Returns bool ``[n_a, n_b]``.
    """
    labels = np.zeros((len(a_spans), len(b_spans)), dtype=bool)
    a_start, a_end = a_spans[:, 0], a_spans[:, 1]
    b_start, b_end = b_spans[:, 0], b_spans[:, 1]
    a_nonempty, b_nonempty = a_end > a_start, b_end > b_start
    for la, ra, lb, rb in pair.links:
        in_a = a_nonempty & (a_start < ra) & (a_end > la)
        if not in_a.any():
            continue
        if pair.a[la:ra] == pair.b[lb:rb]:
            shift = lb - la
            lo = np.maximum(a_start[in_a], la) + shift  # the copy, in B, of each A token's part in the link
            hi = np.minimum(a_end[in_a], ra) + shift
            hits = b_nonempty[None, :] & (b_start[None, :] < hi[:, None]) & (b_end[None, :] > lo[:, None])
            labels[np.flatnonzero(in_a)] |= hits
        else:
            in_b = b_nonempty & (b_start < rb) & (b_end > lb)
            labels[np.ix_(in_a, in_b)] = True
    return labels
