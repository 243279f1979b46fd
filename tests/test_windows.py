"""Texts of any length: windows, exact equality for pairs that fit, merging across windows, batches that go on."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mia.alignment.detection import SparseScores, decoded
from mia.alignment.windowed import clip_link, plan_pair, sparse_scores
from mia.cli import main
from mia.detector.detector import Detector
from mia.text.corpus import read_paragraphs, split_sentences
from mia.text.pairs import Pair, token_labels, write_pairs
from mia.text.windows import Window, most_central, plan_windows


def spans_of(lengths: list[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Token spans (one char per token, one space between sentences) and sentence spans for sentence lengths."""
    tokens, sentences, cursor = [], [], 0
    for length in lengths:
        sentences.append((cursor, cursor + length))
        tokens.extend((cursor + k, cursor + k + 1) for k in range(length))
        cursor += length + 1
    return np.array(tokens, dtype=np.int64).reshape(-1, 2), sentences


@pytest.mark.parametrize("lengths", [[5, 7, 3, 9, 4, 6, 8, 2, 10, 5], [12, 30, 4, 4, 4, 25, 1, 1, 9], [50, 3, 60]])
def test_every_sentence_up_to_a_window_lies_whole_in_a_window(lengths):
    size = 20
    tokens, sentences = spans_of(lengths)
    windows = plan_windows(tokens, sentences, size)
    assert all(0 < w.tokens <= size for w in windows)
    assert windows[0].start == 0 and windows[-1].end == len(tokens)
    assert all(later.start <= earlier.end for earlier, later in zip(windows, windows[1:]))  # no gap
    assert all(later.start > earlier.start for earlier, later in zip(windows, windows[1:]))  # progress
    first = 0
    for length in lengths:
        if length <= size:
            assert any(w.start <= first and first + length <= w.end for w in windows), (first, length)
        else:  # a long sentence: pieces at token boundaries, overlapping, covering it
            inside = [w for w in windows if first <= w.start < first + length]
            assert all(w.tokens <= size for w in inside)
            covered = set().union(*(range(max(w.start, first), min(w.end, first + length)) for w in windows))
            assert covered == set(range(first, first + length))
        first += length


def test_windows_overlap_by_a_sentence_and_each_token_has_one_home():
    tokens, sentences = spans_of([6] * 10)
    windows = plan_windows(tokens, sentences, 20)
    assert [(w.start, w.end) for w in windows][:2] == [(0, 18), (12, 30)]  # three sentences, then one back
    home = most_central(windows, len(tokens))
    assert (home >= 0).all() and home[0] == 0 and home[-1] == len(windows) - 1
    assert home[14] == 0 and home[16] == 1  # both in windows 0 and 1: 14 is 3 from an edge of 0, 16 is 4 from one of 1


def test_clip_link_keeps_the_character_copy():
    pair = Pair("x", "xx Hello world yy", "Hello world zz", ((3, 14, 0, 11),))
    clipped = clip_link(pair, pair.links[0], Window(0, 0, 9, 17), Window(0, 0, 0, 14))
    assert clipped == (0, 5, 6, 11)  # "world" in the A window, its copy in the B window
    assert clip_link(pair, pair.links[0], Window(0, 0, 15, 17), Window(0, 0, 0, 14)) is None


def test_window_tokens_map_to_the_whole_texts_tokens_by_index_offset(minilm):
    """A window pair's tokens are slices of its texts' tokens: the map is the window's token range, and the
    characters each mapped token covers are the window token's, moved by the window's start."""
    from mia.alignment.windowed import iter_window_batches

    text = " ".join(read_paragraphs()[:30])
    planned = plan_pair(minilm, Pair("long", text, text.swapcase()), candidates="all")
    assert planned.whole is None and len(planned.window_pairs) > 1
    for indices, items in iter_window_batches(planned, minilm):
        for (i, j), item in zip(indices, items):
            rows, cols = planned.token_maps(i, j, item)
            assert rows[0] == planned.a_windows[i].start and cols[-1] == planned.b_windows[j].end - 1
            np.testing.assert_array_equal(planned.a_spans[rows], item.a_spans + planned.a_windows[i].char_start)
            np.testing.assert_array_equal(planned.b_spans[cols], item.b_spans + planned.b_windows[j].char_start)
    shorter = dataclasses.replace(item, a_spans=item.a_spans[:-1])
    with pytest.raises(ValueError, match="encode window pairs with window_tokens"):
        planned.token_maps(i, j, shorter)


