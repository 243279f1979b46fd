"""The results of a search: one record per passage, in a public format, as JSONL or Parquet.

A passage (found by :mod:`mia.alignment.passages`'s gap rule and filter, as ``detect`` finds them between two
documents) is written as ``a_id``, ``a_start``, ``a_end``, ``b_id``, ``b_start``, ``b_end`` (character offsets into
the documents as read, Python string positions), ``score`` (the mean link probability of its phrases, weighted by
their linked words), ``a_text``, ``b_text``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mia.io import write_bytes_atomic, write_jsonl

COLUMNS = ("a_id", "a_start", "a_end", "b_id", "b_start", "b_end", "score", "a_text", "b_text")


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
    words: int  # linked words of its phrases, summed
    phrases: int
    longest: int  # linked words of its longest phrase

    def to_dict(self) -> dict[str, Any]:
        """The public record (the columns of the results file)."""
        record = asdict(self)
        record["score"] = round(self.score, 4)
        return {name: record[name] for name in COLUMNS}


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
