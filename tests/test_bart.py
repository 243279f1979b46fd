"""The BART path end to end, on a tiny random BART built in the test (no download)."""

import json

from mia.cli import main


def test_bart_train_detect_heads(tiny_bart_dir, tmp_path, capsys):
    out = tmp_path / "bart-det"
    assert main(["train", "--model", str(tiny_bart_dir), "--limit", "30", "--out", str(out), "--offsets", "pair"]) == 0
    meta = json.loads((out / "detector.json").read_text())
    assert meta["model"]["type"] == "bart" and meta["features"]["directions"] == ["cross"]
    assert meta["features"]["count"] == 2 * 4
    assert meta["metrics"]["token_level"]["detector"]["roc_auc"] > 0.5
    capsys.readouterr()
    assert main(["detect", "--detector", str(out), "--a", "The cat sat. A dog ran.",
                 "--b", "A dog ran. The cat sat.", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"id", "links", "phrases"} <= set(result)
    assert main(["heads", "--detector", str(out), "--plot", str(tmp_path / "h.png")]) == 0
    printed = capsys.readouterr().out
    assert "top 8 of 8 heads" in printed and (tmp_path / "h.png").exists()
    assert "copy" in printed and "dominant type" in printed  # head types on cross-attention (no within-text ones)
    assert main(["heads", "--detector", str(out), "--by", "column"]) == 0
    assert "cross" in capsys.readouterr().out


def test_each_b_window_is_encoded_once(tiny_bart, monkeypatch):
    """Every window pair reads its B window in the encoder: the encoder runs once per distinct B window, and the
    features are those of a run without the cache."""
    import torch

    from mia.alignment.windowed import iter_window_features, plan_pair
    from mia.text.corpus import read_paragraphs
    from mia.text.pairs import Pair

    paragraphs = read_paragraphs()
    pair = Pair("long", " ".join(paragraphs[10:16]), " ".join(paragraphs[20:26]))
    planned = plan_pair(tiny_bart, pair, candidates="all")
    assert len(planned.a_windows) >= 2 and len(planned.b_windows) >= 2
    encoder = tiny_bart.model.get_encoder()
    calls = {"n": 0}
    original = type(encoder).forward

    def counting(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    tiny_bart.encoder_cache.clear()
    monkeypatch.setattr(type(encoder), "forward", counting)
    cached = [(i, j, f.blocks.clone()) for i, j, f in iter_window_features(planned, tiny_bart)]
    assert calls["n"] == len(planned.b_windows) < len(planned.window_pairs)
    for i, j, blocks in cached:  # the same features when every window pair encodes its B window itself
        tiny_bart.encoder_cache.clear()
        item = tiny_bart.assemble(planned.sub_pair(i, j), *planned.window_tokens(i, j))
        torch.testing.assert_close(next(tiny_bart.iter_features([item])).blocks, blocks)
