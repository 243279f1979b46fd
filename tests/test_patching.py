"""Activation patching (mia.heads.patching, `mia patch`): a model whose mechanism is set by hand, where the planted
head must come first; patching a run with its own activations changes nothing on every family; the layer replay
equals the whole run. The corruption's own checks: test_corruption.py; the patch-file reader's: test_patch_file.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mia.cli import main
from mia.detector.detector import Detector
from mia.heads.corruption import a_and_b_ids, copied_b_positions, corrupted_ids, corrupted_item
from mia.heads.patching import PARTS, PatchOptions, Runner, patch_heads, single_jobs
from mia.models.attention import AttentionModel, load_model
from mia.models.layout import FeatureLayout
from mia.text.corpus import read_paragraphs
from mia.text.pairs import Pair, generate_pairs, token_labels, write_pairs
from tests import tiny_models

HIDDEN, HEADS = 64, 4
# subspaces of the residual stream
TOKEN, SHARED, DECOY, POSITION = slice(0, 16), slice(16, 32), slice(32, 48), slice(48, 64)


def build_planted(folder: Path) -> Path:
    """A 2-layer, 4-head BERT set by hand. Embeddings hold each token's identity in TOKEN and its position in
    POSITION. Layer 0: head 0 (the *planted* head) attends to its own position and copies its token's identity
    into SHARED; head 1 (the *decoy*) does the same into DECOY, which nothing reads; heads 2 and 3 do nothing.
    Layer 1: head 0 (the *reader*) attends by SHARED alone, so it links a_i to b_j only when the planted head
    wrote the same token at both; its other heads attend uniformly. No feed-forward layers (their weights are 0).
    The planted head's pattern is the same whatever the tokens (positional); what it moves is in its values."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer, vocab = tiny_models._tokenizer("bert")
    config = BertConfig(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=HEADS,
                        intermediate_size=4, max_position_embeddings=130, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    model = BertModel(config, add_pooling_layer=False)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for norm in [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]:
            norm.weight.fill_(1.0)
        def unit_rows(count: int) -> torch.Tensor:
            rows = torch.randn(count, 16, generator=generator)
            return rows / rows.norm(dim=1, keepdim=True)

        model.embeddings.word_embeddings.weight[:, TOKEN] = unit_rows(vocab) * 8
        model.embeddings.position_embeddings.weight[:, POSITION] = unit_rows(130) * 8
        eye = torch.eye(16)
        width = HIDDEN // HEADS  # 16 dims per head
        first, second = model.encoder.layer[0].attention, model.encoder.layer[1].attention
        for head, target in ((0, SHARED), (1, DECOY)):
            rows = slice(head * width, (head + 1) * width)
            first.self.query.weight[rows, POSITION] = eye * 3
            first.self.key.weight[rows, POSITION] = eye * 3
            first.self.value.weight[rows, TOKEN] = eye
            first.output.dense.weight[target, rows] = eye
        second.self.query.weight[0:width, SHARED] = eye * 3
        second.self.key.weight[0:width, SHARED] = eye * 3
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def reader_detector(model: AttentionModel) -> Detector:
    """A detector that reads the reader head (layer 1, head 0) alone, in both directions, on log attention."""
    layout = model.layout
    coef = np.zeros(layout.n_features)
    for direction in range(len(layout.directions)):
        coef[direction * layout.layers * layout.heads + 1 * layout.heads + 0] = 1.0
    return Detector(model_name=model.name, model_type=model.model_type, model_fingerprint=model.fingerprint,
                    layout=layout, mean=np.zeros(layout.n_features), scale=np.ones(layout.n_features), coef=coef,
                    intercept=0.0, threshold=0.5, transform="log")


def short_pairs(count: int, seed: int = 0, *, per: int = 3, words: int = 8) -> list[Pair]:
    """Shuffled-copy pairs of ``per`` short sentences (4 to ``words`` words) of the packaged corpus (they fit 128
    tokens)."""
    sentences = [s.strip() + "." for p in read_paragraphs() for s in p.split(". ") if 4 <= len(s.split()) <= words]
    paragraphs = [" ".join(sentences[i: i + per]) for i in range(0, per * count * 2, per)]
    pairs, _ = generate_pairs(paragraphs, seed=seed, limit=count)
    return pairs


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[AttentionModel, Detector]:
    model = load_model(str(build_planted(tmp_path_factory.mktemp("planted"))), device="cpu")
    return model, reader_detector(model)


def test_the_planted_head_comes_first_and_the_decoy_last(planted):
    model, detector = planted
    result = patch_heads(detector, model, short_pairs(12), PatchOptions(parts=PARTS, k=2, draws=20, resamples=200))
    by_name = {effect.name: effect for effect in result.heads}
    planted_head, decoy, reader = by_name["L0H0"], by_name["L0H1"], by_name["L1H0"]
    assert result.pairs["used"] >= 8
    assert result.heads[0].name == "L0H0"
    assert planted_head.necessity["output"] > 0.8 and planted_head.sufficiency["output"] > 0.8
    assert planted_head.necessity_interval["output"][0] > 0.5
    # the decoy writes where nothing reads: no effect, at the bottom of the order with the heads that do nothing
    others = [e.necessity["output"] for e in result.heads if e.name != "L0H1"]
    assert abs(decoy.necessity["output"]) < 0.05 and decoy.necessity["output"] <= min(others) + 0.05
    # where vs what: the planted head moves the identity in its values; its (positional) pattern does not matter
    assert planted_head.necessity["value"] > 0.8 and abs(planted_head.necessity["pattern"]) < 0.1
    # the reader's output reaches nothing; its pattern is what the detector reads
    assert reader.necessity["output"] == 0.0 and reader.necessity["pattern"] > 0.8
    assert planted_head.role == "computes" and reader.role == "reads" and decoy.role == "neither"
    check = result.top_k
    assert check["heads"][0] == "L0H0" and check["top"] > 0.8 > check["random_median"]


def test_patching_a_run_with_its_own_activations_changes_nothing(planted, tmp_path):
    """On every family mia patches (BERT, BART cross-attention, GPT-2, Llama with grouped-query attention): each
    part of each head put back from the run itself gives the run's own signal, and starting at a middle layer
    from the recorded block outputs gives what the whole run gives."""
    import torch

    pairs = short_pairs(3, per=2, words=5)  # byte-level BPE of a 600-token vocabulary: many tokens a word
    families = [planted]
    for model_type in ("bart", "gpt2", "llama"):
        model = load_model(str(tiny_models.build(model_type, tmp_path / model_type)), device="cpu")
        layout = model.layout
        rng = np.random.default_rng(1)
        families.append((model, Detector(
            model_name=model.name, model_type=model.model_type, model_fingerprint=model.fingerprint,
            layout=FeatureLayout(layout.layers, layout.heads, layout.directions), mean=np.zeros(layout.n_features),
            scale=np.ones(layout.n_features), coef=rng.normal(size=layout.n_features), intercept=0.0, threshold=0.5)))
    for model, detector in families:
        item = model.encode(pairs[0])
        gold = torch.as_tensor(token_labels(item.pair, item.a_spans, item.b_spans))
        whole = Runner(detector, model, 4)
        whole.blocks = None  # every run computed from the first layer
        replayed = Runner(detector, model, 4)
        assert replayed.blocks is not None, model.model_type
        a_ids, b_ids = a_and_b_ids(item)
        bad = corrupted_item(item, corrupted_ids(b_ids, copied_b_positions(gold.numpy()), a_ids,
                                                 [a_and_b_ids(model.encode(p))[1] for p in pairs[1:]],
                                                 "other-text", np.random.default_rng(0)))
        jobs = single_jobs(detector.layout.layers, detector.layout.heads)
        with torch.inference_mode():
            base, other = replayed.record(item, gold, PARTS), replayed.record(bad, gold, PARTS)
            assert base.signal != pytest.approx(other.signal)
            only = replayed.record(bad, gold, ("output",))  # what the default keeps: the head outputs alone
            assert {part for part, _ in only.parts} == {"output"} and only.signal == other.signal
            np.testing.assert_array_equal(replayed.patched(item, gold, "output", base, only.parts, jobs),
                                          replayed.patched(item, gold, "output", base, other.parts, jobs))
            for part in PARTS:
                same = replayed.patched(item, gold, part, base, base.parts, jobs)
                np.testing.assert_allclose(same, base.signal, atol=1e-4, err_msg=f"{model.model_type} {part}")
                np.testing.assert_allclose(replayed.patched(item, gold, part, base, other.parts, jobs),
                                           whole.patched(item, gold, part, base, other.parts, jobs),
                                           atol=1e-4, err_msg=f"{model.model_type} {part}")


def test_patch_command_writes_json_other_tools_can_read(trained_detector_dir, small_pairs, tmp_path, capsys):
    pairs_file = tmp_path / "pairs.jsonl"
    write_pairs(short_pairs(6, seed=3), pairs_file)
    out = tmp_path / "patch.json"
    argv = ["patch", "--detector", str(trained_detector_dir), "--pairs", str(pairs_file), "--parts", "output",
            "--draws", "5", "--k", "3", "--device", "cpu"]
    assert main([*argv, "--format", "json", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert len(result["heads"]) == 72 and result["pairs"]["used"] >= 4
    first = result["heads"][0]
    assert isinstance(first["layer"], int) and isinstance(first["head"], int)
    for key in ("layer", "head", "name", "necessity", "necessity_interval", "sufficiency", "sufficiency_interval",
                "readout_weight", "role"):
        assert key in first
    assert first["necessity_interval"][0] <= first["necessity"] <= first["necessity_interval"][1]
    necessities = [h["necessity"] for h in result["heads"]]
    assert necessities == sorted(necessities, reverse=True)
    check = result["top_k_noising"]
    assert check["k"] == 3 and check["random_draws"] == 5 and check["top"] is not None
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "necessity (output)" in text and "random sets of 3" in text


@pytest.mark.parametrize("argv, message", [
    (["--parts", "pattern"], "--parts"),
    (["--parts", "output,colour"], "--parts"),
    (["--pairs", "x.jsonl", "--corpus", "y.txt"], "not both"),
])
def test_patch_refuses_bad_options_before_any_work(argv, message, capsys):
    assert main(["patch", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def hand_made_patch(detector: Detector, *, model: str | None = None) -> dict:
    layout = detector.layout
    heads = [{"layer": layer, "head": head, "name": f"L{layer}H{head}",
              "necessity": round(0.01 * (layer * layout.heads + head), 4), "necessity_interval": [0.0, 1.0],
              "sufficiency": 0.5, "sufficiency_interval": [0.4, 0.6], "role": "computes" if layer == 0 else "neither"}
             for layer in range(layout.layers) for head in range(layout.heads)]
    return {"model": model or detector.model_name, "heads": heads, "pairs": {"used": 7},
            "corruption": {"scheme": "other-text", "rule": "hand-made"}, "roles": "hand-made rule"}


def test_heads_shows_and_orders_by_the_causal_columns(trained_detector_dir, tmp_path, capsys):
    detector = Detector.load(trained_detector_dir)
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps(hand_made_patch(detector)))
    assert main(["heads", "--detector", str(trained_detector_dir), "--patch", str(patch), "--by", "necessity",
                 "--format", "json", "--top", "5"]) == 0
    heads = json.loads(capsys.readouterr().out)["heads"]
    assert [h["head"] for h in heads] == ["L5H11", "L5H10", "L5H9", "L5H8", "L5H7"]  # largest necessity first
    assert heads[0]["necessity"] == pytest.approx(0.71) and heads[0]["role"] == "neither"
    assert [h["rank"] for h in heads] == [1, 2, 3, 4, 5]
    assert main(["heads", "--detector", str(trained_detector_dir), "--patch", str(patch)]) == 0
    text = capsys.readouterr().out
    assert "necessity" in text and "computes" not in text.splitlines()[0]
    assert main(["heads", "--detector", str(trained_detector_dir), "--by", "necessity"]) == 2
    assert "give --patch" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps(hand_made_patch(detector, model="another-model")))
    assert main(["heads", "--detector", str(trained_detector_dir), "--patch", str(other)]) == 2
    assert "another-model" in capsys.readouterr().err


def test_the_report_sets_readout_necessity_and_sufficiency_side_by_side(trained_detector_dir, tmp_path, capsys):
    detector = Detector.load(trained_detector_dir)
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps(hand_made_patch(detector)))
    out = tmp_path / "report.json"
    assert main(["report", "--detector", str(trained_detector_dir), "--patch", str(patch), "--format", "json",
                 "--out", str(out)]) == 0
    causal = json.loads(out.read_text())["causal"]
    assert causal["pairs"] == 7 and causal["rule"] == "hand-made rule"
    assert causal["necessity"][1][2] == pytest.approx(0.01 * (1 * 12 + 2)) and len(causal["weight"]) == 6
    row = next(r for r in causal["rows"] if r["name"] == "L0H3")
    assert row["role"] == "computes" and row["readout_weight"] == pytest.approx(causal["weight"][0][3])
    page = tmp_path / "report.html"
    assert main(["report", "--detector", str(trained_detector_dir), "--patch", str(patch), "--out", str(page)]) == 0
    assert 'id="causal"' in page.read_text() and "Readers and computers" in page.read_text()
    assert main(["report", "--detector", str(trained_detector_dir), "--patch", str(patch), "--out", str(patch)]) == 2
    assert json.loads(patch.read_text())["roles"] == "hand-made rule"  # the input is never overwritten
