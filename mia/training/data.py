"""Where a detector's training pairs come from, recorded the same way from the shell and from a notebook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mia.detector.card import DetectorCard
from mia.errors import MiaError
from mia.text.corpus import DEFAULT_CORPUS_NAME, read_paragraphs
from mia.text.noise import EVALUATION_NOISE, Noise, mixed_copier, noisy_copier
from mia.text.pairs import Pair, generate_pairs, generated_paragraph, pair_hash, plant_in_documents, read_pairs

Copies = Literal["shuffled", "noisy", "mixed"]
DOCUMENT_WORDS = 400  # words of unrelated paragraphs on each side of a pair planted in documents
SHUFFLED_RELATION = "verbatim copy (sentence-shuffled paragraphs)"
RELATIONS: dict[str, str] = {
    "shuffled": SHUFFLED_RELATION,
    "noisy": "verbatim copy (sentence-shuffled, words substituted, deleted, inserted and swapped)",
    "mixed": "verbatim copy (sentence-shuffled paragraphs, half of them with words changed)",
}


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
    n_jobs: int = 1, copies: Copies = "shuffled", noise: Noise = EVALUATION_NOISE, documents: float = 0.0,
    document_words: int = DOCUMENT_WORDS,
) -> TrainingData:
    """Copy pairs generated from a corpus (``None``: the packaged one): ``shuffled`` sentence copies, ``noisy``
    ones (:mod:`mia.text.noise`, with ``noise``), or ``mixed`` (even paragraphs shuffled, odd ones noisy).

    ``documents``: the share of the pairs (chosen at random, seeded) whose copy and paragraph are each put inside
    about ``document_words`` words of unrelated paragraphs (:func:`~mia.text.pairs.plant_in_documents`): document
    pairs with one reused passage, longer than the model, so that training sees window pairs with nothing copied."""
    if copies not in RELATIONS:
        raise MiaError(f"unknown kind of copies {copies!r}: use shuffled, noisy or mixed")
    if not 0.0 <= documents <= 1.0:
        raise MiaError(f"--documents is a share of the pairs, from 0 to 1; got {documents}")
    if document_words < 1:
        raise MiaError(f"--document-words must be at least 1; got {document_words}")
    paragraphs = read_paragraphs(corpus)
    copier = {"shuffled": None, "noisy": noisy_copier, "mixed": mixed_copier}[copies]
    pairs, summary = generate_pairs(paragraphs, seed=seed, limit=limit, spacy_model=spacy_model, n_jobs=n_jobs,
                                    copier=None if copier is None else copier(paragraphs, noise))
    record: dict[str, Any] = {"source": f"generated {copies} copies", "corpus": str(corpus or DEFAULT_CORPUS_NAME),
                              "seed": seed, "copies": copies, "generation": summary.to_dict()}
    if copies != "shuffled":
        record["noise"] = noise.to_dict()
    if documents:
        rng = np.random.default_rng([seed, 12])
        chosen = set(rng.permutation(len(pairs))[: round(documents * len(pairs))].tolist())
        pairs = [plant_in_documents(pair, paragraphs, generated_paragraph(pair.id),
                                    np.random.default_rng([seed, 13, k]), words=document_words)
                 if k in chosen else pair for k, pair in enumerate(pairs)]
        record["documents"] = {"share": documents, "pairs": len(chosen), "words": document_words,
                               "rule": "copy and paragraph each put among unrelated paragraphs of the corpus"}
    return TrainingData(pairs, record, relation=RELATIONS[copies], name="verbatim" if copies == "shuffled" else copies)


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


def held_out_pairs(metadata: dict[str, Any]) -> list[Pair]:
    """A detector's own test pairs, made again from its recorded data (generated again from the recorded corpus,
    seed, copies and noise, or read again from the recorded pair file), checked by content hash: none was fitted
    or tuned on. Raises :class:`MiaError` (saying to give ``--pairs``) when they cannot be made again."""
    return pairs_made_again(metadata, "test", hint="; give held-out pairs with --pairs")


def validation_pairs(metadata: dict[str, Any]) -> list[Pair]:
    """A detector's own validation pairs (its threshold was chosen on them: what else is tuned for it is tuned on
    them too), made again like :func:`held_out_pairs` and checked to be among the pairs it records as tuned on."""
    return pairs_made_again(metadata, "validation")


def pairs_made_again(metadata: dict[str, Any], part: Literal["test", "validation"], *, hint: str = "") -> list[Pair]:
    """The pairs of one part of a detector's split (``split.test_ids`` or ``split.validation_ids``), made again
    from its record and checked by content hash: test pairs must not be, validation pairs must be among those it
    records as fitted or tuned on."""
    card = DetectorCard.from_metadata(metadata)
    ids = card.test_ids if part == "test" else card.validation_ids
    if not ids:
        raise MiaError(f"the detector records no {part} pairs" + hint)
    by_id = {pair.id: pair for pair in recorded_pairs(metadata, hint)}
    tuned = card.fitted_hashes
    chosen = [by_id[i] for i in ids if i in by_id and (pair_hash(by_id[i]) in tuned) == (part == "validation")]
    if len(chosen) < len(ids):
        raise MiaError(f"the detector's {part} pairs made again differ from those it recorded" + hint)
    return chosen


def recorded_pairs(metadata: dict[str, Any], hint: str = "") -> list[Pair]:
    """Every pair a detector's training data held, made again from its record (see :func:`held_out_pairs`)."""
    data = DetectorCard.from_metadata(metadata).data
    source = str(data.get("source", ""))
    if source.startswith("generated "):
        corpus = data.get("corpus")
        corpus_path = None if corpus in (None, DEFAULT_CORPUS_NAME) else Path(str(corpus))
        if corpus_path is not None and not corpus_path.is_file():
            raise MiaError(f"the detector's corpus {corpus} is not here to make its pairs again" + hint)
        documents = data.get("documents") or {}
        made = generated_data(corpus_path, seed=int(data.get("seed", 0)),
                              limit=int((data.get("generation") or {}).get("pairs", 0)) or None,
                              copies=data.get("copies", "shuffled"), noise=Noise(**data.get("noise", {})),
                              documents=float(documents.get("share", 0.0)),
                              document_words=int(documents.get("words", DOCUMENT_WORDS)))
        return made.pairs
    if source == "pair file" and Path(str(data.get("pairs_file"))).is_file():
        return read_pairs(data["pairs_file"])
    raise MiaError("the detector's training pairs cannot be made again here" + hint)
