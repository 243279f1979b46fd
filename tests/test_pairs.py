import json

import numpy as np
import pytest

from mia.errors import MiaError
from mia.text.pairs import Pair, generate_pairs, read_pairs, shuffled_copy_pair, token_labels, write_pairs


def spans_of(text: str, tokens: list[str]) -> np.ndarray:
    """Character spans of ``tokens`` found left to right in ``text``."""
    spans, cursor = [], 0
    for token in tokens:
        start = text.index(token, cursor)
        spans.append((start, start + len(token)))
        cursor = start + len(token)
    return np.array(spans)


def test_shuffled_copy_never_keeps_the_original_order():
    paragraph = "One is here. Two is there."
    for seed in range(20):
        pair = shuffled_copy_pair(paragraph, [(0, 12), (13, 26)], np.random.default_rng(seed), pair_id="x")
        assert pair.a == "Two is there. One is here."


def test_generated_links_join_identical_sentences():
    paragraphs = ["A first sentence. A second one! And a third? Yes, a fourth.", "Only one sentence here."]
    pairs, summary = generate_pairs(paragraphs, seed=3)
    assert summary.to_dict() == {"paragraphs": 2, "pairs": 1, "skipped_single_sentence": 1}
    pair = pairs[0]
    assert pair.b == paragraphs[0] and pair.a != pair.b
    assert sorted(pair.a.split()) == sorted(pair.b.split())
    assert len(pair.links) == 4
    for a0, a1, b0, b1 in pair.links:
        assert pair.a[a0:a1] == pair.b[b0:b1]


def test_generation_is_reproducible_and_independent_of_jobs():
    paragraphs = [f"Sentence {i} one. Sentence {i} two. Sentence {i} three. Four {i}." for i in range(300)]
    first, _ = generate_pairs(paragraphs, seed=7)
    again, _ = generate_pairs(paragraphs, seed=7, n_jobs=2)
    other, _ = generate_pairs(paragraphs, seed=8)
    assert first == again
    assert first != other


def test_limit_caps_pairs():
    pairs, summary = generate_pairs(["The dog ran. The cat sat."] * 3, limit=2)
    assert [p.id for p in pairs] == ["p0", "p1"] and summary.pairs == 2


def test_pair_file_round_trip(tmp_path):
    pairs = [Pair("x", "ab", "ba", ((0, 1, 1, 2),)), Pair("y", "c", "c", ())]
    write_pairs(pairs, tmp_path / "p.jsonl")
    assert read_pairs(tmp_path / "p.jsonl") == pairs
    assert json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0]) == {
        "id": "x", "a": "ab", "b": "ba", "links": [[0, 1, 1, 2]]}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"id": "x", "a": 1, "b": "y", "links": []}', '"a" must be a string'),
        ('{"id": "x", "a": "ab", "b": "y", "links": [[0, 5, 0, 1]]}', "outside the texts"),
        ('{"id": "x", "a": "ab", "b": "y", "links": [[0, 1, 0]]}', "is not"),
    ],
)
def test_bad_pair_line_names_its_line_number(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "ok", "a": "a", "b": "b", "links": []}\n' + line + "\n")
    with pytest.raises(MiaError, match=rf"p\.jsonl:2: .*{message}"):
        read_pairs(path)


def test_labels_follow_verbatim_links_only():
    # B = "the cat sat . the dog ran ."  A = "the dog ran . the cat sat ."
    b = "the cat sat. the dog ran."
    a = "the dog ran. the cat sat."
    pair = Pair("x", a, b, ((0, 12, 13, 25), (13, 25, 0, 12)))
    tokens = ["the", "dog", "ran", ".", "the", "cat", "sat", "."]
    a_spans = spans_of(a, tokens)
    b_spans = spans_of(b, ["the", "cat", "sat", ".", "the", "dog", "ran", "."])
    labels = token_labels(pair, a_spans, b_spans)
    expected = np.zeros((8, 8), dtype=bool)
    for i in range(4):
        expected[i, 4 + i] = True  # "the dog ran ." copied from B's second sentence
        expected[4 + i, i] = True  # "the cat sat ." copied from B's first sentence
    assert (labels == expected).all()
    # "the" of A's first sentence also occurs at B[0], outside its copied sentence: not linked
    assert not labels[0, 0]


def test_labels_ignore_leading_space_of_byte_level_tokens():
    a, b = "Hello world", "world Hello"
    pair = Pair("x", a, b, ((0, 5, 6, 11), (6, 11, 0, 5)))
    # byte-level BPE gives " world" (with its space) in A and "world" in B; spans are stripped
    from mia.models.encoding import strip_spans

    a_spans = strip_spans(a, [(0, 5), (5, 11)])
    b_spans = strip_spans(b, [(0, 5), (5, 11)])
    assert a_spans.tolist() == [[0, 5], [6, 11]]
    labels = token_labels(pair, a_spans, b_spans)
    assert labels.tolist() == [[False, True], [True, False]]


