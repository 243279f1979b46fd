"""Head-type scores on pairs with gold links: MiniLM's copy heads, the cross-attention case, dominant types."""

from __future__ import annotations

import math

import numpy as np

from mia.models.head_patterns import PATTERNS, dominant_type, pattern_scores
from mia.text.pairs import Pair


def copy_pair(text: str) -> Pair:
    """A pair whose B is A: every token is linked to its copy."""
    return Pair("same", text, text, links=[(0, len(text), 0, len(text))])


TEXT = "The quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat near the door."


def test_minilm_copy_heads_are_the_probe_and_detector_heads(minilm):
    scores = pattern_scores(minilm, [minilm.encode(copy_pair(TEXT))]).means()
    assert set(scores) == {"a->b", "b->a"} and set(scores["a->b"]) == set(PATTERNS)
    for direction in ("a->b", "b->a"):
        copy = scores[direction]["copy"]
        assert np.unravel_index(np.nanargmax(copy), copy.shape) in {(2, 9), (1, 1)}
        for pattern, values in scores[direction].items():
            assert values.shape == (6, 12) and np.isfinite(values).all(), pattern
            assert (values >= 0).all() and (values <= 1 + 1e-5).all()
        # previous-token heads exist within a text (L0H2 is one); retrieval is a share of rows
        assert scores[direction]["previous token"].max() > 0.5
    assert scores["a->b"]["retrieval"][2, 9] > scores["a->b"]["retrieval"].mean()


def test_a_pair_without_links_is_not_counted(minilm):
    result = pattern_scores(minilm, [minilm.encode(Pair("none", "one two three", "four five six"))])
    assert result.pairs == 0 and result.means() == {}


def test_cross_attention_has_no_within_text_scores(tiny_bart):
    scores = pattern_scores(tiny_bart, [tiny_bart.encode(copy_pair(TEXT))]).means()
    assert set(scores) == {"cross"}
    assert np.isnan(scores["cross"]["previous token"]).all() and np.isnan(scores["cross"]["self"]).all()
    assert np.isfinite(scores["cross"]["copy"]).all() and np.isfinite(scores["cross"]["sink"]).all()


def test_dominant_type():
    assert dominant_type({"copy": 0.3, "duplicate": 0.31, "sink": 0.2}) == "copy"
    assert dominant_type({"copy": 0.1, "duplicate": 0.3, "sink": 0.2}) == "duplicate"
    assert dominant_type({"copy": 0.01, "duplicate": 0.02, "sink": 0.6, "retrieval": 0.9}) == "sink"
    assert dominant_type({"copy": 0.01, "previous token": 0.05}) == "diffuse"
    assert dominant_type({"copy": math.nan, "self": 0.4}) == "self"


def test_head_types_read_in_the_feature_pass_equal_their_own_pass(minilm, small_pairs):
    """Training's test pairs run once for their sampled rows and head types together: the rows are those of the
    pass without the reader, the scores those of ``pattern_scores`` on the pairs that fit whole (a pair longer
    than the model gives rows from its window pairs and no scores)."""
    from mia.alignment.windowed import plan_pair
    from mia.models.head_patterns import PatternScores, pattern_reader
    from mia.text.pairs import generate_pairs
    from mia.training.sampling import Sampling
    from mia.training.training import sampled_features

    long_text = " ".join(pair.b for pair in small_pairs[:12])
    (long,), _ = generate_pairs([long_text], seed=0, id_prefix="long")
    planned = [plan_pair(minilm, pair, candidates="all") for pair in [*small_pairs[:3], long]]
    assert [p.whole is None for p in planned] == [False, False, False, True]

    def rows(also=None):
        return sampled_features(minilm, planned, sampling=Sampling(), rng=np.random.default_rng(5), also=also)

    alone = rows()
    together = PatternScores(minilm.layout.layers, minilm.layout.heads)
    shared = rows(pattern_reader(minilm, together))
    assert np.array_equal(alone.features, shared.features) and np.array_equal(alone.labels, shared.labels)
    assert np.array_equal(alone.weights, shared.weights) and np.array_equal(alone.pairs, shared.pairs)
    own = pattern_scores(minilm, [p.whole for p in planned[:3]])
    assert together.pairs == own.pairs == 3 and together.rows == own.rows
    for direction, patterns in own.means().items():
        for pattern, values in patterns.items():
            assert np.array_equal(together.means()[direction][pattern], values, equal_nan=True), pattern


def test_a_detectors_probabilities_read_in_the_feature_pass_equal_its_own_pass(minilm, small_pairs):
    """Training evaluates its test pairs with the probabilities taken in the pass that describes the heads: for each
    pair that fits whole they are the scorer's, bit for bit; the head types and rows are unchanged by the second
    reader; a pair longer than the model gives none (evaluate runs its windows itself)."""
    from mia.alignment.windowed import plan_pair
    from mia.detector.detector import Detector
    from mia.detector.folder import shipped_folder
    from mia.models.blocks import joined_readers
    from mia.models.head_patterns import PatternScores, pattern_reader
    from mia.text.pairs import generate_pairs
    from mia.training.sampling import Sampling
    from mia.training.training import sampled_features

    detector = Detector.load(shipped_folder() / "minilm-reuse")  # 9 offsets: every head sum is read
    long_text = " ".join(pair.b for pair in small_pairs[:12])
    (long,), _ = generate_pairs([long_text], seed=0, id_prefix="long")
    planned = [plan_pair(minilm, pair, candidates="all") for pair in [*small_pairs[3:5], long]]
    offsets = detector.layout.offsets

    def rows(also=None):
        return sampled_features(minilm, planned, sampling=Sampling(), rng=np.random.default_rng(5), also=also,
                                offsets=offsets)

    alone, types_alone = rows(), PatternScores(minilm.layout.layers, minilm.layout.heads)
    rows(pattern_reader(minilm, types_alone))
    taken: dict[str, np.ndarray] = {}
    types = PatternScores(minilm.layout.layers, minilm.layout.heads)
    shared = rows(joined_readers(pattern_reader(minilm, types), detector.probability_reader(minilm, taken)))
    assert np.array_equal(alone.features, shared.features) and np.array_equal(alone.labels, shared.labels)
    assert types.pairs == types_alone.pairs == 2 and types.rows == types_alone.rows
    assert np.array_equal(types.means()["a->b"]["duplicate"], types_alone.means()["a->b"]["duplicate"], equal_nan=True)
    assert sorted(taken) == sorted(p.pair.id for p in planned[:2])
    scorer = detector.window_scorer(minilm)
    for item in planned[:2]:
        assert np.array_equal(taken[item.pair.id], scorer([item.whole])[0])
