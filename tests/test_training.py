import json

import pytest

from mia.detector.training import TrainOptions, split_pairs
from mia.errors import MiaError
from mia.text.pairs import Pair


def test_split_is_by_pair_and_reproducible(small_pairs):
    split = split_pairs(small_pairs, TrainOptions(seed=1))
    ids = [{p.id for p in part} for part in (split.train, split.validation, split.test)]
    assert sum(len(s) for s in ids) == len(small_pairs)
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert split_pairs(small_pairs, TrainOptions(seed=1)).to_dict() == split.to_dict()
    assert split_pairs(small_pairs, TrainOptions(seed=2)).to_dict() != split.to_dict()


def test_split_needs_enough_unique_pairs():
    with pytest.raises(MiaError, match="at least 3 pairs"):
        split_pairs([Pair("a", "x", "y")], TrainOptions())
    with pytest.raises(MiaError, match="unique"):
        split_pairs([Pair("a", "x", "y")] * 5, TrainOptions())


def test_detector_beats_same_token_on_held_out_pairs(trained_detector_dir):
    scorers = json.loads((trained_detector_dir / "detector.json").read_text())["metrics"]["scorers"]
    assert scorers["detector"]["average_precision"] > scorers["same token"]["average_precision"] + 0.1
    assert scorers["detector"]["roc_auc"] > 0.95
