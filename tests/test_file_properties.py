"""Property-based tests of every file a user can hand-edit or damage: random mutations of ``detector.json``,
``index.json``, ``documents.jsonl``, ``arrays.npz`` and pair-file lines give a :class:`MiaError` or a result that
the readers of the file use without failing, never another exception."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mia.alignment.sentence_candidates import CandidateOptions
from mia.detector.detector import Detector
from mia.detector.folder import shipped_folder
from mia.errors import MiaError
from mia.search.collection import Document
from mia.search.index import SearchIndex, add_documents, index_settings, load_index, save_index
from mia.text.pairs import read_pairs
from tests.test_search_parts import fake_embed

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=8,
)


def paths_in(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) to a value inside a parsed JSON document, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += paths_in(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three values replaced by random JSON, or deleted."""
    result = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in paths_in(result) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = result
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return result


def readers_of(detector: Detector) -> None:
    """What mia does with a loaded detector without a model: every reader of its record."""
    from mia.heads.ranking import head_summaries, rank_heads
    from mia.heads.stability import compare_detectors
    from mia.report.report_data import detector_card, heads_data
    from mia.report.text import training_report

    _ = detector.decode, detector.passage_rule, detector.document_floor  # what detect, evaluate and search read
    head_summaries(detector)
    head_summaries(detector, by="weight")
    rank_heads(detector)
    training_report(detector)
    detector_card(detector, "x")
    heads_data(detector)
    compare_detectors(detector, detector)  # reads the resampled head AUCs


# --- detector.json ----------------------------------------------------------------------------------------------

SHIPPED = json.loads((shipped_folder() / "minilm-reuse" / "detector.json").read_text())


@QUICK
@given(record=mutated(SHIPPED))
def test_mutated_detector_json_is_an_error_or_reads(tmp_path_factory, record):
    folder = tmp_path_factory.mktemp("d")
    shutil.copy(shipped_folder() / "minilm-reuse" / "weights.npz", folder / "weights.npz")
    (folder / "detector.json").write_text(json.dumps(record))
    try:
        detector = Detector.load(folder)
    except MiaError:
        return
    readers_of(detector)


# --- the index -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory, minilm) -> Path:
    documents = [Document("a", "The old man walked to the harbour. He carried bread and fish home."),
                 Document("b", "Trains left every hour. The old man walked to the harbour. Nobody spoke.")]
    options = CandidateOptions()
    index, _ = add_documents(SearchIndex(index_settings(minilm, options)), documents, minilm, options=options,
                             embed=fake_embed)
    folder = tmp_path_factory.mktemp("ix") / "ix"
    save_index(index, folder)
    return folder


def copy_index(index_folder: Path, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("copy") / "ix"
    shutil.copytree(index_folder, folder)
    return folder, json.loads((folder / "index.json").read_text())


def use(folder: Path) -> None:
    """Load the index and use it as a search does (candidates, window texts); only MiaError may come out."""
    from mia.search.search import candidate_window_pairs

    try:
        index = load_index(folder)
    except MiaError:
        return
    # what a loaded index guarantees: rows of the right shapes, spans inside their documents, homes in the document
    lengths = [len(d.text) for d in index.documents]
    assert index.windows.shape[1] == 3 and index.sentences.shape[1] == 4 and len(index.words) == len(index.sentences)
    for doc, start, end in index.windows.tolist():
        assert 0 <= doc < len(lengths) and 0 <= start <= end <= lengths[doc]
    for doc, start, end, home in index.sentences.tolist():
        assert 0 <= doc < len(lengths) and 0 <= start <= end <= lengths[doc] and index.windows[home, 0] == doc
    for array in (index.signatures, index.vectors):
        assert array is None or (len(array) == len(index.sentences) and np.isfinite(array).all())
    for window in range(len(index.windows)):
        index.window(window)
        index.window_span(window)
    index.sentence_tokens()
    candidate_window_pairs(index, None, CandidateOptions(num_perm=index.settings["num_perm"]))


def record_hash(folder: Path, record: dict, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)
    record["sha256"][name] = hashlib.sha256(data).hexdigest()
    (folder / "index.json").write_text(json.dumps(record))


@QUICK
@given(data=st.data())
def test_mutated_index_json_is_an_error_or_usable(index_folder, tmp_path_factory, data):
    folder, record = copy_index(index_folder, tmp_path_factory)
    (folder / "index.json").write_text(json.dumps(data.draw(mutated(record))))
    use(folder)


@QUICK
@given(data=st.data())
def test_mutated_documents_file_is_an_error_or_usable(index_folder, tmp_path_factory, data):
    folder, record = copy_index(index_folder, tmp_path_factory)
    name = record["files"]["documents"]
    raw = bytearray((folder / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        kind = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.sampled_from([b"\n", b"\"", b"\\", b"{", b"}", b"\xe2\x80\xa8", b"\xff", b"x", b"0"]))
        if kind == "insert":
            raw[at:at] = piece
        elif kind == "delete":
            del raw[at : at + len(piece)]
        else:
            raw[at : at + len(piece)] = piece
    record_hash(folder, record, name, bytes(raw))  # a careful hand fixes the hash: the content is what is tested
    use(folder)


ARRAY_VALUES = st.sampled_from([-1, 0, 1, 2, 7, 10**9, -(10**9)]) | st.integers(-50, 200)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_arrays_file_is_an_error_or_usable(index_folder, tmp_path_factory, data):
    folder, record = copy_index(index_folder, tmp_path_factory)
    name = record["files"]["arrays"]
    with np.load(folder / name) as npz:
        arrays = {key: npz[key].copy() for key in npz.files}
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(arrays)))
        change = data.draw(st.sampled_from(["value", "value", "value", "dtype", "drop", "shape", "nan"]))
        array = arrays[key]
        if change == "value" and array.size:
            flat = array.reshape(-1)
            flat[data.draw(st.integers(0, flat.size - 1))] = np.array(data.draw(ARRAY_VALUES)).astype(flat.dtype)
        elif change == "dtype":
            arrays[key] = array.astype(data.draw(st.sampled_from([np.float64, np.int8, np.uint32, np.bool_])))
        elif change == "drop":
            arrays.pop(key)
        elif change == "shape":
            arrays[key] = array[: max(0, len(array) - 1)]
        elif change == "nan" and array.dtype.kind == "f" and array.size:
            array.reshape(-1)[0] = np.nan
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    record_hash(folder, record, name, buffer.getvalue())
    use(folder)


# --- pair files -------------------------------------------------------------------------------------------------

PAIR = {"id": "p", "a": "It rained. We stayed in.", "b": "We stayed in. It rained.",
        "links": [[0, 10, 14, 24], [11, 24, 0, 13]], "phrases": [[0, 10, 14, 24]]}


@QUICK
@given(lines=st.lists(mutated(PAIR).map(json.dumps) | st.text(max_size=40), min_size=1, max_size=4))
def test_mutated_pair_file_lines_are_an_error_or_valid_pairs(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("pairs") / "p.jsonl"
    path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
    try:
        pairs = read_pairs(path)
    except MiaError:
        return
    for pair in pairs:
        assert isinstance(pair.id, str) and isinstance(pair.a, str) and isinstance(pair.b, str)
        for a0, a1, b0, b1 in (*pair.links, *pair.possible, *pair.phrases):
            assert 0 <= a0 <= a1 <= len(pair.a) and 0 <= b0 <= b1 <= len(pair.b)