def test_a_pair_that_fits_is_one_window_pair_and_exactly_todays_output(minilm):
    detector = Detector.load("minilm-verbatim")
    words = " ".join(read_paragraphs()[:40]).split()

    def first_tokens(start: int, wanted: int) -> str:
        end = start
        while len(minilm.tokenizer(" ".join(words[start:end]), add_special_tokens=False)["input_ids"]) < wanted:
            end += 1
        return " ".join(words[start:end])

    a, b = first_tokens(0, 100), first_tokens(200, 400)  # 100 + 400 tokens: fits as a whole, however uneven
    planned = plan_pair(minilm, Pair("x", a, b))
    assert planned.whole is not None and planned.window_pairs == [(0, 0)]
    assert len(planned.a_spans) < 110 and 400 <= len(planned.b_spans) < 410
    assert len(planned.b_spans) > planned.sizes[1] // 2 + 100  # longer than B's window if it were cut
    found = detector.detect(minilm, a, b)
    direct = detector.probabilities(minilm.features(Pair("0", a, b)))  # the features path, no windows
    np.testing.assert_allclose(found.probabilities, direct, atol=1e-5)
    assert "windows" not in found.to_dict() and isinstance(found.probabilities, np.ndarray)


def long_pair(minilm, *, factor: float = 3.0) -> Pair:
    """B: consecutive corpus sentences, about ``factor`` model windows long; A: the same sentences shuffled."""
    text = " ".join(read_paragraphs()[20:200])
    sentences = [text[s:e] for s, e in split_sentences(text)]
    b_parts, total = [], 0
    for sentence in sentences:
        if total > factor * minilm.max_length:
            break
        b_parts.append(sentence)
        total += len(minilm.tokenizer(sentence, add_special_tokens=False)["input_ids"])
    order = np.random.default_rng(0).permutation(len(b_parts))
    b = " ".join(b_parts)
    a_parts = [b_parts[k] for k in order]
    a = " ".join(a_parts)
    links, cursor = [], 0
    b_starts = np.cumsum([0] + [len(p) + 1 for p in b_parts])
    for k, part in zip(order, a_parts):
        links.append((cursor, cursor + len(part), int(b_starts[k]), int(b_starts[k]) + len(part)))
        cursor += len(part) + 1
    return Pair("long", a, b, tuple(links))


