import json

import numpy as np
import pytest

from mia.alignment.detection import diagonal_runs
from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.text.pairs import Pair


def test_save_load_round_trip_keeps_predictions(trained_detector_dir, minilm, tmp_path):
    detector = Detector.load(trained_detector_dir)
    features = minilm.features(Pair("x", "The cat sat. A dog ran.", "A dog ran. The cat sat."))
    before = detector.probabilities(features)
    copy = detector.save(tmp_path / "copy")
    after = Detector.load(copy).probabilities(features)
    np.testing.assert_array_equal(before, after)
    assert Detector.load(copy).to_dict() == detector.to_dict()


def test_metadata_records_what_users_need(trained_detector_dir):
    meta = json.loads((trained_detector_dir / "detector.json").read_text())
    assert meta["model"]["name"] == "minilm" and meta["model"]["type"] == "bert"
    assert meta["features"]["count"] == 144 and meta["features"]["directions"] == ["a->b", "b->a"]
    assert 0 < meta["threshold"] < 1
    assert meta["seed"] == 0 and meta["mia_version"]
    assert set(meta["metrics"]["token_level"]) == {"detector", "same token", "run of >= 3 tokens"}
    assert {"detector", "same word", "run of >= 3 words", "greedy string tiling (>= 3)"} <= set(
        meta["metrics"]["word_level"])
    split = meta["split"]
    assert split["by"] == "pair" and not set(split["test_ids"]) & set(split["validation_ids"])
    assert "sampled negatives" in meta["imbalance"]["method"]
    assert len(meta["head_roc_auc"]) == 144


def test_detector_refuses_another_model(trained_detector_dir, tiny_bart):
    detector = Detector.load(trained_detector_dir)
    with pytest.raises(MiaError, match=r"trained on model 'minilm'.*use --model minilm"):
        detector.check_model(tiny_bart)


def test_loading_never_unpickles(trained_detector_dir, tmp_path):
    import hashlib

    target = tmp_path / "evil"
    target.mkdir()
    np.savez(target / "weights.npz", mean=np.array([object()], dtype=object), scale=np.ones(144),
             coef=np.ones(144), intercept=np.zeros(1))
    meta = json.loads((trained_detector_dir / "detector.json").read_text())
    meta["weights_sha256"] = hashlib.sha256((target / "weights.npz").read_bytes()).hexdigest()  # hash matches
    (target / "detector.json").write_text(json.dumps(meta))
    with pytest.raises(MiaError, match="unreadable detector weights.*Object arrays cannot be loaded"):
        Detector.load(target)


def test_not_a_detector_directory(tmp_path):
    with pytest.raises(MiaError, match="not a detector directory"):
        Detector.load(tmp_path)


def test_detect_finds_the_copied_sentences(trained_detector_dir, minilm):
    detector = Detector.load(trained_detector_dir)
    b = ("The global statement is a declaration which holds for the entire current code block. "
         "It means that the listed identifiers are to be interpreted as globals.")
    a = ("It means that the listed identifiers are to be interpreted as globals. "
         "The global statement is a declaration which holds for the entire current code block.")
    detection = detector.detect(minilm, a, b, min_phrase_words=3)
    longest = max(detection.phrases, key=lambda p: p.words)
    assert longest.words >= 8
    assert longest.a_text == longest.b_text
    a_words, b_words = detection.word_spans
    for link in detection.links:  # a link: two words' spans, the best of their token pairs' probabilities
        assert (link.a_start, link.a_end) == tuple(a_words[link.a_word]) and (link.b_start, link.b_end) == tuple(
            b_words[link.b_word])
        token_a, token_b = detection.token_spans[0][link.a_token], detection.token_spans[1][link.b_token]
        assert link.a_start <= token_a[0] < link.a_end and link.b_start <= token_b[0] < link.b_end
        assert link.probability == pytest.approx(float(detection.probabilities[link.a_token, link.b_token]))
    assert detection.decode == detector.decode == "mutual-argmax"  # trained with the default decoding
    # the token pairs at or above the threshold are a separate view
    assert len(detection.token_links()) == int((detection.probabilities >= detector.threshold).sum())


def test_diagonal_runs():
    linked = np.zeros((4, 4), dtype=bool)
    linked[0, 1] = linked[1, 2] = linked[2, 3] = linked[3, 0] = True
    assert diagonal_runs(linked) == [[(0, 1), (1, 2), (2, 3)], [(3, 0)]]


@pytest.mark.parametrize("name", ["minilm-reuse", "minilm-verbatim", "minilm-verbatim-context"])
def test_shipped_detectors_run_on_the_packaged_model(name, minilm):
    from mia.detector.folder import shipped_folder

    detector = Detector.load(name)  # by name, found inside the package in any install
    assert Detector.load(shipped_folder() / name).to_dict() == detector.to_dict()
    detector.check_model(minilm)
    assert detector.metadata["data"]["corpus"] == "python-reference"
    scorers = detector.metadata["metrics"]["token_level"]
    assert scorers["detector"]["average_precision"] > scorers["same token"]["average_precision"]
    words = detector.metadata["metrics"]["word_level"]
    assert words["detector"]["f1"] > words["same word"]["f1"]  # the card leads with word level
    found = detector.detect(minilm, "We stayed in. It rained all day.", "It rained all day. We stayed in.")
    assert max(phrase.words for phrase in found.phrases) >= 3


