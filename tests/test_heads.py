"""Head rankings with intervals and types, stability between detectors, ablation, what one head attends to."""

from __future__ import annotations

import http.server
import json
import threading

import numpy as np
import pytest

from mia.cli import main
from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.heads.ranking import head_summaries


@pytest.fixture(scope="module")
def detector(trained_detector_dir):
    return Detector.load(trained_detector_dir)


def test_trained_detector_records_intervals_and_types(detector):
    section = detector.metadata["heads"]
    assert section["bootstrap"]["refits"] == 30
    heads = head_summaries(detector)
    assert len(heads) == 72
    aucs = [h.auc for h in heads]
    assert aucs == sorted(aucs, reverse=True)
    for h in heads:
        assert h.weight_interval is not None and h.weight_interval[0] - 1e-4 <= h.weight <= h.weight_interval[1] + 1e-4
        assert h.auc_interval is not None and 0 <= h.auc_interval[0] <= h.auc_interval[1] <= 1
        assert 0 <= h.weight_top10_share <= 1 and 0 <= h.auc_top10_share <= 1
        assert set(h.types) == {"a->b", "b->a"} and len(h.types["a->b"]) == 7
    # ten heads in each refit's top 10; the shares are stored rounded to 4 decimals (72 roundings of <= 5e-5)
    assert sum(h.weight_top10_share for h in heads) == pytest.approx(10, abs=72 * 5e-5)
    # the summed weight is the head's columns added up
    first = heads[0]
    columns = detector.layout.by_head(detector.coef)[..., first.layer * 12 + first.head]
    assert first.weight == pytest.approx(columns.sum(), abs=1e-3)
    # the top heads copy: their dominant type says so
    assert {"copy", "duplicate"} & set(heads[0].dominant.values())


