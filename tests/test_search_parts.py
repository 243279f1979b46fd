"""Corpus search, part by part: documents in, candidates, the index on disk, passages, results files, gold rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mia.alignment.passages import PassageRule, group_phrases, merge_passages
from mia.alignment.sentence_candidates import CandidateOptions
from mia.errors import MiaError
from mia.search.collection import Document, read_documents
from mia.search.collection_candidates import embedding_pairs, shingle_pairs, signatures
from mia.search.index import SearchIndex, add_documents, index_settings, load_index, save_index
from mia.search.results_file import Passage, write_results
from mia_testkit import PlantedPassage, covers_half, longest_common_run, score_search
from tests.optional import need

# --- documents -------------------------------------------------------------------------------------------------


def test_documents_from_a_folder_keep_their_text_exactly(tmp_path: Path):
    (tmp_path / "b.txt").write_bytes("line one\r\nline two\r\n".encode())
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "notes.md").write_text("not a document")
    documents = read_documents(tmp_path)
    assert [d.id for d in documents] == ["a", "b"]
    assert documents[1].text == "line one\r\nline two\r\n"  # offsets index the file as stored


def test_documents_from_jsonl_and_their_errors(tmp_path: Path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "x", "text": "one"}\n\n{"id": 7, "text": "two"}\n')
    assert [(d.id, d.text) for d in read_documents(path)] == [("7", "two"), ("x", "one")]
    path.write_text('{"id": "x", "text": "one"}\n{"id": "x", "text": "two"}\n')
    with pytest.raises(MiaError, match="'x' appears twice"):
        read_documents(path)
    path.write_text('{"id": "x", "text": "one"}\n{"text": 3}\n')
    with pytest.raises(MiaError, match=r"docs.jsonl:2: each line must be a JSON object"):
        read_documents(path)
    with pytest.raises(MiaError, match="no such folder or file"):
        read_documents(tmp_path / "missing")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(MiaError, match="not UTF-8"):
        read_documents(tmp_path)


# --- candidates ------------------------------------------------------------------------------------------------


def test_shingles_find_the_same_sentence_and_not_an_unrelated_one():
    options = CandidateOptions()
    texts = ["The old man walked slowly down to the harbour at dawn.",
             "A completely different sentence about trains and timetables today.",
             "The old man walked slowly down to the harbour at dawn."]
    found = {(q, i) for q, i, _ in shingle_pairs(signatures(texts[:2], options), signatures(texts[2:], options),
                                                 options)}
    assert found == {(0, 0)}


def test_embedding_pairs_keep_close_and_mutual_neighbours():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 16)).astype(np.float32)
    vectors[1] = vectors[0] + 0.05 * rng.normal(size=16)  # a near copy of sentence 0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    options = CandidateOptions(neighbours=2, min_similarity=0.9, mutual_similarity=0.99)
    pairs = {(q, i) for q, i, _ in embedding_pairs(vectors, vectors, options, same=True)}
    assert pairs == {(0, 1), (1, 0)}  # never a sentence with itself; unrelated random vectors stay out
    loose = CandidateOptions(neighbours=2, min_similarity=0.99, mutual_similarity=-1.0)
    mutual = {(q, i) for q, i, _ in embedding_pairs(vectors, vectors, loose, same=True)}
    assert (0, 1) in mutual and all(q != i for q, i in mutual)


# --- passages --------------------------------------------------------------------------------------------------


def test_a_shuffled_block_is_one_passage_and_a_far_phrase_another():
    # three sentences of A (0-90) reused as B 500-590 in the order 3, 1, 2; and a lone phrase far away in both
    phrases = [(0, 28, 530, 558, 8, 0.9), (30, 58, 560, 588, 8, 0.8), (60, 88, 500, 528, 8, 0.95),
               (2000, 2030, 5000, 5030, 9, 0.9)]
    groups = group_phrases(phrases, 300)
    assert sorted(len(g) for g in groups) == [1, 3]
    passages = merge_passages(phrases, PassageRule(gap=300, min_words=12, min_longest=8))
    assert [(p.a_start, p.a_end, p.b_start, p.b_end, p.words) for p in passages] == [(0, 88, 500, 588, 24)]
    assert passages[0].score == pytest.approx((0.9 + 0.8 + 0.95) / 3) and passages[0].phrases == 3
    near = merge_passages(phrases, PassageRule(gap=5000, min_words=1, min_longest=1))
    assert len(near) == 1  # a larger gap joins everything
    close_in_a_only = [(0, 10, 0, 10, 9, 0.9), (20, 30, 4000, 4010, 9, 0.9)]
    assert len(group_phrases(close_in_a_only, 300)) == 2  # close on one side only: two passages


def passage(a_id: str, a: tuple[int, int], b_id: str, b: tuple[int, int]) -> Passage:
    return Passage(a_id, a[0], a[1], b_id, b[0], b[1], 0.9, "x", "y", 20, 2, 10)


def test_results_open_in_pandas_and_pyarrow_without_conversion(tmp_path: Path):
    pd = need("pandas")
    pq = need("pyarrow.parquet")
    passages = [passage("d1", (0, 40), "d2", (10, 50)), passage("d1", (100, 140), "d3", (0, 40))]
    summary = {"passages": 2}
    assert write_results(passages, tmp_path / "r.jsonl", summary) == 2
    assert write_results(passages, tmp_path / "r.parquet", summary) == 2
    from_json = pd.read_json(tmp_path / "r.jsonl", lines=True, dtype={"a_id": str, "b_id": str})
    from_parquet = pd.read_parquet(tmp_path / "r.parquet")
    columns = ["a_id", "a_start", "a_end", "b_id", "b_start", "b_end", "score", "a_text", "b_text"]
    assert list(from_json.columns) == columns and list(from_parquet.columns) == columns
    assert from_parquet["a_start"].dtype == np.int64 and from_parquet["score"].dtype == np.float64
    assert from_parquet.to_dict("records") == from_json.to_dict("records")
    table = pq.read_table(tmp_path / "r.parquet")
    assert json.loads(table.schema.metadata[b"mia"]) == summary
    assert write_results([], tmp_path / "empty.parquet", summary) == 0
    assert pd.read_parquet(tmp_path / "empty.parquet").shape == (0, 9)


# --- gold rules ------------------------------------------------------------------------------------------------


def test_half_coverage_and_precision_rules():
    gold = [PlantedPassage("s", 100, 200, "t", 1000, 1100, False), PlantedPassage("s", 150, 250, "u", 0, 100, True)]
    assert covers_half(("t", 1040, 1200), ("s", 0, 160), gold[0])  # either order, 60% and 60%
    assert not covers_half(("s", 100, 200), ("t", 1000, 1040), gold[0])  # 40% of the target
    found = [passage("s", (90, 210), "t", (990, 1110)),  # the verbatim plant
             passage("t", (1000, 1080), "u", (0, 80)),  # the two targets of overlapping sources: reuse too
             passage("s", (600, 700), "t", (3000, 3100))]  # nothing planted there
    scores = score_search(gold, found, [(("s", 0, 500), ("t", 900, 1400))])
    assert scores["passage_recall"]["verbatim"]["recall"] == 1.0
    assert scores["passage_recall"]["noisy"]["recall"] == 0.0
    assert scores["candidate_recall"]["verbatim"]["found"] == 1 and scores["candidate_recall"]["noisy"]["found"] == 0
    assert scores["passage_precision"]["correct"] == 2 and scores["passage_precision"]["passages"] == 3
    assert longest_common_run("He said: the eyes of Doctor T. J. Eckleburg!", "the eyes of doctor T J Eckleburg") == 7
    assert longest_common_run("a b c", "c b a") == 1


# --- the index -------------------------------------------------------------------------------------------------


def fake_embed(texts):
    """Deterministic unit vectors from the words of texts (given as their tokens, as an index embeds them; no model
    run: the index's bookkeeping is under test)."""
    rows = np.zeros((len(texts), 8), np.float32)
    for n, tokens in enumerate(texts):
        for word in tokens.text.lower().split():
            rows[n, sum(map(ord, word)) % 8] += 1
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-6)