def test_context_rows_hold_diagonal_neighbours():
    import torch

    from mia.models.blocks import PairFeatures

    blocks = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # 2 heads, n_a=3, n_b=4
    features = PairFeatures(Pair("x", "", ""), np.zeros((3, 2), int), np.zeros((4, 2), int), [], [], blocks)
    rows = features.rows(np.array([0, 5, 11]), offsets=(0, -1, 1)).astype(np.float32)
    # flat 0 = (0, 0): no (-1, -1); flat 5 = (1, 1); flat 11 = (2, 3): no (3, 4)
    assert rows.tolist() == [
        [0, 12, 0, 0, 5, 17],
        [5, 17, 0, 12, 10, 22],
        [11, 23, 6, 18, 0, 0],
    ]


def test_probabilities_with_context_equal_the_row_path(small_pairs, minilm):
    from mia.heads.description import DescribeOptions
    from mia.training.training import TrainOptions
    from mia.workflow import train_detector

    detector = train_detector(minilm, small_pairs[:12], TrainOptions(seed=0, offsets=(0, -1, 1)),
                              DescribeOptions(bootstrap=0))  # no head intervals needed here
    assert detector.layout.n_features == 3 * 144
    detector.check_model(minilm)
    features = minilm.features(small_pairs[0])
    everything = np.arange(features.shape[0] * features.shape[1])
    by_rows = detector.link_probability(features.rows(everything, detector.layout.offsets)).reshape(features.shape)
    np.testing.assert_allclose(detector.probabilities(features), by_rows, atol=2e-3)
    fast = next(detector.iter_detect(minilm, [small_pairs[0]]))
    np.testing.assert_allclose(fast.probabilities, detector.probabilities(features), atol=1e-5)


def test_fast_detection_equals_detection_from_features(trained_detector_dir, minilm, small_pairs):
    from mia.alignment.detection import decoded

    detector = Detector.load(trained_detector_dir)
    pairs = small_pairs[:3]
    fast = list(detector.iter_detect(minilm, pairs, batch_size=2))
    for pair, found in zip(pairs, fast):
        features = minilm.features(pair)
        from_features = decoded(pair, detector.probabilities(features), (features.a_spans, features.b_spans),
                                threshold=detector.threshold, decode=detector.decode)
        np.testing.assert_allclose(found.probabilities, from_features.probabilities, atol=1e-5)
        assert [link.to_list()[:4] for link in found.links] == [link.to_list()[:4] for link in from_features.links]
        assert [(p.a_start, p.a_end, p.b_start, p.b_end, p.words) for p in found.phrases] == [
            (p.a_start, p.a_end, p.b_start, p.b_end, p.words) for p in from_features.phrases]
        assert [p.score for p in found.phrases] == pytest.approx([p.score for p in from_features.phrases], abs=1e-5)


PARAPHRASES = [  # written for this test (whitespace words; links counted from 0), none from MultiMWA
    ("The company purchased three new buildings last year .", "Last year the firm bought three new buildings .",
     [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7), (6, 0), (7, 1), (8, 8)]),
    ("She was unable to attend the meeting on Monday .", "She could not come to Monday 's meeting .",
     [(0, 0), (1, 1), (2, 1), (2, 2), (3, 3), (4, 3), (5, 5), (6, 7), (8, 5), (9, 8)]),
    ("Prices rose sharply after the storm damaged the harvest .",
     "After the storm hurt the crops , prices went up fast .",
     [(0, 7), (1, 8), (1, 9), (2, 10), (3, 0), (4, 1), (5, 2), (6, 3), (7, 4), (8, 5), (9, 11)]),
    ("The minister said the talks would resume next week .", "Talks will start again next week , the minister said .",
     [(0, 7), (1, 8), (2, 9), (4, 0), (5, 1), (6, 2), (6, 3), (7, 4), (8, 5), (9, 10)]),
]


def test_the_shipped_alignment_detector_links_rephrased_words(minilm):
    """minilm-align (trained on MTRef's human alignments) finds most links of four hand-aligned paraphrases, and far
    more of them than the verbatim detector, which links only the words that are the same."""
    from mia.evaluate.evaluation import WordCounts, word_counts
    from mia.text.alignments import aligned_pair
    from mia.text.pairs import token_labels

    pairs = [aligned_pair(f"p{i}", a.split(), b.split(), links, [], where="test")
             for i, (a, b, links) in enumerate(PARAPHRASES)]
    measured = {}
    for name in ("minilm-align", "minilm-reuse"):
        detector, totals = Detector.load(name), WordCounts()
        detector.check_model(minilm)
        for pair in pairs:
            found = detector.detect(minilm, pair.a, pair.b, words="whitespace")
            a_words, b_words, _ = found.word_scores()
            sure = token_labels(pair, a_words, b_words)
            totals.add(word_counts(found.word_links(), sure, sure))
        measured[name] = totals.metrics(with_aer=False)
    align = Detector.load("minilm-align")
    assert align.card.relation == "paraphrase word alignment" and align.decode == "mutual-argmax"
    assert measured["minilm-align"]["f1"] >= 0.8 and measured["minilm-align"]["precision"] >= 0.85
    assert measured["minilm-align"]["recall"] >= measured["minilm-reuse"]["recall"] + 0.2
