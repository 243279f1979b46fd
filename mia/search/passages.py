"""Passages: the phrases found between two documents, merged when they lie close together on both sides.

The gap rule: two phrases of the same two documents belong to one passage when the text between them is at most
``gap`` characters **in A and in B** (overlapping phrases have a gap of 0; the order on the two sides does not
matter, so a block of shuffled sentences comes out as one passage). Passages are the connected groups of that
relation; a passage's span on each side runs from its first phrase's start to its last phrase's end. A passage is
kept when its phrases hold at least ``min_tokens`` linked tokens in all and its longest phrase at least
``min_longest`` (common short phrases, "said Gatsby", "I don't know", recur between unrelated documents).

The results file (JSONL, or Parquet when its name ends in ``.parquet``) has one record per passage, in this public
format: ``a_id``, ``a_start``, ``a_end``, ``b_id``, ``b_start``, ``b_end`` (character offsets into the documents as
read, Python string positions), ``score`` (the mean link probability of its phrases, weighted by their tokens),
``a_text``, ``b_text``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mia.io import write_bytes_atomic, write_jsonl

DEFAULT_GAP = 300
DEFAULT_MIN_TOKENS = 15
DEFAULT_MIN_LONGEST = 8
COLUMNS = ("a_id", "a_start", "a_end", "b_id", "b_start", "b_end", "score", "a_text", "b_text")
# a phrase in document coordinates: (a_start, a_end, b_start, b_end, tokens, score)
DocumentPhrase = tuple[int, int, int, int, int, float]


@dataclass(frozen=True)
class Passage:
    a_id: str
    a_start: int
    a_end: int
    b_id: str
    b_start: int
    b_end: int
    score: float
    a_text: str
    b_text: str
    tokens: int  # linked tokens of its phrases, summed
    phrases: int
    longest: int  # tokens of its longest phrase

    def to_dict(self) -> dict[str, Any]:
        """The public record (the columns of the results file)."""
        record = asdict(self)
        record["score"] = round(self.score, 4)
        return {name: record[name] for name in COLUMNS}


def gap(start: int, end: int, other_start: int, other_end: int) -> int:
    """Characters between two spans (0 when they overlap or touch)."""
    return max(0, max(start, other_start) - min(end, other_end))


def group_phrases(phrases: Sequence[DocumentPhrase], max_gap: int) -> list[list[DocumentPhrase]]:
    """The connected groups of phrases under the gap rule (module docstring), each in A order (all pairs are
    compared: the phrases of two documents are few)."""
    unique = sorted(set(phrases))
    parent = list(range(len(unique)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, p in enumerate(unique):
        for j in range(i + 1, len(unique)):
            q = unique[j]
            if gap(p[0], p[1], q[0], q[1]) <= max_gap and gap(p[2], p[3], q[2], q[3]) <= max_gap:
                parent[root(j)] = root(i)
    groups: dict[int, list[DocumentPhrase]] = {}
    for i, p in enumerate(unique):
        groups.setdefault(root(i), []).append(p)
    return list(groups.values())


def merge_passages(a_id: str, a_text: str, b_id: str, b_text: str, phrases: Sequence[DocumentPhrase], *,
                   max_gap: int = DEFAULT_GAP, min_tokens: int = DEFAULT_MIN_TOKENS,
                   min_longest: int = DEFAULT_MIN_LONGEST) -> list[Passage]:
    """The passages of two documents (texts ``a_text``, ``b_text``) from the phrases found between them."""
    passages = []
    for group in group_phrases(phrases, max_gap):
        tokens, longest = sum(p[4] for p in group), max(p[4] for p in group)
        if tokens < min_tokens or longest < min_longest:
            continue
        a0, a1 = min(p[0] for p in group), max(p[1] for p in group)
        b0, b1 = min(p[2] for p in group), max(p[3] for p in group)
        score = sum(p[4] * p[5] for p in group) / max(tokens, 1)
        passages.append(Passage(a_id, a0, a1, b_id, b0, b1, float(score), a_text[a0:a1], b_text[b0:b1], tokens,
                                len(group), longest))
    return sorted(passages, key=lambda p: (p.a_start, p.b_start))


def write_results(passages: Iterable[Passage], path: str | Path, summary: dict[str, Any]) -> int:
    """Write the passages as JSONL, or as Parquet when ``path`` ends in ``.parquet`` (the summary in the file's
    metadata under ``mia``); returns the number written."""
    records = [p.to_dict() for p in passages]
    if str(path).endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("a_id", pa.string()), ("a_start", pa.int64()), ("a_end", pa.int64()),
                            ("b_id", pa.string()), ("b_start", pa.int64()), ("b_end", pa.int64()),
                            ("score", pa.float64()), ("a_text", pa.string()), ("b_text", pa.string())],
                           metadata={"mia": json.dumps(summary)})
        table = pa.Table.from_pylist(records, schema=schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        write_bytes_atomic(sink.getvalue().to_pybytes(), path)
        return len(records)
    return write_jsonl(records, path)
