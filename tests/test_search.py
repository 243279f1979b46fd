"""Corpus search end to end: planted passages found, each pair of documents once, the CLI, the index reused and
updated, and the same passages from worker processes and from a local 2-worker Ray cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mia.cli import main
from mia.detector.detector import Detector
from mia.detector.folder import resolve_detector
from mia.search.search import SearchResult, search_documents
from mia.text.corpus import read_paragraphs
from mia_testkit import found_gold, passage_spans, plant_reuse
from tests.optional import need


@pytest.fixture(scope="module")
def planted():
    """8 documents of the packaged corpus with 3 verbatim (shuffled) planted passages."""
    documents, gold = plant_reuse(read_paragraphs(), documents=8, passages=3, words=120, noisy_share=0.0, seed=1)
    return [(d["id"], d["text"]) for d in documents], gold


@pytest.fixture(scope="module")
def in_process(planted) -> SearchResult:
    return search_documents(planted[0], device="cpu")


def key(result: SearchResult) -> list[tuple]:
    return [(p.a_id, p.a_start, p.a_end, p.b_id, p.b_start, p.b_end, round(p.score, 4)) for p in result.passages]


def test_search_finds_every_planted_passage_once_per_pair(planted, in_process):
    documents, gold = planted
    assert all(found_gold(gold, passage_spans(in_process.passages)))
    assert all(p.a_id < p.b_id for p in in_process.passages)  # never with itself; each unordered pair once
    texts = dict(documents)
    for p in in_process.passages:
        assert texts[p.a_id][p.a_start:p.a_end] == p.a_text and texts[p.b_id][p.b_start:p.b_end] == p.b_text
    summary = in_process.summary
    scored, everything = summary["window_pairs_scored"], summary["candidates"]["window_pairs_without_candidates"]
    assert 0 < scored < everything  # only candidate window pairs reach the detector
    assert summary["candidates"]["families"] == ["shingles", "embeddings"]
    assert summary["candidates"]["lsh_threshold"] == 0.3 and summary["engine"]["engine"] == "local"


def test_against_compares_only_across_the_two_collections(planted):
    documents, gold = planted
    pair = gold[0]
    first = [d for d in documents if d[0] == pair.source_id]
    rest = [d for d in documents if d[0] != pair.source_id]
    result = search_documents(rest, against=first, device="cpu")
    assert result.passages and all(p.b_id == pair.source_id and p.a_id != pair.source_id for p in result.passages)
    assert found_gold([pair], passage_spans(result.passages)) == [True]


def test_worker_processes_give_the_same_passages(planted, in_process):
    """Two spawned worker processes (made directly, so no cap on a one-core machine turns them into this process)
    score the window pairs and give the same passages."""
    import os

    from mia.search.engine import ProcessEngine, WorkerSpec
    from mia.search.search import SearchOptions, as_documents, build_index, search

    engine = ProcessEngine(WorkerSpec("minilm-reuse", device="cpu"), 2)
    try:
        from mia.models.attention import load_model

        index, _ = build_index(as_documents(planted[0]), engine, load_model("minilm", device="cpu"))
        result = search(index, engine, options=SearchOptions())
        pids = {engine.pool.submit(os.getpid).result() for _ in range(8)}
        processes = len(engine.pool._processes)
    finally:
        engine.close()
    assert result.summary["engine"]["processes"] == "spawned" and result.summary["engine"]["workers"] == 2
    assert processes == 2 and os.getpid() not in pids  # two processes were started, and the work ran in them
    assert key(result) == key(in_process)


def test_ray_local_cluster_of_two_workers_gives_the_same_passages(planted, in_process):
    need("ray")
    result = search_documents(planted[0], engine="ray", workers=2, device="cpu")
    assert key(result) == key(in_process)
    assert result.summary["engine"]["engine"] == "ray" and result.summary["engine"]["workers"] == 2
    import ray

    assert not ray.is_initialized()  # the cluster started for the search is shut down


def write_folder(folder: Path, documents) -> Path:
    folder.mkdir()
    for doc_id, text in documents:
        (folder / f"{doc_id}.txt").write_text(text)
    return folder


def test_cli_search_index_and_update(tmp_path: Path, planted, in_process):
    pd = need("pandas")
    documents, _ = planted
    docs = write_folder(tmp_path / "docs", documents)
    out = tmp_path / "found.parquet"
    assert main(["search", "--docs", str(docs), "--out", str(out), "--device", "cpu"]) == 0
    frame = pd.read_parquet(out)
    assert list(frame.itertuples(index=False, name=None)) == [
        (p.a_id, p.a_start, p.a_end, p.b_id, p.b_start, p.b_end, round(p.score, 4), p.a_text, p.b_text)
        for p in in_process.passages]
    summary = json.loads((tmp_path / "found.parquet.summary.json").read_text())
    assert summary["passages"] == len(frame)
    shipped_rule = Detector.load(resolve_detector(None)).passage_rule.to_dict(links=False)
    assert summary["passage_rule"] == in_process.summary["passage_rule"] == shipped_rule  # the detector's own rule

    half = write_folder(tmp_path / "half", documents[:4])
    index = tmp_path / "index"
    assert main(["index", "--docs", str(half), "--out", str(index), "--device", "cpu"]) == 0
    before = json.loads((index / "index.json").read_text())
    assert main(["index", "--docs", str(docs), "--out", str(index), "--device", "cpu"]) == 0  # adds the other 4
    record = json.loads((index / "index.json").read_text())
    assert [d["id"] for d in record["documents"]] == [d for d, _ in documents]
    assert record["files"]["arrays"] != before["files"]["arrays"]  # a new generation, switched in
    assert sorted(p.name for p in index.iterdir()) == sorted(["index.json", *record["files"].values()])
    again = tmp_path / "again.jsonl"
    assert main(["search", "--index", str(index), "--out", str(again), "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in again.read_text().splitlines()]
    assert [(r["a_id"], r["a_start"], r["b_id"], r["b_start"]) for r in rows] == [
        (p.a_id, p.a_start, p.b_id, p.b_start) for p in in_process.passages]


def test_cli_search_refuses_bad_input_before_any_work(tmp_path: Path, capsys):
    docs = write_folder(tmp_path / "docs", [("a", "One text."), ("b", "Another text.")])
    assert main(["search", "--docs", str(docs), "--out", str(tmp_path / "out.csv")]) == 2
    assert main(["search", "--out", str(tmp_path / "out.jsonl")]) == 2
    assert main(["search", "--docs", str(tmp_path / "none"), "--out", str(tmp_path / "out.jsonl")]) == 2
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("the user's")
    assert main(["index", "--docs", str(docs), "--out", str(busy)]) == 2
    assert [p.name for p in busy.iterdir()] == ["mine.txt"] and not (tmp_path / "out.jsonl").exists()
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("mia ") and "Traceback" not in line for line in errors)
    assert main(["search", "--docs", str(docs), "--out", str(tmp_path / "o.jsonl"), "--families", "regex"]) == 2