def test_heads_json_carries_intervals_and_types(trained_detector_dir, capsys, tmp_path):
    assert main(["heads", "--detector", str(trained_detector_dir), "--format", "json", "--top", "72"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ranking"] == "auc" and len(printed["heads"]) == 72
    for head in printed["heads"]:
        assert len(head["weight_interval"]) == 2 and len(head["auc_interval"]) == 2
        assert set(head["types"]["a->b"]) >= {"copy", "duplicate", "copy neighbour", "previous token", "self", "sink",
                                              "retrieval"}
        assert isinstance(head["weight_crosses_zero"], bool) and head["dominant_type"]["b->a"]
    png = tmp_path / "heads.png"
    assert main(["heads", "--detector", str(trained_detector_dir), "--by", "weight", "--plot", str(png)]) == 0
    table = capsys.readouterr().out
    assert "dominant type" in table and "interval" in table and png.stat().st_size > 1000


def test_older_detectors_rank_heads_without_intervals(tmp_path, capsys):
    """A detector of an earlier version (format 2: no heads section, no word-level card) is ranked by its per-column
    AUCs, says it has no intervals, and its card says it was not measured at word level."""
    import shutil

    from mia.detector.folder import shipped_folder

    folder = tmp_path / "old"
    shutil.copytree(shipped_folder() / "minilm-verbatim", folder)
    record = json.loads((folder / "detector.json").read_text())
    for key in ("heads", "documents"):
        record.pop(key, None)
    record["format"] = 2
    record["features"]["offsets"] = [0]  # format 2 wrote a diagonal offset as one number
    record["metrics"] = {"evaluated_on": "every token pair", "threshold": record["threshold"],
                         "scorers": record["metrics"]["token_level"]}  # the older token-level card
    (folder / "detector.json").write_text(json.dumps(record))
    detector = Detector.load(folder)
    assert "heads" not in detector.metadata
    heads = head_summaries(detector)
    assert len(heads) == 72 and heads[0].auc_interval is None and heads[0].weight_interval is None
    assert [h.auc for h in heads] == sorted((h.auc for h in heads), reverse=True)
    assert main(["heads", "--detector", str(folder), "--top", "3"]) == 0
    printed = capsys.readouterr().out
    assert "L2H9" in printed and "records no intervals or head types" in printed
    assert main(["report", "--detector", str(folder), "--out", str(tmp_path / "card.html")]) == 0


def test_compare_heads_of_a_detector_with_itself(trained_detector_dir, capsys):
    assert main(["compare-heads", str(trained_detector_dir), str(trained_detector_dir), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rankings"]
    assert [r["spearman"] for r in rows] == [1.0, 1.0, 1.0] and all(r["top10_common"] == 10 for r in rows)
    by_auc = rows[0]  # the resampled rankings of one detector paired with themselves agree in every resample
    assert by_auc["resamples"] == 30 and by_auc["spearman_interval"] == [1.0, 1.0]
    assert by_auc["top10_common_interval"] == [10.0, 10.0]
    assert rows[1]["spearman_interval"] is None  # weights: no paired draws stored
    assert main(["compare-heads", str(trained_detector_dir)]) == 2  # SECOND is required


def test_compare_heads_interval_comes_from_paired_resamples():
    """Half the paired draws agree exactly and half are reversed: the interval spans [-1, 1]; without draws on one
    side there is no interval."""
    from mia.heads.stability import agreement, resampled_agreement

    rng = np.random.default_rng(0)
    x_draws = np.array([rng.permutation(20) for _ in range(40)], float)
    y_draws = np.where(np.arange(40)[:, None] < 20, x_draws, 19 - x_draws)
    found = agreement("auc", x_draws[0], y_draws[0])
    resampled = resampled_agreement(found, x_draws, y_draws)
    assert resampled.spearman_interval == (-1.0, 1.0) and resampled.resamples == 40
    assert resampled.top10_common_interval == (0.0, 10.0)
    assert resampled_agreement(found, x_draws, np.zeros((0, 20))) == found


def test_compare_heads_says_when_a_detector_records_no_resampled_aucs(trained_detector_dir, tmp_path, capsys):
    old = Detector.load(trained_detector_dir)
    del old.metadata["heads"]["auc_draws"]  # as detectors trained before mia stored them
    old.save(tmp_path / "old")
    assert main(["compare-heads", str(trained_detector_dir), str(tmp_path / "old")]) == 0
    printed = capsys.readouterr().out
    assert "intervals: not measured" in printed and "[1.000, 1.000]" not in printed
    assert main(["compare-heads", str(trained_detector_dir), str(trained_detector_dir)]) == 0
    assert "[1.000, 1.000]" in capsys.readouterr().out


def test_compare_heads_of_two_different_detectors_gives_the_known_answer(trained_detector_dir, tmp_path, capsys):
    """A second detector whose every ranking is known: head AUCs in the reverse order (Spearman -1, no top-10 head in
    common), head weights a fixed permutation (Spearman computed here by hand from the ranks), columns negated (-1)."""
    import copy

    first = Detector.load(trained_detector_dir)
    weight = np.array(first.metadata["heads"]["weight"], float)
    first.metadata["heads"]["auc"] = np.linspace(0.6, 0.9, len(weight)).tolist()  # distinct: no ties
    second = copy.deepcopy(first)
    heads = second.metadata["heads"]
    heads["auc"] = heads["auc"][::-1]  # the highest AUC goes to the head that had the lowest, and so on
    heads["auc_draws"] = (1 - np.array(heads["auc_draws"])).tolist()  # each resample's order reversed too
    moved = np.roll(np.arange(len(weight)), 5)
    heads["weight"] = weight[moved].tolist()
    second.coef = -first.coef
    first.save(tmp_path / "first")
    second.save(tmp_path / "second")
    assert main(["compare-heads", str(tmp_path / "first"), str(tmp_path / "second"), "--format", "json"]) == 0
    rows = {r["ranking"].split(" (")[0]: r for r in json.loads(capsys.readouterr().out)["rankings"]}
    by_auc, by_weight = rows["heads by own held-out ROC AUC"], rows["heads by summed weight"]
    assert by_auc["spearman"] == -1.0 and by_auc["top10_common"] == 0
    assert by_auc["spearman_interval"] == [-1.0, -1.0]
    ranks = np.argsort(np.argsort(weight)).astype(float)
    ranks_moved = ranks[moved]
    expected = 1 - 6 * ((ranks - ranks_moved) ** 2).sum() / (len(ranks) * (len(ranks) ** 2 - 1))
    assert by_weight["spearman"] == pytest.approx(expected, abs=1e-4) and by_weight["spearman"] < 0.9
    top = set(np.argsort(-weight)[:10])
    assert by_weight["top10_common"] == len(top & set(np.argsort(-weight[moved])[:10]))
    assert rows["feature columns by standardised weight"]["spearman"] == -1.0


def test_compare_heads_refuses_two_models(trained_detector_dir, tiny_bart, small_pairs, tmp_path, capsys):
    from mia.heads.description import DescribeOptions
    from mia.models.layout import PAIR_ONLY
    from mia.training.training import TrainOptions
    from mia.workflow import train_detector

    other = train_detector(tiny_bart, small_pairs[:12], TrainOptions(offsets=PAIR_ONLY), DescribeOptions(bootstrap=2))
    other.save(tmp_path / "bart")
    assert main(["compare-heads", str(trained_detector_dir), str(tmp_path / "bart")]) == 2
    assert "different models" in capsys.readouterr().err


def test_ablation_curves(detector, minilm, small_pairs, tmp_path):
    from mia.heads.ablation import AblationOptions, ablate
    from mia.report.plot import plot_ablation
    from mia.text.pairs import pair_hash

    fitted = set(detector.metadata["split"]["fit_or_tuned_on_hashes"])
    held_out = [p for p in small_pairs if pair_hash(p) not in fitted]
    assert len(held_out) >= 4
    result = ablate(detector, minilm, held_out, AblationOptions(ks=(1, 8, 72), draws=2))
    curves = result.curves
    assert set(curves) == {"keep top k", "drop top k", "drop random k", "causal top k", "causal random k"}
    assert all(len(values) == 3 for values in curves.values())
    assert np.isnan(curves["drop top k"][2]) and np.isnan(curves["causal top k"][2])  # nothing left
    assert curves["keep top k"][2] == pytest.approx(result.full_refit)
    assert len(result.random_draws["drop random k"][0]) == 2
    assert 0 < curves["keep top k"][0] <= 1 and 0 < curves["causal top k"][1] <= 1
    assert set(result.baselines) == {"same token", "run of >= 3 tokens"}
    assert result.order[0] == f"L{head_summaries(detector)[0].layer}H{head_summaries(detector)[0].head}"
    assert plot_ablation(result, tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    json.dumps(result.to_dict(), allow_nan=False)  # NaN written as null


def test_ablate_cli(trained_detector_dir, small_pairs, tmp_path, capsys):
    from mia.text.pairs import write_pairs

    pairs = tmp_path / "pairs.jsonl"
    write_pairs(small_pairs[:3], pairs)
    assert main(["ablate", "--detector", str(trained_detector_dir), "--pairs", str(pairs), "--no-causal"]) == 2
    assert "at least 4 pairs" in capsys.readouterr().err  # some of the 3 were trained on; too few either way
    write_pairs(small_pairs, pairs)
    out = tmp_path / "ablation.json"
    assert main(["ablate", "--detector", str(trained_detector_dir), "--pairs", str(pairs), "--no-causal",
                 "--draws", "1", "--format", "json", "--out", str(out)]) == 0
    assert "were fitted or tuned on by the detector: left out" in capsys.readouterr().err
    written = json.loads(out.read_text())
    assert written["ks"][-1] == 72 and "causal top k" not in written["curves"]


def test_held_out_pairs_of_the_shipped_detector_are_made_again():
    from mia.text.pairs import pair_hash
    from mia.training.data import held_out_pairs

    detector = Detector.load("minilm-reuse")
    pairs = held_out_pairs(detector.metadata)
    assert [p.id for p in pairs] == detector.metadata["split"]["test_ids"]
    assert not {pair_hash(p) for p in pairs} & set(detector.metadata["split"]["fit_or_tuned_on_hashes"])
    with pytest.raises(MiaError, match="--pairs"):
        held_out_pairs({"data": {"source": "pairs given to train_detector"}, "split": {"test_ids": ["x"]}})


def test_validation_pairs_of_the_shipped_detector_are_made_again_and_are_tuned_on():
    from mia.text.pairs import pair_hash
    from mia.training.data import validation_pairs

    detector = Detector.load("minilm-reuse")
    pairs = validation_pairs(detector.metadata)
    assert [p.id for p in pairs] == detector.metadata["split"]["validation_ids"]
    assert {pair_hash(p) for p in pairs} <= set(detector.metadata["split"]["fit_or_tuned_on_hashes"])
    assert not {p.id for p in pairs} & set(detector.metadata["split"]["test_ids"])
    untuned = {**detector.metadata, "split": {**detector.metadata["split"], "fit_or_tuned_on_hashes": []}}
    with pytest.raises(MiaError, match="differ"):
        validation_pairs(untuned)


def test_head_examples(minilm, small_pairs):
    from mia.heads.examples import head_examples, parse_head

    assert parse_head("2.9", 6, 12) == (2, 9) == parse_head("L2H9", 6, 12)
    for bad in ("2", "6.0", "x.y"):
        with pytest.raises(MiaError, match="--head"):
            parse_head(bad, 6, 12)
    examples = head_examples(minilm, small_pairs[:6], 2, 9, top=5, sample=4)
    assert len(examples.top) == 5 and len(examples.random) == 4
    weights = [e.weight for e in examples.top]
    assert weights == sorted(weights, reverse=True)
    assert weights[0] >= max(e.weight for e in examples.random)
    # L2H9 is a copy head: its strongest token pairs are copies, the same text on both sides
    assert sum(e.linked for e in examples.top) >= 4 and all("[[" in e.a_context for e in examples.top)
    assert examples.top[0].a_token.lower() == examples.top[0].b_token.lower()
    again = head_examples(minilm, small_pairs[:6], 2, 9, top=5, sample=4)
    assert again.to_dict() == examples.to_dict()  # the random sample is seeded


class StubChat(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint on the loopback address that records what it was sent."""

    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StubChat.received.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        answer = json.dumps({"choices": [{"message": {"content": "Attends to the same word in the other text."}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_head_cli_with_describe_against_a_local_stub(trained_detector_dir, small_pairs, tmp_path, capsys,
                                                     monkeypatch):
    from mia.text.pairs import write_pairs

    pairs = tmp_path / "pairs.jsonl"
    write_pairs(small_pairs[:4], pairs)
    base = ["head", "--detector", str(trained_detector_dir), "--head", "2.9", "--pairs", str(pairs), "--top", "3"]
    monkeypatch.delenv("MIA_DESCRIBE_URL", raising=False)
    assert main([*base, "--describe"]) == 2
    assert "MIA_DESCRIBE_URL" in capsys.readouterr().err
    server = http.server.HTTPServer(("127.0.0.1", 0), StubChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("MIA_DESCRIBE_URL", f"http://127.0.0.1:{server.server_port}/v1")
        monkeypatch.setenv("MIA_DESCRIBE_KEY", "test-key")
        assert main([*base, "--describe", "--format", "json"]) == 0
    finally:
        server.shutdown()
    printed = json.loads(capsys.readouterr().out)
    assert printed["description"] == "Attends to the same word in the other text."
    request = StubChat.received[-1]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer test-key"
    prompt = request["body"]["messages"][0]["content"]
    assert printed["top"][0]["a_context"] in prompt and "2.9" in prompt
    assert main([*base, "--direction", "b->a"]) == 0
    assert "highest attention" in capsys.readouterr().out
    assert main([*base, "--direction", "cross"]) == 2


def test_training_without_bootstrap_or_types(minilm, small_pairs, capsys, tmp_path):
    from mia.heads.description import DescribeOptions
    from mia.models.layout import PAIR_ONLY
    from mia.training.training import TrainOptions
    from mia.workflow import train_detector

    detector = train_detector(minilm, small_pairs[:12], TrainOptions(offsets=PAIR_ONLY),
                              DescribeOptions(bootstrap=0, head_types=False))
    folder = detector.save(tmp_path / "plain")
    heads = head_summaries(Detector.load(folder))
    assert len(heads) == 72 and heads[0].weight_interval is None and heads[0].types == {}
    assert main(["heads", "--detector", str(folder), "--format", "json", "--top", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["heads"][0]["weight_interval"] is None and printed["heads"][0]["dominant_type"] == {}


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    from mia.heads.stability import spearman

    rng = np.random.default_rng(0)
    x, y = np.round(rng.random(50), 1), rng.random(50)
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_compare_heads_names_the_heads_specific_to_one_detector(trained_detector_dir, tmp_path, capsys):
    """Known answer: head 0 always in the first detector's top 10 and never in the second's, head 1 the other way
    round, every other head at a share between the thresholds; a detector without resampled AUCs: not measured."""
    import copy

    first = Detector.load(trained_detector_dir)
    n = len(first.metadata["heads"]["auc"])
    first.metadata["heads"]["auc"] = np.linspace(0.9, 0.6, n).tolist()  # head 0 ranks first, head 1 second
    first.metadata["heads"]["auc_top10_share"] = [1.0, 0.05] + [0.5] * (n - 2)
    second = copy.deepcopy(first)
    second.metadata["heads"]["auc_top10_share"] = [0.1, 0.95] + [0.5] * (n - 2)
    first.save(tmp_path / "first")
    second.save(tmp_path / "second")
    assert main(["compare-heads", str(tmp_path / "first"), str(tmp_path / "second"), "--format", "json"]) == 0
    specific = json.loads(capsys.readouterr().out)["specific_heads"]
    assert [(d["layer"], d["head"], d["first_top10_share"], d["second_top10_share"]) for d in specific["first"]] == [
        (0, 0, 1.0, 0.1)]
    assert [(d["layer"], d["head"], d["first_rank"]) for d in specific["second"]] == [(0, 1, 2)]
    assert "90%" in specific["rule"] and "10%" in specific["rule"]
    del first.metadata["heads"]["auc_interval"], first.metadata["heads"]["auc_top10_share"]
    first.save(tmp_path / "plain")
    assert main(["compare-heads", str(tmp_path / "plain"), str(tmp_path / "second")]) == 0
    assert "not measured" in capsys.readouterr().out
