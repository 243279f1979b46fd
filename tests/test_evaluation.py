import json

import numpy as np
import pytest

from mia.cli import main
from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.evaluate.evaluation import alignment_error_rate, evaluate_detector, word_counts
from mia.text.alignments import import_alignments
from mia.text.pairs import Pair, read_pairs, token_labels, write_pairs
from mia.text.words import word_spans


def test_aer_by_hand():
    # S = {(0,0), (1,1)}, P = S + {(1,2)}; A = {(0,0), (1,2), (2,2)}
    sure = np.zeros((3, 3), dtype=bool)
    sure[0, 0] = sure[1, 1] = True
    possible = sure.copy()
    possible[1, 2] = True
    predicted = np.zeros((3, 3), dtype=bool)
    predicted[0, 0] = predicted[1, 2] = predicted[2, 2] = True
    counts = word_counts(predicted, sure, possible)
    # |A&S| = 1, |A&P| = 2, |A| = 3, |S| = 2: AER = 1 - 3/5
    aer = alignment_error_rate(counts.predicted, counts.sure, counts.hit_sure, counts.hit_possible)
    assert aer == pytest.approx(0.4)
    assert counts.metrics(with_aer=True) == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "aer": 0.4})


def test_word_gold_follows_the_link_rule():
    a, b = "the cat sat. the dog ran.", "the dog ran. the cat sat."
    verbatim = Pair("v", a, b, ((0, 12, 13, 25),))
    gold = token_labels(verbatim, word_spans(a), word_spans(b))
    assert np.argwhere(gold).tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]  # "the" at B[0] is not linked
    aligned = Pair("n", "big house", "large home", ((0, 9, 0, 10),))
    assert token_labels(aligned, word_spans(aligned.a), word_spans(aligned.b)).all()


def test_evaluate_leaves_out_training_pairs(trained_detector_dir, minilm, small_pairs):
    detector = Detector.load(trained_detector_dir)
    trained = [p for p in small_pairs if p.id not in detector.metadata["split"]["test_ids"]]
    with pytest.raises(MiaError, match="not a result"):
        evaluate_detector(detector, minilm, trained[:3])
    test_ids = set(detector.metadata["split"]["test_ids"])
    held_out = [p for p in small_pairs if p.id in test_ids][:3]
    evaluation = evaluate_detector(detector, minilm, trained[:3] + held_out)
    assert evaluation.pairs == 3 and evaluation.excluded_trained == 3
    assert set(evaluation.word) == {"detector", "same word", "run of >= 3 words", "longest matching blocks",
                                    "greedy string tiling (>= 3)", "embedding argmax (layer 3)"}  # the middle layer
    assert evaluation.word["greedy string tiling (>= 3)"]["f1"] > 0.9
    assert not evaluation.with_aer


def test_trainings_card_from_the_shared_pass_equals_its_own_evaluation(trained_detector_dir, minilm, small_pairs):
    """`train` takes the test pairs' probabilities from the pass that describes the heads; its card is what
    `evaluate` prints for the same pairs, which runs them itself."""
    detector = Detector.load(trained_detector_dir)
    test_ids = detector.metadata["split"]["test_ids"]
    test_pairs = [pair for pair in small_pairs if pair.id in set(test_ids)]
    assert len(test_pairs) == len(test_ids) >= 2
    own = evaluate_detector(detector, minilm, test_pairs, decode=detector.decode)
    assert json.loads(json.dumps(own.card())) == detector.metadata["metrics"]
    wrong = {test_pairs[0].id: np.zeros((1, 1), np.float32)}
    with pytest.raises(ValueError, match="whole_probabilities of pair"):
        evaluate_detector(detector, minilm, test_pairs[:1], whole_probabilities=wrong)