def test_a_stub_that_scores_the_gold_pairs_gets_every_copied_sentence_back_as_one_phrase(minilm):
    pair = long_pair(minilm)
    planned = plan_pair(minilm, pair)
    assert planned.whole is None and len(planned.a_windows) >= 3 and len(planned.b_windows) >= 3
    size = planned.sizes[0]
    starts = np.searchsorted(planned.a_spans[:, 0], [link[0] for link in pair.links])
    ends = np.searchsorted(planned.a_spans[:, 0], [link[1] for link in pair.links])
    assert any(s // size != (e - 1) // size for s, e in zip(starts, ends))  # a fixed split would cut sentences

    def gold_stub(items):  # a "detector" that scores exactly the gold token pairs of each window pair
        return [token_labels(item.pair, item.a_spans, item.b_spans).astype(np.float32) for item in items]

    scores = sparse_scores(planned, minilm, gold_stub, floor=0.5)
    assert isinstance(scores, SparseScores) and len(scores.values) < 0.05 * np.prod(planned.shape)
    found = decoded(pair, scores, (planned.a_spans, planned.b_spans), threshold=0.5, decode="threshold")
    for la, ra, lb, rb in pair.links:
        covering = [p for p in found.phrases if p.a_start <= la and ra <= p.a_end and p.b_start <= lb and rb <= p.b_end]
        assert len(covering) == 1, pair.a[la:ra]
    gold = token_labels(pair, *found.word_spans)  # the gold word pairs: each linked once, from sparse scores
    assert found.word_pairs() == set(zip(*map(np.ndarray.tolist, np.nonzero(gold))))


def test_generated_pairs_all_run_through_detect(tmp_path, capsys):
    pairs = tmp_path / "p.jsonl"
    assert main(["generate", "--seed", "0", "--limit", "30", "--out", str(pairs)]) == 0
    out = tmp_path / "d.jsonl"
    assert main(["detect", "--pairs", str(pairs), "--format", "jsonl", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 30 and not any("error" in r for r in records)
    windowed = [r for r in records if "windows" in r]
    assert [r["id"] for r in windowed] == ["p36"]  # 553 tokens: run as window pairs, not refused
    settings = windowed[0]["windows"]
    assert settings["rule"].startswith("a token pair's probability is the maximum over the window pairs")
    assert settings["window_pairs_run"] == settings["a_windows"] * settings["b_windows"] > 1
    assert windowed[0]["phrases"] and windowed[0]["links"]


def test_sparse_scores_are_the_dense_maximum_above_the_floor(minilm):
    from mia.alignment.windowed import dense_scores

    detector = Detector.load("minilm-verbatim")
    pair = long_pair(minilm, factor=1.5)
    planned = plan_pair(minilm, pair)
    assert planned.whole is None
    scorer = detector.window_scorer(minilm)
    dense = dense_scores(planned, minilm, scorer)
    sparse = sparse_scores(planned, minilm, scorer, floor=0.1)
    rows, cols = np.nonzero(dense >= 0.1)
    assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(zip(sparse.rows.tolist(), sparse.cols.tolist()))
    np.testing.assert_allclose(sparse.values, dense[sparse.rows, sparse.cols])


def test_a_failing_pair_gets_an_error_record_and_the_batch_goes_on(tmp_path, capsys):
    good = Pair("good", "It rained. We stayed in.", "We stayed in. It rained.")
    long = Pair("empty-long", "word " * 600, "   ")  # too long to fit, and B has no token to window
    write_pairs([good, long], tmp_path / "p.jsonl")
    assert main(["detect", "--pairs", str(tmp_path / "p.jsonl"), "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["id"] for r in records] == ["good", "empty-long"]
    assert records[1]["error"] and "phrases" in records[0]
    assert "1 of 2 pairs failed" in captured.err
    assert main(["detect", "--pairs", str(tmp_path / "p.jsonl"), "--format", "jsonl", "--strict"]) == 2
    write_pairs([long], tmp_path / "bad.jsonl")
    assert main(["detect", "--pairs", str(tmp_path / "bad.jsonl"), "--format", "jsonl"]) == 2


def test_documents_from_files_with_line_numbers_context_and_candidates(tmp_path, minilm, capsys):
    pair = long_pair(minilm, factor=4)
    a_file, b_file = tmp_path / "a.txt", tmp_path / "b.txt"
    a_file.write_text(pair.a.replace(". ", ".\n", 3))
    b_file.write_text(pair.b.replace(". ", ".\n", 3))
    argv = ["detect", "--a-file", str(a_file), "--b-file", str(b_file), "--min-phrase-words", "5"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "window pairs" in text and " line" in text and "A: " in text and "[" in text
    assert main([*argv, "--format", "json", "--candidates", "all"]) == 0
    exhaustive = json.loads(capsys.readouterr().out)
    assert main([*argv, "--format", "json"]) == 0  # sentence candidates, the default
    fewer = json.loads(capsys.readouterr().out)
    assert fewer["windows"]["window_pairs_run"] < exhaustive["windows"]["window_pairs_run"]
    assert exhaustive["windows"]["candidates"] == "all" and fewer["windows"]["candidates"] == "sentences"
    assert fewer["windows"]["candidate_counts"]["sentence_pairs"]["shingles"] > 0
    for phrase in exhaustive["phrases"]:  # character spans of the original files
        assert a_file.read_text()[slice(*phrase["a"])] == phrase["a_text"]
        assert b_file.read_text()[slice(*phrase["b"])] == phrase["b_text"]
    assert exhaustive["phrases"] and fewer["phrases"] and fewer["passages"]


def test_evaluate_and_train_take_long_pairs_as_windows(tmp_path, minilm, capsys):
    pair = long_pair(minilm, factor=2)
    from mia.evaluate.evaluation import evaluate_detector
    from mia.heads.description import DescribeOptions
    from mia.training.training import TrainOptions
    from mia.workflow import train_detector

    evaluation = evaluate_detector(Detector.load("minilm-verbatim"), minilm, [pair])
    assert evaluation.windowed == 1 and evaluation.token_pairs == len(plan_pair(minilm, pair).a_spans) * len(
        plan_pair(minilm, pair).b_spans)
    assert evaluation.token["detector"]["average_precision"] > evaluation.token["same token"]["average_precision"]
    from mia.report.text import evaluation_text

    assert "run as window pairs" in evaluation_text(evaluation)
    short = [Pair(f"s{k}", "It rained. We stayed in.", "We stayed in. It rained.",
                  ((0, 9, 14, 23), (10, 23, 0, 13))) for k in range(4)]
    detector = train_detector(minilm, [pair, *short], TrainOptions(seed=0, offsets=((0, 0),), test_fraction=0.2,
                                                                    validation_fraction=0.2),
                              DescribeOptions(bootstrap=0))  # no head intervals needed here
    data = detector.metadata["data"]
    assert data["windowed_pairs"] == 1 and "skipped_too_long" not in data


def test_window_pairs_scored_while_the_model_runs_equal_the_feature_path(minilm):
    """The default's 9-offset head sums, taken in padded batches of window pairs, give each window pair the
    probabilities its full feature tensor gives (the fast path and the reference path are the same detector)."""
    from mia.alignment.windowed import iter_window_features, iter_window_scores

    detector = Detector.load("minilm-reuse")
    pair = long_pair(minilm, factor=1.5)
    planned = plan_pair(minilm, pair, candidates="all")
    assert planned.whole is None and len(planned.window_pairs) >= 4
    fast = {(i, j): p for i, j, _, p in iter_window_scores(planned, minilm, detector.window_scorer(minilm),
                                                            batch_size=3)}
    reference = {(i, j): detector.probabilities(f) for i, j, f in iter_window_features(planned, minilm)}
    assert fast.keys() == reference.keys()
    for key, probabilities in reference.items():
        np.testing.assert_allclose(fast[key], probabilities, atol=1e-5)