def test_labels_link_overlapping_tokens_when_splits_differ():
    a, b = "Gatsby smiled", "Gatsby smiled"
    pair = Pair("x", a, b, ((0, 13, 0, 13),))
    a_spans = np.array([[0, 3], [3, 6], [7, 13]])  # "Gat" "sby" "smiled"
    b_spans = np.array([[0, 6], [7, 13]])  # "Gatsby" "smiled"
    assert token_labels(pair, a_spans, b_spans).tolist() == [[True, False], [True, False], [False, True]]


def test_non_verbatim_link_joins_every_overlapping_token():
    a, b = "big house here", "a large home"
    pair = Pair("x", a, b, ((0, 9, 2, 12),))  # "big house" ~ "large home"
    a_spans = spans_of(a, ["big", "house", "here"])
    b_spans = spans_of(b, ["a", "large", "home"])
    labels = token_labels(pair, a_spans, b_spans)
    assert labels.tolist() == [[False, True, True], [False, True, True], [False, False, False]]


# --- pairs planted inside documents ------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), words=st.integers(1, 600), copies=st.sampled_from(["shuffled", "mixed"]))
def test_a_pair_planted_in_documents_keeps_its_links_and_shares_nothing_else(seed, words, copies):
    from mia.text.corpus import read_paragraphs
    from mia.training.data import generated_data

    plain = generated_data(None, seed=seed % 1000, limit=6, copies=copies).pairs
    planted = generated_data(None, seed=seed % 1000, limit=6, copies=copies, documents=1.0,
                             document_words=words).pairs
    paragraphs = {p.strip() for p in read_paragraphs(None)}
    assert [p.id for p in plain] == [p.id for p in planted]
    for before, after in zip(plain, planted):
        a_shift, b_shift = after.a.index(before.a), after.b.index(before.b)
        assert len(after.a.split()) >= len(before.a.split()) + min(words, 1)
        assert len(after.links) == len(before.links) and after.links
        for (a0, a1, b0, b1), (c0, c1, d0, d1) in zip(before.links, after.links):
            assert after.a[c0:c1] == before.a[a0:a1] and after.b[d0:d1] == before.b[b0:b1]
            assert (c0 - a0, d0 - b0) == (a_shift, b_shift)
        hosts_a = set(after.a.replace(before.a, "").split("\n\n")) & paragraphs
        hosts_b = set(after.b.replace(before.b, "").split("\n\n")) & paragraphs
        assert hosts_a and hosts_b and not hosts_a & hosts_b and before.b.strip() not in hosts_a | hosts_b


def test_documents_share_is_recorded_and_made_again(tmp_path):
    from mia.training.data import generated_data, held_out_pairs

    data = generated_data(None, seed=3, limit=10, copies="mixed", documents=0.5)
    assert data.record["documents"]["pairs"] == 5
    longer = [p for p, q in zip(data.pairs, generated_data(None, seed=3, limit=10, copies="mixed").pairs)
              if len(p.a) > len(q.a)]
    assert len(longer) == 5
    ids = [p.id for p in data.pairs[:4]]
    again = held_out_pairs({"data": data.record, "split": {"test_ids": ids}})
    assert [p.to_dict() for p in again] == [p.to_dict() for p in data.pairs[:4]]


def test_documents_is_refused_with_a_pair_file(tmp_path, capsys):
    from mia.cli import main

    path = tmp_path / "p.jsonl"
    write_pairs([Pair("x", "One. Two.", "Two. One.", ((0, 4, 5, 9),))], path)
    assert main(["train", "--pairs", str(path), "--documents", "0.5", "--out", str(tmp_path / "d")]) == 2
    assert "--documents" in capsys.readouterr().err and not (tmp_path / "d").exists()


@given(st.integers(min_value=0, max_value=10**12), st.text(max_size=12))
def test_a_generated_pair_id_names_its_paragraph_and_no_other_id_does(index: int, other: str):
    import re

    from mia.text.pairs import generated_paragraph

    assert generated_paragraph(f"p{index}") == index
    assert generated_paragraph(f"q{index}", id_prefix="q") == index
    expected = int(other[1:]) if re.fullmatch(r"p[0-9]+", other) else -1
    assert generated_paragraph(other) == expected
    assert generated_paragraph(f"{other}x") == -1 and generated_paragraph(f"p{index}-1") == -1


def test_generated_pairs_name_their_paragraphs():
    from mia.text.corpus import read_paragraphs
    from mia.text.pairs import generated_paragraph

    paragraphs = read_paragraphs()
    pairs, _ = generate_pairs(paragraphs, seed=0, limit=5)
    for pair in pairs:
        assert pair.b == paragraphs[generated_paragraph(pair.id)]
