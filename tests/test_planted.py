"""Planted reuse: the gold passages point at the planted text, sources at their original sentences."""

from __future__ import annotations

import pytest

from mia.errors import MiaError
from mia.text.corpus import read_paragraphs
from mia_testkit import plant_reuse


def test_planted_passages_are_where_the_gold_says():
    documents, gold = plant_reuse(read_paragraphs(), documents=12, passages=10, words=120, noisy_share=0.5, seed=3)
    texts = {d["id"]: d["text"] for d in documents}
    assert len(documents) == 12 and len(gold) == 10
    assert {p.noisy for p in gold} == {True, False}
    for passage in gold:
        source = texts[passage.source_id][passage.source_start:passage.source_end]
        planted = texts[passage.target_id][passage.target_start:passage.target_end]
        assert passage.source_id != passage.target_id and source and planted
        assert planted != source  # shuffled (and maybe edited), never the original order
        if not passage.noisy:  # a shuffled copy: the same sentences, in another order
            assert sorted(planted.split()) == sorted(source.split())
        else:  # a third of the words changed: most still there
            shared = set(planted.split()) & set(source.split())
            assert len(shared) >= 0.4 * len(set(source.split()))
    sources = {p.source_id for p in gold}
    assert not sources & {p.target_id for p in gold}  # sources are never planted into
    again, gold_again = plant_reuse(read_paragraphs(), documents=12, passages=10, words=120, seed=3)
    assert again == documents and gold_again == gold  # reproducible with the seed


def test_too_few_documents():
    with pytest.raises(MiaError, match="fewer than"):
        plant_reuse(read_paragraphs()[:3], documents=5, passages=1, words=300)
