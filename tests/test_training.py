import json

import pytest

from mia.detector.scoring import transform_features
from mia.errors import MiaError
from mia.heads.description import DescribeOptions
from mia.text.pairs import Pair
from mia.training.training import TrainOptions, split_pairs

NO_REFITS = DescribeOptions(bootstrap=0)  # for tests that never read the heads' intervals: 30 refits cost seconds


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
    scorers = json.loads((trained_detector_dir / "detector.json").read_text())["metrics"]["token_level"]
    assert scorers["detector"]["average_precision"] > scorers["same token"]["average_precision"] + 0.1
    assert scorers["detector"]["roc_auc"] > 0.95


def test_chunked_fit_equals_pipeline_fit():
    """The memory-bounded fit (scaler by chunks, in-place scaling) is Pipeline(StandardScaler, LogisticRegression)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mia.detector.scoring import transform_features
    from mia.training.training import SampledSet, fit_pipeline

    rng = np.random.default_rng(0)
    labels = rng.random(3000) < 0.2
    features = (rng.random((3000, 6)) * 0.1 + labels[:, None] * rng.random(6) * 0.2).astype(np.float16)
    weights = np.where(labels, 1.0, rng.uniform(1, 5, 3000)).astype(np.float32)
    sampled = SampledSet(features, labels, weights, token_pairs=3000, positives=int(labels.sum()))
    options = TrainOptions(seed=0)
    chunked = fit_pipeline(sampled, options, chunk_rows=257)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=0))
    reference.fit(transform_features(features, "log"), labels, logisticregression__sample_weight=weights,
                  standardscaler__sample_weight=weights)
    np.testing.assert_allclose(chunked[0].mean_, reference[0].mean_, rtol=1e-5)
    np.testing.assert_allclose(chunked[0].scale_, reference[0].scale_, rtol=1e-5)
    np.testing.assert_allclose(chunked[-1].coef_, reference[-1].coef_, rtol=1e-3, atol=1e-4)
    assert not sampled.standardised  # attention rows: the fit worked on a copy

    inputs = transform_features(features, "log")  # rows kept as the regression's inputs: standardised in place
    in_place = SampledSet(inputs, labels, weights, token_pairs=3000, positives=int(labels.sum()), inputs="log")
    fitted = fit_pipeline(in_place, options, chunk_rows=257)
    assert in_place.standardised and in_place.features is inputs
    np.testing.assert_allclose(np.average(inputs, axis=0, weights=weights), 0, atol=1e-4)  # the weighted mean
    np.testing.assert_allclose(fitted[-1].coef_, chunked[-1].coef_, rtol=1e-6)
    with pytest.raises(ValueError, match="standardised"):
        fit_pipeline(in_place, options)


def test_a_consuming_fit_is_the_same_fit_and_keeps_its_inputs_as_float16():
    """Training's fit releases the attention rows as it reads them; the fit is unchanged and the rows left for the
    refits are its standardised inputs, rounded to float16."""
    import numpy as np

    from mia.training.sampling import RowBuffer
    from mia.training.training import SampledSet, fit_pipeline

    rng = np.random.default_rng(3)
    labels = rng.random(5000) < 0.2
    attention = (rng.random((5000, 7)) * 0.1 + labels[:, None] * rng.random(7) * 0.2).astype(np.float16)
    weights = np.where(labels, 1.0, rng.uniform(1, 5, 5000)).astype(np.float32)
    buffer = RowBuffer(8000, rng)  # rows in a releasable map, as training keeps them
    buffer.add(attention, labels, weights)
    rows, labels, weights, _ = buffer.finish(7)
    kept = SampledSet(attention.copy(), labels, weights, token_pairs=5000, positives=int(labels.sum()))
    consumed = SampledSet(rows, labels, weights, token_pairs=5000, positives=int(labels.sum()))
    options = TrainOptions(seed=0)
    reference = fit_pipeline(kept, options, chunk_rows=999)
    fitted = fit_pipeline(consumed, options, chunk_rows=999, consume=True)
    np.testing.assert_array_equal(fitted[-1].coef_, reference[-1].coef_)
    np.testing.assert_array_equal(fitted[0].scale_, reference[0].scale_)
    assert consumed.standardised and consumed.inputs == "log" and consumed.features.dtype == np.float16
    standardised = reference[0].transform(transform_features(attention, "log"))
    np.testing.assert_array_equal(consumed.features, standardised.astype(np.float16))
    assert not kept.standardised and (kept.features == attention).all()  # without consume: untouched


def test_transform_none_trains_and_detects_the_same_on_both_paths(minilm, small_pairs):
    import numpy as np

    from mia.workflow import train_detector

    detector = train_detector(minilm, small_pairs[:10], TrainOptions(seed=0, transform="none", offsets=((0, 0),)),
                              NO_REFITS)
    assert detector.transform == "none" and detector.to_dict()["features"]["transform"] == "none"
    features = minilm.features(small_pairs[0])
    by_features = detector.probabilities(features)
    by_rows = detector.link_probability(features.features.reshape(-1, 144)).reshape(features.shape)
    fast = next(detector.iter_detect(minilm, [small_pairs[0]])).probabilities
    np.testing.assert_allclose(by_features, by_rows, atol=2e-3)
    np.testing.assert_allclose(fast, by_features, atol=1e-5)
    assert detector.metadata["metrics"]["token_level"]["detector"]["roc_auc"] > 0.5


def test_notebook_and_shell_record_the_same_provenance(minilm):
    from mia.training.data import generated_data
    from mia.workflow import train_detector

    data = generated_data(seed=0, limit=8)
    detector = train_detector(minilm, data, TrainOptions(seed=0, offsets=((0, 0),)), NO_REFITS)
    assert detector.metadata["relation"] == "verbatim copy (sentence-shuffled paragraphs)"
    assert detector.metadata["data"]["source"] == "generated shuffled copies"
    assert detector.metadata["data"]["corpus"] == "python-reference" and detector.metadata["data"]["pairs"] == 8
    plain = train_detector(minilm, data.pairs, TrainOptions(seed=0, relation="mine", offsets=((0, 0),)), NO_REFITS)
    assert plain.metadata["relation"] == "mine" and plain.metadata["data"]["source"] == "pairs given to train_detector"


def test_the_threshold_is_chosen_on_weighted_validation_rows(minilm, small_pairs, monkeypatch):
    """Negatives are sampled, so the validation F1 must count each row by its inverse sampling rate; the
    threshold fit_detector records is best_f1_threshold's answer on exactly those weights."""
    import numpy as np

    import mia.training.training as training

    seen = []
    original = training.best_f1_threshold

    def spy(labels, scores, weights=None):
        seen.append((labels, scores, weights))
        return original(labels, scores, weights)

    monkeypatch.setattr(training, "best_f1_threshold", spy)
    run = training.fit_detector(minilm, small_pairs[:12], TrainOptions(seed=0))
    (labels, scores, weights), = seen
    assert weights is not None and len(weights) == len(labels)
    assert weights[~labels].min() > 1.0 and np.allclose(weights[labels], 1.0)  # negatives stand for the unsampled
    assert run.detector.threshold == original(labels, scores, weights) != original(labels, scores)


def test_float16_rows_take_the_log_from_a_table_with_the_same_values():
    """Every float16 value (weights, zeros, -0, subnormals) and a block of random rows: the table gives exactly the
    float32 values that converting and taking the log give, in the input's shape."""
    import numpy as np

    def converted(rows: np.ndarray) -> np.ndarray:  # the path every other dtype takes
        values = rows.astype(np.float32)
        values += np.float32(1e-4)
        return np.log(values)

    every = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16)  # +0 up to the largest finite float16
    every = np.concatenate([every, -every[:20]])  # -0 and a few small negatives (NaN both ways)
    with np.errstate(invalid="ignore"):
        expected = converted(every)
    assert np.array_equal(transform_features(every, "log"), expected, equal_nan=True)
    rows = np.random.default_rng(0).random((7, 5, 3)).astype(np.float16)
    found = transform_features(rows, "log")
    assert found.dtype == np.float32 and found.shape == rows.shape and found.flags.writeable
    assert np.array_equal(found, converted(rows))
    assert np.array_equal(transform_features(rows, "identity"), rows.astype(np.float32))
