"""Bad, hostile and careless input to the newer commands (search, index, head --describe, and what they share): each
case of the safety issue reproduced as a user would, with the fixed behaviour asserted: a one-line error and exit 2
before any work, a deadline where something might not answer, or the right result."""

from __future__ import annotations

import errno
import http.server
import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mia.alignment.sentence_candidates import CandidateOptions
from mia.cli import main
from mia.detector.folder import shipped_folder
from mia.errors import MiaError, Terminated
from mia.search.collection import Document
from mia.search.index import SearchIndex, add_documents, index_settings, load_index, save_index
from tests.optional import need
from tests.test_bad_input import one_line_error, tree
from tests.test_search_parts import fake_embed

DOCS = [("a", "The old man walked slowly down to the harbour at dawn. He carried a basket of bread and fish. "
              "Nobody on the quay spoke to him that morning."),
        ("b", "Trains left the station every hour. He carried a basket of bread and fish. The old man walked "
              "slowly down to the harbour at dawn. The timetable was new.")]


@pytest.fixture
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a model is loaded or an engine started: the input must be refused before any work."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr("mia.models.attention.load_pretrained", refuse)
    monkeypatch.setattr("mia.search.search.start_engine", refuse)


def docs_folder(tmp_path: Path, documents=DOCS, name: str = "docs") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for doc_id, text in documents:
        (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    return folder


def small_index(minilm, documents=DOCS, options: CandidateOptions = CandidateOptions()) -> SearchIndex:
    index, _ = add_documents(SearchIndex(index_settings(minilm, options)), [Document(*d) for d in documents], minilm,
                             options=options, embed=fake_embed)
    return index


def same_index(first: SearchIndex, second: SearchIndex) -> bool:
    arrays = ("windows", "sentences", "words", "signatures", "vectors")
    return first.documents == second.documents and all(
        np.array_equal(getattr(first, name), getattr(second, name)) for name in arrays)


# --- 1. hangs: every wait has a deadline and names what did not answer -----------------------------------------


def test_search_on_a_device_that_is_not_here_is_an_error_not_a_hang(tmp_path, capsys, no_model_load):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    docs = docs_folder(tmp_path)
    started = time.monotonic()
    assert main(["search", "--docs", str(docs), "--out", str(tmp_path / "r.jsonl"), "--workers", "2",
                 "--device", "cuda"]) == 2
    one_line_error(capsys, "no CUDA device")
    assert time.monotonic() - started < 30 and not (tmp_path / "r.jsonl").exists()


def test_worker_processes_that_cannot_start_end_the_search_with_their_error():
    """A spawned worker whose start fails (here: a detector that is not there) answers every task with its error;
    the pool never restarts it forever."""
    from mia.search.engine import ProcessEngine, WorkerSpec

    started = time.monotonic()
    with pytest.raises(MiaError, match="could not start: .*not a detector directory"):
        ProcessEngine(WorkerSpec("/nonexistent/detector", device="cpu"), 2, start_seconds=120)
    assert time.monotonic() - started < 120


class Trickle(http.server.BaseHTTPRequestHandler):
    """An endpoint that answers with headers, then one byte of the body every 0.4 s (each read is quick)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "30")
        self.end_headers()
        try:
            for _ in range(30):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.4)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type) -> tuple[http.server.HTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def example_set():
    from mia.heads.examples import HeadExamples

    return HeadExamples("m", 2, 9, "a->b", 1, 4)


def test_describe_endpoint_that_trickles_bytes_is_cut_off_at_the_deadline(monkeypatch):
    from mia.heads.examples import describe_head

    server, url = serve(Trickle)
    monkeypatch.setenv("MIA_DESCRIBE_URL", url + "/v1")
    started = time.monotonic()
    try:
        with pytest.raises(MiaError, match="did not answer in full within 1.5 s"):
            describe_head(example_set(), model="x", timeout=1.5)
    finally:
        server.shutdown()
    assert time.monotonic() - started < 5


def test_ray_address_where_nothing_answers_is_an_error_not_a_retry_loop(tmp_path, capsys, no_model_load):
    need("ray")
    docs = docs_folder(tmp_path)
    started = time.monotonic()
    assert main(["search", "--docs", str(docs), "--out", str(tmp_path / "r.jsonl"), "--engine", "ray",
                 "--address", "127.0.0.1:1"]) == 2
    one_line_error(capsys, "no Ray cluster answers")
    assert time.monotonic() - started < 30
    import ray

    assert not ray.is_initialized()


def test_ray_address_check_accepts_a_port_that_answers():
    from mia.search.engine import check_ray_address

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        check_ray_address(f"127.0.0.1:{listener.getsockname()[1]}")
        check_ray_address("auto")  # left to Ray
    finally:
        listener.close()


# --- 2. an index update that fails leaves the previous index usable --------------------------------------------


def an_update(tmp_path: Path, minilm) -> tuple[Path, SearchIndex, dict, SearchIndex]:
    """An index of one document on disk, its files, and the index with a second document added (not yet saved)."""
    folder = tmp_path / "ix"
    save_index(small_index(minilm, DOCS[:1]), folder)
    old = load_index(folder)
    bigger, _ = add_documents(old, [Document(*DOCS[1])], minilm, options=CandidateOptions(), embed=fake_embed)
    return folder, old, tree(folder), bigger


@pytest.mark.parametrize("failing_write", [1, 2, 3])
def test_full_disk_during_an_index_update_keeps_the_old_index(tmp_path, minilm, monkeypatch, failing_write):
    import mia.search.index_file as index_file

    folder, old, files_before, bigger = an_update(tmp_path, minilm)
    real = index_file.write_bytes_atomic
    calls = {"n": 0}

    def disk_full(data: bytes, path) -> None:
        calls["n"] += 1
        if calls["n"] == failing_write:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(data, path)

    monkeypatch.setattr(index_file, "write_bytes_atomic", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_index(bigger, folder)
    assert tree(folder) == files_before  # no stray generation, nothing of the old one touched
    assert same_index(load_index(folder), old)


def test_sigterm_between_the_steps_of_an_index_update_keeps_the_old_index(tmp_path, minilm, monkeypatch):
    import mia.search.index_file as index_file
    from mia.cli import sigterm_as_exception

    folder, old, files_before, bigger = an_update(tmp_path, minilm)
    real = index_file.write_bytes_atomic

    def then_terminate(data: bytes, path) -> None:
        real(data, path)
        if str(path).endswith(".npz"):  # the new arrays are written; SIGTERM arrives before the rest
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)

    monkeypatch.setattr(index_file, "write_bytes_atomic", then_terminate)
    with sigterm_as_exception(), pytest.raises(Terminated):
        save_index(bigger, folder)
    assert tree(folder) == files_before
    assert same_index(load_index(folder), old)


def test_an_update_after_another_run_changed_the_index_is_refused(tmp_path, minilm):
    folder = tmp_path / "ix"
    save_index(small_index(minilm, DOCS[:1]), folder)
    first, second = load_index(folder), load_index(folder)
    save_index(add_documents(first, [Document(*DOCS[1])], minilm, options=CandidateOptions(), embed=fake_embed)[0],
               folder)
    late, _ = add_documents(second, [Document("c", "A third text here.")], minilm, options=CandidateOptions(),
                            embed=fake_embed)
    with pytest.raises(MiaError, match="changed by another run"):
        save_index(late, folder)
    assert load_index(folder).ids == ["a", "b"]


# --- 3. an index mia wrote can always be read back ----------------------------------------------------------------


def test_documents_with_unicode_line_separators_round_trip(tmp_path, minilm):
    texts = [("u", "First line\u2028second line.\u2029Third\x85part. Fourth\x1cfifth sentence here."), DOCS[0]]
    index = small_index(minilm, texts)
    save_index(index, tmp_path / "ix")
    assert same_index(load_index(tmp_path / "ix"), index)


# --- 4. an index's settings are its own -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shingle5_index(tmp_path_factory) -> Path:
    """An index of document a built by the CLI with --shingle 5 --num-perm 128."""
    root = tmp_path_factory.mktemp("s5")
    folder = root / "ix"
    assert main(["index", "--docs", str(docs_folder(root, DOCS[:1])), "--out", str(folder), "--shingle", "5",
                 "--num-perm", "128", "--device", "cpu"]) == 0
    return folder


def test_search_against_other_documents_uses_the_index_settings(tmp_path, shingle5_index):
    out = tmp_path / "r.jsonl"
    assert main(["search", "--index", str(shingle5_index), "--against", str(docs_folder(tmp_path, DOCS[1:])),
                 "--out", str(out), "--device", "cpu", "--min-passage-words", "8"]) == 0
    summary = json.loads((tmp_path / "r.jsonl.summary.json").read_text())
    assert summary["candidates"]["shingle"] == 5 and summary["candidates"]["num_perm"] == 128
    assert summary["candidates"]["sentence_pairs"]["shingles"] >= 1  # the copied sentence is found by shingles
    assert [json.loads(line)["b_id"] for line in out.read_text().splitlines()] == ["b"]


def test_a_setting_that_conflicts_with_the_index_is_an_error(tmp_path, capsys, shingle5_index, no_model_load):
    assert main(["search", "--index", str(shingle5_index), "--shingle", "3", "--out", str(tmp_path / "r.jsonl")]) == 2
    one_line_error(capsys, "--shingle 3", "built with 5")
    assert main(["index", "--docs", str(docs_folder(tmp_path)), "--out", str(shingle5_index), "--num-perm",
                 "64"]) == 2
    one_line_error(capsys, "--num-perm 64", "built with 128")


def test_pharaoh_output_keeps_one_line_per_pair_with_failures_at_the_end(tmp_path, capsys, monkeypatch):
    from mia.alignment.detection import DetectionError
    from mia.detector.detector import Detector

    pairs = tmp_path / "p.jsonl"
    pairs.write_text("".join(json.dumps({"id": str(n), "a": "It rained.", "b": "It rained."}) + "\n"
                             for n in range(3)))
    real = Detector.iter_detect

    def failing_last_two(self, model, items, **kwargs):
        for n, found in enumerate(real(self, model, items, **kwargs)):
            yield found if n == 0 else DetectionError(found.pair, "simulated failure")

    monkeypatch.setattr(Detector, "iter_detect", failing_last_two)
    out = tmp_path / "out.txt"
    assert main(["detect", "--pairs", str(pairs), "--format", "pharaoh", "--out", str(out)]) == 0
    assert out.read_text().split("\n") == ["0-0 1-1", "", "", ""]  # three lines, each ended by a newline
    assert main(["detect", "--pairs", str(pairs), "--format", "pharaoh"]) == 0
    assert capsys.readouterr().out == "0-0 1-1\n\n\n"


# --- 5. an output never replaces an input ------------------------------------------------------------------------


def test_outputs_that_are_inputs_are_refused_before_any_work(tmp_path, capsys, no_model_load):
    docs = tmp_path / "x.jsonl"
    docs.write_text("".join(json.dumps({"id": d, "text": t}) + "\n" for d, t in DOCS))
    pairs = tmp_path / "p.jsonl"
    pairs.write_text(json.dumps({"id": "0", "a": "It rained.", "b": "It rained."}) + "\n")
    corpus = tmp_path / "b.txt"
    corpus.write_text("One sentence here. Another one there.\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(pairs)
    index = tmp_path / "ix"
    index.mkdir()
    (index / "index.json").write_text("{}")
    before = tree(tmp_path)
    cases = [
        (["search", "--docs", str(docs), "--out", str(docs)], "is the input --docs"),
        (["detect", "--pairs", str(pairs), "--out", str(pairs)], "is the input --pairs"),
        (["detect", "--pairs", str(pairs), "--out", str(link)], "is the input --pairs"),  # through a link
        (["generate", "--corpus", str(corpus), "--out", str(corpus)], "is the input --corpus"),
        (["search", "--index", str(index), "--out", str(tmp_path / "r.jsonl"), "--summary",
          str(index / "index.json")], "inside the input --index"),
        (["evaluate", "--pairs", str(pairs), "--out", str(pairs)], "is the input --pairs"),
        (["report", "--pairs", str(pairs), "--out", str(pairs)], "is the input --pairs"),
        (["import-alignments", "--a", str(corpus), "--b", str(corpus), "--alignments", str(pairs), "--out",
          str(corpus)], "is the input --a"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        one_line_error(capsys, needle)
    assert tree(tmp_path) == before


def test_detect_output_onto_the_detector_is_refused(tmp_path, capsys, no_model_load):
    detector = tmp_path / "d"
    shutil.copytree(shipped_folder() / "minilm-verbatim", detector)
    before = tree(detector)
    assert main(["detect", "--detector", str(detector), "--a", "x", "--b", "y", "--out",
                 str(detector / "detector.json")]) == 2
    one_line_error(capsys, "is the input --detector")
    assert tree(detector) == before


# --- 6. the describe key goes to the URL the user named and nowhere else ----------------------------------------


class Elsewhere(http.server.BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        Elsewhere.seen.append({"auth": self.headers.get("Authorization")})
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def test_describe_follows_no_redirect_and_sends_the_key_nowhere_else(monkeypatch):
    from mia.heads.examples import describe_head

    other, other_url = serve(Elsewhere)

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", other_url.replace("127.0.0.1", "localhost") + "/steal")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server, url = serve(Redirect)
    monkeypatch.setenv("MIA_DESCRIBE_URL", url + "/v1")
    monkeypatch.setenv("MIA_DESCRIBE_KEY", "secret-key")
    try:
        with pytest.raises(MiaError, match="redirect .* does not follow it"):
            describe_head(example_set(), model="x", timeout=10)
    finally:
        server.shutdown()
        other.shutdown()
    assert Elsewhere.seen == []


# --- 7. no tracebacks --------------------------------------------------------------------------------------------


def test_a_sentence_longer_than_the_model_is_embedded_in_pieces(minilm):
    from mia.models.embedding import embed_texts

    words = " ".join(f"word{n % 50}" for n in range(700))  # one "sentence" of 700 words: about 1,400 tokens
    vectors = embed_texts(minilm, ["A short one.", words, ""])
    assert vectors.shape == (3, 384) and np.all(np.isfinite(vectors))
    assert np.linalg.norm(vectors[1]) == pytest.approx(1, abs=1e-5) and not vectors[2].any()


def test_search_on_documents_with_a_sentence_longer_than_the_model(tmp_path):
    long = " ".join(f"token{n % 97} and" for n in range(400))  # no full stop: one sentence of 800 words
    docs = docs_folder(tmp_path, [("a", long), ("b", "A different text. " + long[:2000])])
    assert main(["search", "--docs", str(docs), "--out", str(tmp_path / "r.jsonl"), "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "r.jsonl.summary.json").read_text())["window_pair_errors"] == 0


def test_lsh_threshold_that_leaves_no_bands_is_an_error_before_work(tmp_path, capsys, no_model_load):
    need("datasketch")
    assert main(["search", "--docs", str(docs_folder(tmp_path)), "--out", str(tmp_path / "r.jsonl"),
                 "--lsh-threshold", "1"]) == 2
    one_line_error(capsys, "--lsh-threshold 1", "bands")


def test_an_index_whose_first_documents_have_no_sentences_can_be_extended(tmp_path, minilm):
    empty = small_index(minilm, [("blank", "   \n\n  ")])
    assert len(empty.sentences) == 0
    save_index(empty, tmp_path / "ix")
    more, added = add_documents(load_index(tmp_path / "ix"), [Document(*DOCS[0])], minilm,
                                options=CandidateOptions(), embed=fake_embed)
    assert added == 1 and more.vectors is not None and len(more.vectors) == len(more.sentences) == 3
    save_index(more, tmp_path / "ix")
    assert load_index(tmp_path / "ix").ids == ["blank", "a"]


@pytest.mark.parametrize(("module", "argv_tail", "needle"), [
    ("pyarrow", ["--out", "r.parquet"], "a .parquet --out"),
    ("datasketch", ["--out", "r.jsonl"], "shingles candidate family"),
    ("faiss", ["--out", "r.jsonl"], "embeddings candidate family"),
    ("ray", ["--out", "r.jsonl", "--engine", "ray"], "--engine ray"),
])
def test_a_missing_extra_is_found_before_any_work(tmp_path, capsys, monkeypatch, no_model_load, module, argv_tail,
                                                  needle):
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    docs = docs_folder(tmp_path)
    argv = ["search", "--docs", str(docs), *[str(tmp_path / a) if a.startswith("r.") else a for a in argv_tail]]
    assert main(argv) == 2
    one_line_error(capsys, needle, "pip install")


def index_with_files(tmp_path: Path, minilm) -> tuple[Path, dict]:
    folder = tmp_path / "ix"
    save_index(small_index(minilm), folder)
    return folder, json.loads((folder / "index.json").read_text())


def rewrite_arrays(folder: Path, record: dict, change) -> None:
    """Change the arrays file and record its new hash, as a careful hand (or a bug) would."""
    import hashlib
    import io

    path = folder / record["files"]["arrays"]
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    record["sha256"][record["files"]["arrays"]] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / "index.json").write_text(json.dumps(record))


INDEX_EDITS = {
    "settings missing": (lambda r: r.pop("settings"), "'settings'"),
    "num_perm a string": (lambda r: r["settings"].update(num_perm="64"), "settings.num_perm"),
    "window_tokens negative": (lambda r: r["settings"].update(window_tokens=-1), "settings.window_tokens"),
    "documents not a list": (lambda r: r.update(documents={}), "'documents'"),
    "a document without sha256": (lambda r: r["documents"][0].pop("sha256"), "sha256"),
    "windows a float": (lambda r: r.update(windows=1.5), "'windows'"),
    "files pointing elsewhere": (lambda r: r["files"].update(arrays="../../etc/passwd"), "files.arrays"),
    "format from the future": (lambda r: r.update(format=9), "'format'"),
}


@pytest.mark.parametrize("case", sorted(INDEX_EDITS))
def test_hand_edited_index_json_is_an_error_naming_the_field(tmp_path, minilm, capsys, no_model_load, case):
    folder, record = index_with_files(tmp_path, minilm)
    edit, needle = INDEX_EDITS[case]
    edit(record)
    (folder / "index.json").write_text(json.dumps(record))
    assert main(["search", "--index", str(folder), "--out", str(tmp_path / "r.jsonl")]) == 2
    one_line_error(capsys, needle)


@pytest.mark.parametrize(("case", "change", "needle"), [
    ("window past its document", lambda a: a["windows"].__setitem__((0, 2), 10**6), "outside its document"),
    ("sentence of another document's window", lambda a: a["sentences"].__setitem__((0, 3), 1), "home window"),
    ("object array", lambda a: a.update(words=np.array([{"x": 1}] * len(a["words"]), dtype=object)), "not readable"),
    ("vectors of another length", lambda a: a.update(vectors=a["vectors"][:1]), "'vectors'"),
    ("signatures as floats", lambda a: a.update(signatures=a["signatures"].astype(np.float64)), "'signatures'"),
])
def test_damaged_arrays_are_an_error(tmp_path, minilm, capsys, no_model_load, case, change, needle):
    folder, record = index_with_files(tmp_path, minilm)
    if case == "object array":  # np.savez would pickle it: write the file by hand
        import hashlib
        import io

        path = folder / record["files"]["arrays"]
        with np.load(path) as npz:
            arrays = {name: npz[name] for name in npz.files}
        change(arrays)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # np.savez pickles object arrays
        path.write_bytes(buffer.getvalue())
        record["sha256"][record["files"]["arrays"]] = hashlib.sha256(buffer.getvalue()).hexdigest()
        (folder / "index.json").write_text(json.dumps(record))
    else:
        rewrite_arrays(folder, record, change)
    assert main(["search", "--index", str(folder), "--out", str(tmp_path / "r.jsonl")]) == 2
    one_line_error(capsys, needle)


def test_each_document_is_checked_against_its_own_hash(tmp_path, minilm, capsys, no_model_load):
    import hashlib

    folder, record = index_with_files(tmp_path, minilm)
    path = folder / record["files"]["documents"]
    changed = path.read_text(encoding="utf-8").replace("harbour", "harbor")
    path.write_text(changed, encoding="utf-8")
    record["sha256"][record["files"]["documents"]] = hashlib.sha256(changed.encode()).hexdigest()
    (folder / "index.json").write_text(json.dumps(record))
    assert main(["search", "--index", str(folder), "--out", str(tmp_path / "r.jsonl")]) == 2
    one_line_error(capsys, "does not match its SHA-256")


DETECTOR_EDITS = {
    "heads.auc strings": (lambda d: d["heads"].update(auc=["high"] * 72), "heads.auc"),
    "heads.auc short": (lambda d: d["heads"].update(auc=d["heads"]["auc"][:2]), "heads.auc"),
    "heads.weight_interval reversed": (lambda d: d["heads"]["weight_interval"].__setitem__(0, [2.0, 1.0]),
                                       "heads.weight_interval"),
    "heads.types ragged": (lambda d: d["heads"]["types"]["scores"]["a->b"]["copy"].pop(), "heads.types"),
    "metrics a string": (lambda d: d.update(metrics="great"), "'metrics'"),
    "metrics scorer value a string": (lambda d: d["metrics"]["word_level"]["detector"].update(f1="0.9"), "f1"),
    "data.seed a string": (lambda d: d["data"].update(seed="0"), "data.seed"),
    "data.noise unknown rate": (lambda d: d["data"].update(noise={"typo": 0.1}), "data.noise"),
    "split ids not strings": (lambda d: d["split"].update(test_ids=[1, 2]), "split.test_ids"),
    "training_seconds 1e999": (None, "too large"),
    "unknown decode": (lambda d: d.update(decode="beam"), "'decode'"),
    "head_roc_auc short": (lambda d: d.update(head_roc_auc=[0.5]), "head_roc_auc"),
}


@pytest.mark.parametrize("case", sorted(DETECTOR_EDITS))
def test_hand_edited_detector_sections_are_an_error_naming_the_field(tmp_path, capsys, case):
    folder = tmp_path / "d"
    shutil.copytree(shipped_folder() / "minilm-reuse", folder)
    edit, needle = DETECTOR_EDITS[case]
    path = folder / "detector.json"
    if edit is None:
        path.write_text(path.read_text().replace('"training_seconds": ', '"training_seconds": 1e999, "x": '))
    else:
        record = json.loads(path.read_text())
        edit(record)
        path.write_text(json.dumps(record))
    for command in (["heads"], ["report", "--out", str(tmp_path / "r.html")]):
        assert main([*command, "--detector", str(folder)]) == 2
        one_line_error(capsys, needle)
    assert not (tmp_path / "r.html").exists()


# --- 8. bounded, and saying what it does --------------------------------------------------------------------------


def test_reading_is_bounded(tmp_path, capsys, no_model_load):
    assert main(["detect", "--a-file", "/dev/zero", "--b-file", "/dev/zero", "--max-file-mb", "1"]) == 2
    one_line_error(capsys, "larger than 1 MB", "--max-file-mb")
    pairs = tmp_path / "p.jsonl"
    pairs.write_text(json.dumps({"id": "0", "a": "x" * 3_000_000, "b": "y"}) + "\n")
    assert main(["detect", "--pairs", str(pairs), "--max-file-mb", "2"]) == 2
    one_line_error(capsys, "larger than 2 MB")


def test_file_offsets_index_the_file_as_stored_with_windows_line_ends(tmp_path, capsys):
    a = "It rained all day.\r\nWe stayed in and read.\r\n"
    b = "We stayed in and read.\r\nIt rained all day.\r\n"
    (tmp_path / "a.txt").write_bytes(a.encode())
    (tmp_path / "b.txt").write_bytes(b.encode())
    assert main(["detect", "--a-file", str(tmp_path / "a.txt"), "--b-file", str(tmp_path / "b.txt"),
                 "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    starts = {phrase["a_text"].split()[0]: phrase["a"][0] for phrase in found["phrases"]}
    assert starts["We"] == a.index("We stayed")  # the file's offset: after "\r\n", not a translated "\n"
    for phrase in found["phrases"]:
        (a0, a1), (b0, b1) = phrase["a"], phrase["b"]
        assert a[a0:a1] == phrase["a_text"] and b[b0:b1] == phrase["b_text"]


def test_special_token_strings_in_a_text_are_text(minilm):
    from mia.text.pairs import Pair

    item = minilm.encode(Pair("0", "Press [SEP] then [CLS].", "A [PAD] and [MASK] here."))
    ids = item.inputs["input_ids"]
    specials = set(minilm.tokenizer.all_special_ids)
    assert not specials & set(ids[item.a_positions]) and not specials & set(ids[item.b_positions])
    assert len(item.a_spans) > 4  # "[SEP]" is three tokens, not one special


def test_heads_json_holds_no_nan(tmp_path, capsys):
    folder = tmp_path / "d"
    shutil.copytree(shipped_folder() / "minilm-verbatim", folder)
    record = json.loads((folder / "detector.json").read_text())
    record["head_roc_auc"][0] = None  # a head whose AUC could not be measured
    (folder / "detector.json").write_text(json.dumps(record))
    for by in ("auc", "column"):
        assert main(["heads", "--detector", str(folder), "--format", "json", "--by", by]) == 0
        printed = capsys.readouterr().out
        json.loads(printed, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_threads_are_capped_with_the_workers(capsys):
    from mia.cli.common import threads_capped
    from mia.workers import available_cores, cap_threads

    cores = available_cores()
    assert cap_threads(2, 64) * 2 <= max(cores, 2) and cap_threads(1, 1) == 1
    assert threads_capped(1, cores + 7) == cores
    assert "capped" in capsys.readouterr().err


def test_checks_that_ran_after_the_model_loads_now_run_before(tmp_path, capsys, monkeypatch, no_model_load):
    docs = docs_folder(tmp_path)
    (tmp_path / "file").write_text("x")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    pairs = tmp_path / "p.jsonl"
    pairs.write_text(json.dumps({"id": "0", "a": "It rained.", "b": "It rained."}) + "\n")
    monkeypatch.delenv("MIA_DESCRIBE_URL", raising=False)
    cases = [
        (["index", "--docs", str(docs), "--out", str(tmp_path / "broken")], "broken symbolic link"),
        (["index", "--docs", str(docs), "--out", str(tmp_path / "file" / "ix")], "is a file"),
        (["head", "--head", "2.9", "--pairs", str(pairs), "--direction", "cross"], "--direction cross"),
        (["head", "--head", "2.9", "--pairs", str(pairs), "--describe"], "MIA_DESCRIBE_URL"),
        (["search", "--docs", str(docs), "--against", str(docs), "--out", str(tmp_path / "r.jsonl")],
         "is in both"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        one_line_error(capsys, needle)


def test_a_threshold_that_links_everything_in_long_texts_is_an_error_for_that_pair(minilm, monkeypatch):
    import mia.alignment.windowed as windowed
    from mia.alignment.detection import DetectionError
    from mia.detector.detector import Detector
    from mia.text.pairs import Pair

    monkeypatch.setattr(windowed, "MAX_KEPT", 50_000)
    text = " ".join(f"Sentence number {n} is here." for n in range(120))  # longer than the model
    short = Pair("short", "It rained.", "It rained.")
    found = list(Detector.load("minilm-verbatim").iter_detect(minilm, [Pair("long", text, text), short],
                                                              threshold=0.0))
    assert isinstance(found[0], DetectionError) and "raise --threshold" in found[0].error
    assert not isinstance(found[1], DetectionError)  # the batch goes on


def test_progress_without_a_terminal_prints_a_line_every_few_seconds(capsys):
    from mia.cli.common import progress_lines

    ticks = iter(range(0, 1000, 4))  # each item takes 4 s on this clock
    items = list(progress_lines(range(6), "detect", 6, every=10, clock=lambda: float(next(ticks))))
    assert items == list(range(6))
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["detect: 3/6 (12 s)", "detect: 6/6 (24 s)", "detect: 6/6 done (28 s)"]
