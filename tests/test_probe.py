"""The repeated-random-tokens probe: MiniLM's duplicate heads, and the decoder-only patterns on a tiny GPT-2."""

from __future__ import annotations

import json

import numpy as np

from mia.cli import main
from mia.heads.probe import probe, random_words
from mia.models.attention import load_model


def test_minilm_duplicate_heads_are_the_detectors_top_heads(minilm):
    result = probe(minilm, length=30)
    assert result.length == 30 and set(result.scores) == {"a->b", "b->a"}
    for direction in ("a->b", "b->a"):
        duplicate = result.scores[direction]["duplicate"]
        assert duplicate.shape == (6, 12) and np.unravel_index(duplicate.argmax(), duplicate.shape) == (2, 9)
        assert duplicate[2, 9] > 10 * np.median(duplicate)  # far above a head that ignores the copy
        assert result.scores[direction]["copy neighbour"].max() < duplicate[2, 9]


def test_decoder_only_probe_reads_within_the_causal_text(tmp_path):
    from tests.tiny_models import build

    model = load_model(str(build("gpt2", tmp_path / "gpt2")), device="cpu")
    text = random_words(model, 12, seed=1)
    assert len(text.split()) == 12
    result = probe(model, length=12, seed=1)
    assert set(result.scores) == {"within"}
    assert set(result.scores["within"]) == {"duplicate", "induction", "previous token"}
    for values in result.scores["within"].values():
        assert values.shape == (2, 4) and ((values >= 0) & (values <= 1)).all() and values.sum() > 0


def test_probe_cli_json(capsys):
    assert main(["probe", "--length", "20", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["length"] == 20 and out["top"][0]["pattern"] == "duplicate"