def test_index_round_trip_and_update_by_adding(tmp_path: Path, minilm):
    options = CandidateOptions()
    first = [Document("a", "The first document. It has two sentences."), Document("b", "Another one here.")]
    index, added = add_documents(SearchIndex(index_settings(minilm, options)), first, minilm, options=options,
                                 embed=fake_embed)
    assert added == 2 and len(index.windows) == 2 and len(index.sentences) == 3
    save_index(index, tmp_path / "ix")
    loaded = load_index(tmp_path / "ix")
    for name in ("windows", "sentences", "words", "signatures", "vectors"):
        assert np.array_equal(getattr(loaded, name), getattr(index, name))
    assert loaded.documents == index.documents and loaded.settings == index.settings
    more, added = add_documents(loaded, [first[0], Document("c", "A third text, new.")], minilm, options=options,
                                embed=fake_embed)
    assert added == 1 and more.ids == ["a", "b", "c"]
    assert np.array_equal(more.signatures[:3], index.signatures) and np.array_equal(more.vectors[:3], index.vectors)
    assert more.sentences[3, 0] == 2 and more.sentences[3, 3] == 2  # the new sentence: document 2, window 2
    with pytest.raises(MiaError, match="'a' is in the index with another text"):
        add_documents(more, [Document("a", "changed")], minilm, options=options, embed=fake_embed)
    with pytest.raises(MiaError, match="holds embeddings"):  # every sentence row keeps its vector
        add_documents(more, [Document("d", "Yet another.")], minilm, options=options, embed=None)
    bare, _ = add_documents(SearchIndex(index_settings(minilm, options)), first, minilm, options=options, embed=None)
    assert bare.vectors is None
    later, _ = add_documents(bare, [Document("c", "A third text, new.")], minilm, options=options, embed=fake_embed)
    assert np.array_equal(later.vectors, more.vectors)  # the sentences already there were embedded too
    arrays = tmp_path / "ix" / json.loads((tmp_path / "ix" / "index.json").read_text())["files"]["arrays"]
    arrays.write_bytes(arrays.read_bytes()[:-10])
    with pytest.raises(MiaError, match="does not match index.json"):
        load_index(tmp_path / "ix")
    with pytest.raises(MiaError, match="not a mia index"):
        load_index(tmp_path)
