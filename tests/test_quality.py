"""Detection quality pieces: noisy copies, alignment decoding, phrase merging, phrase and per-pair metrics."""

from __future__ import annotations

import numpy as np
import pytest

from mia.alignment.decoding import decode, itermax, mutual_argmax
from mia.alignment.detection import diagonal_runs, merge_runs
from mia.errors import MiaError
from mia.evaluate.evaluation import pair_precision_recall
from mia.evaluate.phrases import PhraseCounts, gold_phrases
from mia.text.corpus import read_paragraphs, split_sentences
from mia.text.noise import EVALUATION_NOISE, Noise, corpus_vocabulary, noisy_copy_pair
from mia.text.pairs import Pair


def noisy(noise: Noise, seed: int = 0) -> Pair:
    paragraph = read_paragraphs()[3]
    pair = noisy_copy_pair(paragraph, split_sentences(paragraph), np.random.default_rng(seed), pair_id="n",
                           noise=noise, vocabulary=corpus_vocabulary(read_paragraphs()),
                           extra=["unrelated words here and there"])
    assert pair is not None
    return pair


def test_noisy_copy_links_each_surviving_word_to_its_copy():
    pair = noisy(EVALUATION_NOISE)
    b_words = pair.b.split()
    assert all(pair.a[a0:a1] == pair.b[b0:b1] for a0, a1, b0, b1 in pair.links)
    surviving = len(pair.links) / len(b_words)
    assert 0.65 < surviving < 0.9  # about 80% survive deletion and substitution
    assert len({(b0, b1) for _, _, b0, b1 in pair.links}) == len(pair.links)  # each B word copied at most once
    for a0, a1, b0, b1 in pair.phrases:  # one gold phrase per copied sentence: its words in A, the sentence in B
        assert pair.a[a0:a1] and pair.b[b0:b1].strip() == pair.b[b0:b1]
    assert len(pair.phrases) == len(split_sentences(pair.b))


def test_noise_rates_are_used_and_checked():
    clean = noisy(Noise(substitute=0, delete=0, insert=0, swap=0))
    assert len(clean.links) == len(clean.b.split()) and sorted(clean.a.split()) == sorted(clean.b.split())
    heavy = noisy(Noise(substitute=0.5, delete=0.3, insert=0.0, swap=0.0))
    assert len(heavy.links) < 0.4 * len(heavy.b.split())
    extra = noisy(Noise(substitute=0, delete=0, insert=0, swap=0, extra_sentences=1.0))
    assert "unrelated words here and there" in extra.a
    with pytest.raises(MiaError, match="between 0 and 1"):
        Noise(substitute=1.5)
    assert noisy(EVALUATION_NOISE, seed=3) == noisy(EVALUATION_NOISE, seed=3)


def test_generate_noisy_and_mixed(tmp_path):
    from mia.cli import main
    from mia.text.pairs import read_pairs

    assert main(["generate", "--copies", "mixed", "--limit", "6", "--out", str(tmp_path / "m.jsonl")]) == 0
    pairs = read_pairs(tmp_path / "m.jsonl")
    shuffled = [p for p in pairs if not p.phrases]
    noisy_pairs = [p for p in pairs if p.phrases]
    assert len(shuffled) == len(noisy_pairs) == 3
    assert main(["generate", "--copies", "noisy", "--substitute", "0.4", "--limit", "3",
                 "--out", str(tmp_path / "n.jsonl")]) == 0
    heavy = read_pairs(tmp_path / "n.jsonl")
    assert 0.4 < sum(len(p.links) for p in heavy) / sum(len(p.b.split()) for p in heavy) < 0.7  # about 55% survive


def test_mutual_argmax_and_itermax():
    scores = np.array([[0.9, 0.8, 0.0],
                       [0.85, 0.1, 0.0],
                       [0.0, 0.0, 0.05]])
    assert mutual_argmax(scores).tolist() == [[True, False, False], [False, False, False], [False, False, True]]
    # row 1 and column 1 are left out by mutual argmax; in itermax's second round each may take a partner that is
    # already aligned, discounted (0.85 x 0.9 and 0.8 x 0.9 beat 0.1): SimAlign's many-to-one links
    assert itermax(scores).astype(int).tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 1]]
    assert decode(scores, "mutual-argmax", 0.5, floor=0.1).sum() == 1  # the 0.05 cell is under the floor
    assert decode(scores, "threshold", 0.5).sum() == 3


def test_phrases_join_runs_across_small_gaps_and_offsets():
    linked = np.zeros((12, 12), dtype=bool)
    for i in range(4):
        linked[i, i] = True  # a run
    for i in range(5, 8):
        linked[i, i + 1] = True  # one word changed in A, one inserted in B: skip 1 and 2
    linked[11, 3] = True  # far away: its own phrase
    runs = diagonal_runs(linked)
    assert len(runs) == 3
    merged = merge_runs(runs, gap=3)
    assert sorted(len(p) for p in merged) == [1, 7]
    assert merge_runs(runs, gap=0) == runs


def test_phrase_metrics_by_hand():
    pair = Pair("x", "aaaa bbbb cccc", "cccc aaaa bbbb", phrases=((0, 9, 5, 14), (10, 14, 0, 4)))
    gold = gold_phrases(pair)
    assert gold == [(0, 9, 5, 14), (10, 14, 0, 4)]
    counts = PhraseCounts()
    counts.add([(0, 9, 5, 14), (10, 13, 0, 3), (0, 4, 0, 4)], gold)  # found, too short to cover, wrong
    assert (counts.found, counts.gold, counts.correct, counts.predicted) == (1, 2, 2, 3)
    adjacent = Pair("y", "aaaa bbbb", "aaaa bbbb", links=((0, 4, 0, 4), (5, 9, 5, 9)))
    assert gold_phrases(adjacent) == [(0, 9, 0, 9)]  # adjacent on both sides: one passage


def test_per_pair_protocol_counts_empty_pairs():
    gold = np.array([[True, False], [False, False]])
    assert pair_precision_recall(np.array([[True, True], [False, False]]), gold) == (0.5, 1.0)
    none = np.zeros((2, 2), bool)
    assert pair_precision_recall(none, none) == (1.0, 1.0)
    assert pair_precision_recall(none, gold) == (0.0, 0.0)
    assert pair_precision_recall(gold, none) == (0.0, 0.0)