def test_evaluate_cli_text_and_json(trained_detector_dir, small_pairs, tmp_path, capsys):
    detector = Detector.load(trained_detector_dir)
    held_out = [p for p in small_pairs if p.id in set(detector.metadata["split"]["test_ids"])]
    path = tmp_path / "held.jsonl"
    write_pairs(held_out, path)
    assert main(["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path)]) == 0
    text = capsys.readouterr().out
    assert "token level" in text and "word level" in text and "greedy string tiling" in text
    assert main(["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == len(held_out)
    assert len(result["per_pair"]) == len(held_out)
    assert {"detector", "same word"} <= set(result["per_pair"][0])
    assert result["token_level"]["scorers"]["detector"]["average_precision"] > 0.3
    assert result["word_level"]["floors"] == {"pairs that fit the model": 0.05, "window pairs": 0.05}


def test_a_pair_too_large_to_measure_is_left_out_and_said(trained_detector_dir, minilm, small_pairs, tmp_path,
                                                          capsys, monkeypatch):
    """A pair with more word (or token) pairs than evaluation holds as dense matrices does not stop the others: it is
    left out before the model runs, named with its sizes in the text and the JSON, and the numbers are those of the
    pairs measured; when no pair can be measured, a one-line error (exit 2)."""
    import mia.evaluate.evaluation as evaluation_module

    detector = Detector.load(trained_detector_dir)
    held_out = [p for p in small_pairs if p.id in set(detector.metadata["split"]["test_ids"])]
    words = [len(word_spans(p.a)) * len(word_spans(p.b)) for p in held_out]
    tokens = [len(e.a_spans) * len(e.b_spans) for e in map(minilm.encode, held_out)]
    sizes = [max(pair) for pair in zip(words, tokens)]
    big = held_out[int(np.argmax(sizes))]
    path = tmp_path / "held.jsonl"
    write_pairs(held_out, path)
    assert main(["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path), "--format", "json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["not_measured_pairs"] == []

    monkeypatch.setattr(evaluation_module, "MAX_CELLS", max(s for s in sizes if s < max(sizes)) + 1)
    assert sizes.count(max(sizes)) == 1 and max(sizes) > evaluation_module.MAX_CELLS  # one pair over the limit
    assert main(["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == len(held_out) - 1
    assert [item["id"] for item in result["not_measured_pairs"]] == [big.id]
    reason = result["not_measured_pairs"][0]["reason"]
    assert "words" in reason and "tokens" in reason and "--gold passages" in reason
    assert big.id not in {row["id"] for row in result["per_pair"]}
    assert result["word_level"]["word_pairs"] == whole["word_level"]["word_pairs"] - words[int(np.argmax(sizes))]
    assert main(["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path)]) == 0
    text = capsys.readouterr().out
    assert f"1 pair not measured (not in the numbers below):\n  {big.id}: {reason}" in text

    monkeypatch.setattr(evaluation_module, "MAX_CELLS", 1)
    assert main(["evaluate", "--detector", str(trained_detector_dir), "--pairs", str(path)]) == 2
    error = capsys.readouterr().err
    assert "none of the" in error and "could be measured" in error and "Traceback" not in error


def make_alignment_set(tmp_path, paragraphs, *, sentences=12):
    """Pharaoh files for sentence pairs whose B repeats A's words with two halves swapped."""
    a_lines, b_lines, links, possible = [], [], [], []
    for text in paragraphs[:sentences]:
        words = text.split()[:16]
        half = len(words) // 2
        a_lines.append(" ".join(words))
        b_lines.append(" ".join(words[half:] + words[:half]))
        pos = {i: (i - half if i >= half else i + len(words) - half) for i in range(len(words))}
        links.append(" ".join(f"{i}-{pos[i]}" for i in range(len(words)) if i % 5))
        possible.append(" ".join(f"{i}p{pos[i]}" for i in range(len(words)) if i % 5 == 0))
    for name, lines in (("a.txt", a_lines), ("b.txt", b_lines), ("ab.txt", links), ("p.txt", possible)):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    return tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "ab.txt", tmp_path / "p.txt"


def test_pharaoh_round_trip(tmp_path, capsys):
    from mia.text.corpus import read_paragraphs

    a, b, ab, p = make_alignment_set(tmp_path, read_paragraphs(), sentences=24)
    pairs_path = tmp_path / "aligned.jsonl"
    assert main(["import-alignments", "--a", str(a), "--b", str(b), "--alignments", str(ab),
                 "--possible", str(p), "--out", str(pairs_path)]) == 0
    pairs = read_pairs(pairs_path)
    assert len(pairs) == 24 and all(pair.possible for pair in pairs)
    assert pairs == import_alignments(a, b, ab, possible_path=p)

    out = tmp_path / "aligned-det"
    assert main(["train", "--pairs", str(pairs_path), "--out", str(out), "--relation", "swapped halves"]) == 0
    meta = json.loads((out / "detector.json").read_text())
    assert meta["relation"] == "swapped halves" and meta["data"]["pairs_file"] == str(pairs_path)
    capsys.readouterr()

    assert main(["detect", "--detector", str(out), "--pairs", str(pairs_path), "--format", "pharaoh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(pairs)
    predicted = [{tuple(map(int, link.split("-"))) for link in line.split()} for line in lines]
    sure = [{tuple(map(int, link.split("-"))) for link in line.split()} for line in ab.read_text().splitlines()]
    possible = [s | {tuple(map(int, link.split("p"))) for link in line.split()}
                for s, line in zip(sure, p.read_text().splitlines())]
    for links, pair in zip(predicted, pairs):
        assert all(i < len(pair.a.split()) and j < len(pair.b.split()) for i, j in links)
    found = sum(len(links & gold) for links, gold in zip(predicted, sure))
    assert found / sum(map(len, sure)) > 0.5 and found / sum(map(len, predicted)) > 0.5

    test_ids = set(meta["split"]["test_ids"])
    held = tmp_path / "held.jsonl"
    write_pairs([pair for pair in pairs if pair.id in test_ids], held)
    assert main(["evaluate", "--detector", str(out), "--pairs", str(held), "--words", "whitespace",
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # the same word links as detect --format pharaoh (one Detection.word_links), counted by hand on held-out pairs
    held_at = [k for k, pair in enumerate(pairs) if pair.id in test_ids]
    a_count = sum(len(predicted[k]) for k in held_at)
    s_count = sum(len(sure[k]) for k in held_at)
    hit_sure = sum(len(predicted[k] & sure[k]) for k in held_at)
    hit_possible = sum(len(predicted[k] & possible[k]) for k in held_at)
    scorer = result["word_level"]["scorers"]["detector"]
    assert scorer["precision"] == pytest.approx(hit_sure / a_count)
    assert scorer["recall"] == pytest.approx(hit_sure / s_count)
    assert scorer["aer"] == pytest.approx(1 - (hit_sure + hit_possible) / (a_count + s_count))
