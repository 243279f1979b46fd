"""A detector's card: the typed view of its record's sections, one place for their keys and defaults."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mia.alignment.decoding import ARGMAX_FLOOR
from mia.alignment.passages import PassageRule
from mia.detector.card import DetectorCard, passage_rule
from mia.detector.detector import Detector


def test_a_record_without_sections_reads_as_the_defaults():
    card = DetectorCard.from_metadata({})
    assert card.decode == "threshold" and card.passage_rule == PassageRule() and card.document_floor == ARGMAX_FLOOR
    assert card.fitted_hashes == frozenset() and card.test_ids == () and card.head_roc_auc is None


@given(st.integers(1, 10_000), st.integers(1, 500), st.integers(1, 500), st.integers(1, 50), st.integers(1, 50))
def test_a_passage_rule_reads_back_from_its_record(gap, min_words, min_longest, min_phrase, min_outside):
    rule = PassageRule(gap, min_words, min_longest, min_phrase, min_outside)
    assert passage_rule(rule.to_dict()) == rule
    assert passage_rule({}) == PassageRule()


def test_the_shipped_detector_card():
    detector = Detector.load("minilm-reuse")
    card = detector.card
    assert card.decode == "mutual-argmax" and detector.decode == card.decode
    assert card.passage_rule == PassageRule(gap=200, min_words=20, min_longest=5, min_phrase=3, min_outside=7)
    assert len(card.test_ids) == 63 and card.fitted_hashes and not set(card.test_ids) & card.fitted_hashes
    assert card.data["windowed_pairs"] >= 0 and card.metrics["word_level"]["detector"]["f1"] > 0.9
