import json

import numpy as np
import pytest

from mia.detector.detection import diagonal_runs
from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.text.pairs import Pair


def test_save_load_round_trip_keeps_predictions(trained_detector_dir, minilm, tmp_path):
    detector = Detector.load(trained_detector_dir)
    features = minilm.features(Pair("x", "The cat sat. A dog ran.", "A dog ran. The cat sat."))
    before = detector.predict_proba(features.features)
    copy = detector.save(tmp_path / "copy")
    after = Detector.load(copy).predict_proba(features.features)
    np.testing.assert_array_equal(before, after)
    assert Detector.load(copy).to_dict() == detector.to_dict()


def test_metadata_records_what_users_need(trained_detector_dir):
    meta = json.loads((trained_detector_dir / "detector.json").read_text())
    assert meta["model"]["name"] == "minilm" and meta["model"]["type"] == "bert"
    assert meta["features"]["count"] == 144 and meta["features"]["directions"] == ["a->b", "b->a"]
    assert 0 < meta["threshold"] < 1
    assert meta["seed"] == 0 and meta["mia_version"]
    assert set(meta["metrics"]["scorers"]) == {"detector", "same token", "run of >= 3 tokens"}
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
    detection = detector.detect(minilm, a, b, min_phrase_tokens=3)
    longest = max(detection.phrases, key=lambda p: p.tokens)
    assert longest.tokens >= 8
    assert longest.a_text == longest.b_text
    for link in detection.links:  # spans are the tokens' own, the probability is the matrix's and passes the threshold
        assert a[link.a_start : link.a_end] == a[slice(*detection.token_spans[0][link.a_index])]
        assert b[link.b_start : link.b_end] == b[slice(*detection.token_spans[1][link.b_index])]
        assert link.probability == pytest.approx(float(detection.probabilities[link.a_index, link.b_index]))
        assert link.probability >= detector.threshold
    assert len(detection.links) == int((detection.probabilities >= detector.threshold).sum())


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
    scorers = detector.metadata["metrics"]["scorers"]
    assert scorers["detector"]["average_precision"] > scorers["same token"]["average_precision"]
    found = detector.detect(minilm, "We stayed in. It rained all day.", "It rained all day. We stayed in.")
    assert max(phrase.tokens for phrase in found.phrases) >= 3


def test_context_rows_hold_diagonal_neighbours():
    import torch

    from mia.models.attention import PairFeatures

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
    from mia.detector.training import TrainOptions, train_detector

    detector = train_detector(minilm, small_pairs[:12], TrainOptions(seed=0, offsets=(0, -1, 1)))
    assert detector.layout.n_features == 3 * 144
    detector.check_model(minilm)
    features = minilm.features(small_pairs[0])
    everything = np.arange(features.shape[0] * features.shape[1])
    by_rows = detector.link_probability(features.rows(everything, detector.layout.offsets)).reshape(features.shape)
    np.testing.assert_allclose(detector.probabilities(features), by_rows, atol=2e-3)
    fast = next(detector.iter_detect(minilm, [small_pairs[0]]))
    np.testing.assert_allclose(fast.probabilities, detector.probabilities(features), atol=1e-5)


def test_fast_detection_equals_detection_from_features(trained_detector_dir, minilm, small_pairs):
    detector = Detector.load(trained_detector_dir)
    pairs = small_pairs[:3]
    fast = list(detector.iter_detect(minilm, pairs, batch_size=2))
    for pair, found in zip(pairs, fast):
        from_features = detector.detect_features(minilm.features(pair))
        np.testing.assert_allclose(found.probabilities, from_features.probabilities, atol=1e-5)
        assert [link.to_list()[:4] for link in found.links] == [link.to_list()[:4] for link in from_features.links]
        assert [(p.a_start, p.a_end, p.b_start, p.b_end, p.tokens) for p in found.phrases] == [
            (p.a_start, p.a_end, p.b_start, p.b_end, p.tokens) for p in from_features.phrases]
        assert [p.score for p in found.phrases] == pytest.approx([p.score for p in from_features.phrases], abs=1e-5)


@pytest.mark.parametrize("version", [1, 2])
def test_older_detector_formats_still_load(version, tmp_path, minilm):
    """Format 1 (no weight hash, integer offsets) and 2 (hash, integer offsets) load as format 3 does."""
    import shutil

    from mia.detector.folder import shipped_folder

    folder = tmp_path / f"v{version}"
    shutil.copytree(shipped_folder() / "minilm-verbatim-context", folder)
    meta = json.loads((folder / "detector.json").read_text())
    meta["format"] = version
    meta["features"]["offsets"] = [0, -1, 1]
    if version == 1:
        meta.pop("weights_sha256")
    (folder / "detector.json").write_text(json.dumps(meta))
    old, current = Detector.load(folder), Detector.load("minilm-verbatim-context")
    assert old.layout.offsets == ((0, 0), (-1, -1), (1, 1)) == current.layout.offsets
    pair = Pair("x", "The cat sat. A dog ran.", "A dog ran. The cat sat.")
    np.testing.assert_array_equal(old.detect(minilm, pair.a, pair.b).probabilities,
                                  current.detect(minilm, pair.a, pair.b).probabilities)
    old.save(tmp_path / "resaved")
    assert json.loads((tmp_path / "resaved/detector.json").read_text())["format"] == 3


def test_the_default_detector_learned_both_shapes_and_decodes_by_argmax(minilm):
    """`detect` with no --detector uses minilm-reuse: mixed training data, wide offsets, mutual-argmax words."""
    from mia.cli_options import DetectConfig, EvaluateConfig, HeadsConfig
    from mia.models.layout import WIDE_CONTEXT

    assert DetectConfig().detector == EvaluateConfig(pairs="x").detector == HeadsConfig().detector == "minilm-reuse"
    detector = Detector.load("minilm-reuse")
    assert detector.layout.offsets == WIDE_CONTEXT and detector.decode == "mutual-argmax"
    assert detector.metadata["data"]["copies"] == "mixed" and detector.metadata["data"]["noise"]["substitute"] == 0.1
    a = "The cat sat on the old mat near the door. Rain fell all day."
    b = "Rain fell all day long. A cat sat on an old mat by the door."  # a noisy copy
    found = detector.detect(minilm, a, b)
    links = found.word_links("regex")
    a_words, b_words = a.replace(".", " .").split(), b.replace(".", " .").split()
    pairs = {(a_words[i], b_words[j]) for i, j in zip(*np.nonzero(links))}
    assert {("cat", "cat"), ("mat", "mat"), ("Rain", "Rain"), ("day", "day")} <= pairs
    assert sum(x != y for x, y in pairs) <= 1 < 9 <= sum(x == y for x, y in pairs)  # one-to-one, nearly all copies
