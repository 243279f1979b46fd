"""Where a detector's training pairs come from, recorded the same way from the shell and from a notebook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mia.text.corpus import DEFAULT_CORPUS_NAME, read_paragraphs
from mia.text.pairs import Pair, generate_pairs, read_pairs

SHUFFLED_RELATION = "verbatim copy (sentence-shuffled paragraphs)"


@dataclass
class TrainingData:
    """Training pairs with their provenance.

    ``record``: what ``detector.json`` keeps under ``data`` (source, corpus or pair file, generation counts);
    ``relation``: the relation the links mark, unless the caller names one; ``name``: a short name for the
    detector's default folder (``verbatim``, or the pair file's stem).
    """

    pairs: list[Pair]
    record: dict[str, Any] = field(default_factory=dict)
    relation: str = "links of the given pairs"
    name: str = "pairs"


def generated_data(
    corpus: str | Path | None = None, *, seed: int = 0, limit: int | None = None, spacy_model: str | None = None,
    n_jobs: int = 1,
) -> TrainingData:
    """Shuffled-copy pairs generated from a corpus (``None``: the packaged one)."""
    pairs, summary = generate_pairs(read_paragraphs(corpus), seed=seed, limit=limit, spacy_model=spacy_model,
                                    n_jobs=n_jobs)
    record = {"source": "generated shuffled-sentence copies", "corpus": str(corpus or DEFAULT_CORPUS_NAME),
              "seed": seed, "generation": summary.to_dict()}
    return TrainingData(pairs, record, relation=SHUFFLED_RELATION, name="verbatim")


def pair_file_data(path: str | Path, *, limit: int | None = None) -> TrainingData:
    """The pairs of a pair file (the first ``limit`` of them)."""
    pairs = read_pairs(path)[:limit]
    return TrainingData(pairs, {"source": "pair file", "pairs_file": str(path)},
                        relation=f"links of {Path(path).name}", name=Path(path).stem)


def given_pairs(pairs: Sequence[Pair] | TrainingData) -> TrainingData:
    """Pairs handed over directly (a notebook): recorded as such."""
    if isinstance(pairs, TrainingData):
        return pairs
    return TrainingData(list(pairs), {"source": "pairs given to train_detector"})
