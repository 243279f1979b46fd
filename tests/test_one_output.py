"""One detector, one output, one number: what ``detect`` prints is what ``evaluate`` measures.

An independent scorer (written here, from the pair-file rule, not mia's evaluation code) reads ``detect --format
jsonl`` output and must reproduce ``evaluate``'s word-level figure exactly, on short pairs and on a pair run as
window pairs; Pharaoh output and JSONL links name the same word pairs; ``train`` records and prints the same
headline measure ``evaluate`` leads with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mia.cli import main
from mia.text.corpus import read_paragraphs
from mia.text.pairs import Pair, generate_pairs, read_pairs, token_labels, write_pairs
from mia.text.words import word_spans


@pytest.fixture(scope="module")
def pair_file(tmp_path_factory) -> Path:
    """Six generated pairs (seed 11, not the shipped detector's) and one pair longer than the model."""
    paragraphs = read_paragraphs()
    pairs, _ = generate_pairs(paragraphs, seed=11, limit=6)
    long_b = " ".join(paragraphs[40:52])  # about 1,300 tokens: runs as window pairs
    sentences = [s.strip() + "." for s in long_b.split(". ") if s.strip()]
    long_a = " ".join(reversed(sentences))
    links = []
    for sentence in sentences:
        b0, a0 = long_b.find(sentence.rstrip(".")), long_a.find(sentence.rstrip("."))
        size = len(sentence.rstrip("."))
        if b0 >= 0 and a0 >= 0:
            links.append((a0, a0 + size, b0, b0 + size))
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    write_pairs([*pairs, Pair("long", long_a, long_b, tuple(links))], path)
    return path


def score_links(records: list[dict], pairs: dict[str, Pair], scheme: str) -> dict[str, float]:
    """Micro-averaged word P/R/F1 of the links in ``detect`` records, by the pair-file rule (independent of mia's
    evaluation module: link spans are looked up among the texts' words, gold word pairs follow token_labels)."""
    predicted = gold = hits = 0
    for record in records:
        pair = pairs[record["id"]]
        a_words, b_words = word_spans(pair.a, scheme), word_spans(pair.b, scheme)
        a_index = {(int(s), int(e)): i for i, (s, e) in enumerate(a_words)}
        b_index = {(int(s), int(e)): j for j, (s, e) in enumerate(b_words)}
        linked = {(a_index[(a0, a1)], b_index[(b0, b1)]) for a0, a1, b0, b1, _ in record["links"]}
        truth = token_labels(pair, a_words, b_words)
        predicted += len(linked)
        gold += int(truth.sum())
        hits += sum(bool(truth[i, j]) for i, j in linked)
    precision, recall = hits / predicted, hits / gold
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


@pytest.mark.parametrize("scheme", ["regex", "whitespace"])
def test_detect_output_scored_independently_is_evaluates_figure(pair_file, tmp_path, capsys, scheme):
    pairs = {pair.id: pair for pair in read_pairs(pair_file)}
    out = tmp_path / "found.jsonl"
    assert main(["detect", "--pairs", str(pair_file), "--format", "jsonl", "--words", scheme, "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == list(pairs) and all("error" not in r for r in records)
    assert records[-1]["windows"]["window_pairs_run"] > 1  # the long pair ran as window pairs
    assert all(r["decode"] == "mutual-argmax" and r["words"] == scheme for r in records)
    capsys.readouterr()
    assert main(["evaluate", "--pairs", str(pair_file), "--words", scheme, "--format", "json",
                 "--include-trained"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["pairs"] == len(pairs) and evaluation["windowed_pairs"] == 1
    measured = evaluation["word_level"]["scorers"]["detector"]
    independent = score_links(records, pairs, scheme)
    for key in ("precision", "recall", "f1"):
        assert independent[key] == pytest.approx(measured[key], abs=1e-12)
    # phrases are built from the links: every phrase's two spans are covered by links inside it
    for record in records:
        for phrase in record["phrases"]:
            (a0, a1), (b0, b1) = phrase["a"], phrase["b"]
            inside = [link for link in record["links"] if a0 <= link[0] and link[1] <= a1 and b0 <= link[2]
                      and link[3] <= b1]
            assert len(inside) >= phrase["words"]


def test_pharaoh_lines_and_jsonl_links_name_the_same_word_pairs(pair_file, tmp_path, capsys):
    pairs = read_pairs(pair_file)
    assert main(["detect", "--pairs", str(pair_file), "--format", "pharaoh"]) == 0
    lines = capsys.readouterr().out.split("\n")[:-1]
    assert len(lines) == len(pairs)
    assert main(["detect", "--pairs", str(pair_file), "--format", "jsonl", "--words", "whitespace"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for pair, line, record in zip(pairs, lines, records):
        a_words, b_words = word_spans(pair.a, "whitespace"), word_spans(pair.b, "whitespace")
        a_index = {tuple(map(int, span)): i for i, span in enumerate(a_words)}
        b_index = {tuple(map(int, span)): j for j, span in enumerate(b_words)}
        from_jsonl = {(a_index[(a0, a1)], b_index[(b0, b1)]) for a0, a1, b0, b1, _ in record["links"]}
        from_pharaoh = {tuple(map(int, link.split("-"))) for link in line.split()}
        assert from_jsonl == from_pharaoh
    assert main(["detect", "--pairs", str(pair_file), "--format", "pharaoh", "--words", "regex"]) == 2


def test_token_links_are_a_separate_field(capsys):
    assert main(["detect", "--a", "It rained. We stayed in.", "--b", "We stayed in. It rained.", "--format", "json",
                 "--token-links"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["token_links"] and record["links"] and record["threshold"] > 0
    assert all(p >= record["threshold"] for *_, p in record["token_links"])
    words = {(a0, a1) for a0, a1, *_ in record["links"]}
    assert words == {tuple(map(int, s)) for s in word_spans("It rained. We stayed in.", "regex")}  # every word


def test_train_records_and_prints_the_headline_evaluate_leads_with(tmp_path, capsys):
    pairs = tmp_path / "p.jsonl"
    assert main(["generate", "--out", str(pairs), "--limit", "12", "--seed", "3"]) == 0
    out = tmp_path / "d"
    assert main(["train", "--pairs", str(pairs), "--out", str(out), "--offsets", "pair", "--bootstrap", "0"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "detector.json").read_text())["metrics"]
    assert printed.splitlines()[0].startswith("word F1 ") and "greedy string tiling" in printed.splitlines()[0]
    assert set(metrics["word_level"]) >= {"detector", "same word", "run of >= 3 words", "greedy string tiling (>= 3)"}
    assert metrics["decode"] == "mutual-argmax" and "token_level" in metrics
    # evaluate on the detector's own test pairs gives the figure the detector records, and leads with the same line
    test_ids = set(json.loads((out / "detector.json").read_text())["split"]["test_ids"])
    held = tmp_path / "held.jsonl"
    write_pairs([p for p in read_pairs(pairs) if p.id in test_ids], held)
    assert main(["evaluate", "--detector", str(out), "--pairs", str(held)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == printed.splitlines()[0]
    assert f"{metrics['word_level']['detector']['f1']:.3f}" in first
    assert np.isfinite(metrics["token_level"]["detector"]["average_precision"])
