"""Planted reuse: documents made from a corpus with known reused passages, the gold standard for corpus search.

:func:`plant_reuse` cuts a corpus into ``documents`` documents of about ``words`` words (consecutive paragraphs,
in corpus order) and plants ``passages`` reused passages: 2-4 consecutive sentences of a *source* document,
shuffled, copied into a *target* document at a sentence boundary; a share of them (``noisy_share``) with words
changed by :mod:`mia.text.noise` (the evaluation rates). Sources and targets are disjoint halves of the documents,
so every source offset stays valid after planting. Gold passages are character spans in the final documents.

The gold standard of the corpus-search benchmark (``benchmarks/search_benchmark.py``, scored by
:mod:`mia.testing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mia.errors import MiaError
from mia.text.corpus import sentence_splitter, split_sentences
from mia.text.noise import EVALUATION_NOISE, Noise, corpus_vocabulary, noisy_copy_pair
from mia.text.pairs import shuffled_copy_pair


@dataclass(frozen=True)
class PlantedPassage:
    """One planted passage: ``source[source_start:source_end]`` reused as ``target[target_start:target_end]``."""

    source_id: str
    source_start: int
    source_end: int
    target_id: str
    target_start: int
    target_end: int
    noisy: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def cut_documents(paragraphs: Sequence[str], documents: int, words: int) -> list[str]:
    """``documents`` texts of at least ``words`` words each, from consecutive paragraphs (blank-line separated)."""
    texts: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in paragraphs:
        current.append(paragraph.strip())
        count += len(paragraph.split())
        if count >= words:
            texts.append("\n\n".join(current))
            current, count = [], 0
            if len(texts) == documents:
                return texts
    raise MiaError(f"the corpus holds {len(texts)} documents of {words} words, fewer than the {documents} asked for")


def plant_reuse(
    paragraphs: Sequence[str], *, documents: int, passages: int, words: int = 300, noisy_share: float = 0.5,
    seed: int = 0, noise: Noise = EVALUATION_NOISE, spacy_model: str | None = None,
) -> tuple[list[dict[str, str]], list[PlantedPassage]]:
    """Documents ``[{"id", "text"}]`` with planted passages, and the gold passages (module docstring)."""
    if documents < 2 or passages < 0:
        raise MiaError("planting needs at least 2 documents and 0 or more passages")
    rng = np.random.default_rng([seed, 11])
    texts = cut_documents(paragraphs, documents, words)
    ids = [f"d{index:05d}" for index in range(documents)]
    nlp = sentence_splitter(spacy_model)
    order = rng.permutation(documents)
    sources, targets = order[: documents // 2], order[documents // 2:]
    vocabulary = corpus_vocabulary(paragraphs)
    insertions: dict[int, list[tuple[int, str, int, int, int, bool]]] = {}  # target -> (at, text, source, s, e, noisy)
    sentences = {int(s): split_sentences(texts[s], nlp) for s in sources}
    usable = [s for s in sentences if len(sentences[s]) >= 2]
    if passages and not usable:
        raise MiaError("no source document has 2 or more sentences")
    for number in range(passages):
        source = int(usable[int(rng.integers(len(usable)))])
        spans = sentences[source]
        length = int(rng.integers(2, min(4, len(spans)) + 1))
        first = int(rng.integers(len(spans) - length + 1))
        start, end = spans[first][0], spans[first + length - 1][1]
        passage = texts[source][start:end]
        relative = [(s - start, e - start) for s, e in spans[first : first + length]]
        noisy = bool(rng.random() < noisy_share)
        copy = (noisy_copy_pair(passage, relative, rng, pair_id=str(number), noise=noise, vocabulary=vocabulary,
                                extra=[]) if noisy else shuffled_copy_pair(passage, relative, rng, pair_id=str(number)))
        if copy is None:
            raise MiaError("a passage could not be copied")
        target = int(targets[int(rng.integers(len(targets)))])
        boundaries = [0] + [e for _, e in split_sentences(texts[target], nlp)]
        insertions.setdefault(target, []).append((int(rng.choice(boundaries)), copy.a, source, start, end, noisy))
    gold: list[PlantedPassage] = []
    for target, planted in insertions.items():
        pieces, cursor, shift = [], 0, 0
        for offset, text, source, start, end, noisy in sorted(planted, key=lambda item: item[0]):
            pieces.append(texts[target][cursor:offset])
            at = offset + shift + (1 if offset else 0)
            piece = (" " if offset else "") + text + ("" if offset else " ")
            pieces.append(piece)
            gold.append(PlantedPassage(ids[source], start, end, ids[target], at, at + len(text), noisy))
            shift += len(piece)
            cursor = offset
        pieces.append(texts[target][cursor:])
        texts[target] = "".join(pieces)
    gold.sort(key=lambda p: (p.target_id, p.target_start))
    return [{"id": i, "text": t} for i, t in zip(ids, texts)], gold
