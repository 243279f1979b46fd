"""PAN's measures (Potthast et al. 2010) on hand-made cases: recall, precision, granularity and plagdet."""

from __future__ import annotations

import math

import pytest

from mia.evaluate.pan_measures import detects, pan_scores


def scores(cases, detections):
    result = pan_scores(cases, detections)
    return round(result.recall, 4), round(result.precision, 4), round(result.granularity, 4), round(result.plagdet, 4)


def test_an_exact_detection_scores_one():
    case = ("p", 0, 100, 0, 100)
    assert scores([case], [case]) == (1, 1, 1, 1)


def test_half_of_a_case_found():
    # 50 + 50 of 200 characters: recall 0.5; every detected character is plagiarism: precision 1
    assert scores([("p", 0, 100, 0, 100)], [("p", 0, 50, 0, 50)]) == (0.5, 1, 1, round(2 * 0.5 / 1.5, 4))


def test_a_case_found_in_two_pieces_has_granularity_two():
    expected = round(1 / math.log2(3), 4)
    assert scores([("p", 0, 100, 0, 100)], [("p", 0, 50, 0, 50), ("p", 50, 100, 50, 100)]) == (1, 1, 2, expected)


def test_a_detection_must_touch_the_case_in_both_documents():
    case = ("p", 0, 100, 0, 100)
    assert not detects(case, ("p", 0, 100, 200, 300))  # right place in A, wrong in B
    assert not detects(case, ("q", 0, 100, 0, 100))  # another document pair
    assert scores([case], [("p", 0, 100, 200, 300)]) == (0, 0, 1, 0)


def test_nothing_detected_and_nothing_to_find():
    assert scores([("p", 0, 10, 0, 10)], []) == (0, 0, 1, 0)
    assert scores([], [("p", 0, 10, 0, 10)]) == (0, 0, 1, 0)


def test_a_detection_larger_than_the_case_loses_precision_only():
    assert scores([("p", 0, 100, 0, 100)], [("p", 0, 200, 0, 200)]) == (1, 0.5, 1, round(2 * 0.5 / 1.5, 4))


def test_one_detection_over_two_cases():
    cases = [("p", 0, 100, 0, 100), ("p", 200, 300, 200, 300)]
    # recall 1; precision (100 + 100 + 100 + 100) / (300 + 300); each case detected once: granularity 1
    assert scores(cases, [("p", 0, 300, 0, 300)]) == (1, round(400 / 600, 4), 1, round(2 * (2 / 3) / (5 / 3), 4))


def test_overlapping_detections_count_their_characters_once():
    cases = [("p", 0, 100, 0, 100)]
    result = pan_scores(cases, [("p", 0, 60, 0, 60), ("p", 40, 100, 40, 100)])
    assert result.recall == pytest.approx(1.0) and result.granularity == 2 and result.precision == pytest.approx(1.0)
