"""The embedding aligner beside an alignment detector: word vectors, the aligner on the packaged model, and its row in
``evaluate``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.cli import main
from mia.detector.detector import Detector
from mia.evaluate.embedding_aligner import (
    dense_mutual_argmax,
    embedding_argmax,
    embedding_similarity,
    word_vectors,
)
from mia.models.embedding import layer_states, state_layers, token_states
from mia.text.pairs import Pair, write_pairs
from mia.text.words import word_spans


def test_word_vectors_are_unit_means_of_the_tokens_a_word_covers():
    states = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0], [5.0, 5.0]], np.float32)
    token_spans = np.array([[0, 2], [2, 4], [5, 8], [8, 8]])  # "abcd efg": tokens ab|cd, efg, and an empty one
    spans = np.array([[0, 4], [5, 8], [9, 12]])  # the third word has no token
    vectors = word_vectors(states, token_spans, spans)
    np.testing.assert_allclose(vectors[0], [2**-0.5, 2**-0.5], rtol=1e-6)  # mean of (1,0) and (0,1), unit length
    np.testing.assert_allclose(vectors[1], [0.6, 0.8], rtol=1e-6)  # the empty token takes no part
    np.testing.assert_array_equal(vectors[2], [0.0, 0.0])


def test_a_copied_sentence_aligns_each_word_to_itself(minilm):
    text = "The committee postponed its decision until the spring meeting in Geneva."
    spans = word_spans(text, "whitespace")
    links = embedding_argmax(minilm, text, text, spans, spans, layer=3)
    np.testing.assert_array_equal(links, np.eye(len(spans), dtype=bool))
    other = "Yesterday a committee in Geneva postponed the decision."
    similarity = embedding_similarity(minilm, text, other, spans, word_spans(other, "whitespace"), layer=3)
    assert similarity.shape == (len(spans), 8) and np.all(similarity <= 1.0 + 1e-5)
    assert int(np.argmax(similarity[-1])) == 4  # A's last word "Geneva." is most like B's "Geneva"
    assert int(np.argmax(similarity[1])) == 2  # "committee" like "committee"


def test_states_of_a_text_longer_than_the_model_are_not_truncated(minilm):
    ids = minilm.tokens("word " * 700).ids
    assert len(ids) > minilm.max_length
    states = token_states(minilm, ids, 2)
    assert states.shape == (len(ids), 384) and np.all(np.isfinite(states))
    both = layer_states(minilm, ids[:20], (0, state_layers(minilm)))
    np.testing.assert_allclose(both[1], token_states(minilm, ids[:20], 6), atol=1e-5)
    with pytest.raises(ValueError, match="use 0 .* to 6"):
        token_states(minilm, ids[:5], 7)


def test_evaluate_shows_the_embedding_aligner_beside_the_baselines(trained_detector_dir, small_pairs, tmp_path, capsys):
    held_ids = set(Detector.load(trained_detector_dir).metadata["split"]["test_ids"])
    path = tmp_path / "held.jsonl"
    write_pairs([p for p in small_pairs if p.id in held_ids][:3], path)
    base = ["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path), "--format", "json"]
    assert main(base) == 0  # default: the middle layer (3 of MiniLM's 6)
    scorers = json.loads(capsys.readouterr().out)["word_level"]["scorers"]
    assert 0.5 < scorers["embedding argmax (layer 3)"]["f1"] <= 1.0  # shuffled copies: most words find themselves
    assert main([*base, "--embedding-layer", "none"]) == 0
    names = json.loads(capsys.readouterr().out)["word_level"]["scorers"]
    assert not any(name.startswith("embedding") for name in names)
    assert main([*base[:-2], "--embedding-layer", "1"]) == 0
    assert "embedding argmax (layer 1)" in capsys.readouterr().out.splitlines()[0]  # in the headline


@pytest.mark.parametrize("value", ["7", "-1", "top"])
def test_a_wrong_embedding_layer_is_a_one_line_error(trained_detector_dir, tmp_path, capsys, value):
    path = tmp_path / "pairs.jsonl"
    write_pairs([Pair(id="p", a="one two three", b="one two three", links=((0, 13, 0, 13),))], path)
    out = tmp_path / "result.json"
    code = main(["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path), "--out", str(out),
                 "--embedding-layer", value])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--embedding-layer" in err


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 6), st.integers(0, 6), st.integers(0, 2**32 - 1), st.booleans())
def test_dense_mutual_argmax_decides_as_the_decoder_does(n_a, n_b, seed, ties):
    from mia.alignment.decoding import mutual_argmax

    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, (n_a, n_b)).astype(np.float32) if ties else rng.random((n_a, n_b), np.float32)
    scores[rng.random((n_a, n_b)) < 0.2] = -np.inf  # words without a token
    np.testing.assert_array_equal(dense_mutual_argmax(scores), mutual_argmax(scores))


def test_train_with_a_wrong_embedding_layer_stops_before_the_fit(small_pairs, tmp_path, capsys, monkeypatch):
    import mia.workflow

    path = tmp_path / "pairs.jsonl"
    write_pairs(small_pairs[:6], path)
    monkeypatch.setattr(mia.workflow, "fit_detector", lambda *a, **k: pytest.fail("fitted despite a wrong layer"))
    out = tmp_path / "d"
    assert main(["train", "--pairs", str(path), "--out", str(out), "--embedding-layer", "7"]) == 2
    assert not out.exists() and "--embedding-layer 7" in capsys.readouterr().err

