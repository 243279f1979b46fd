"""The BART path end to end, on a tiny random BART built in the test (no download)."""

import json

from mia.cli import main


def test_bart_train_detect_heads(tiny_bart_dir, tmp_path, capsys):
    out = tmp_path / "bart-det"
    assert main(["train", "--model", str(tiny_bart_dir), "--limit", "30", "--out", str(out), "--offsets", "pair"]) == 0
    meta = json.loads((out / "detector.json").read_text())
    assert meta["model"]["type"] == "bart" and meta["features"]["directions"] == ["cross"]
    assert meta["features"]["count"] == 2 * 4
    assert meta["metrics"]["scorers"]["detector"]["roc_auc"] > 0.5
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
