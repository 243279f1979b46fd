"""The newest paths under hostile but realistic use (issue 31): search summaries, PAN output names, unknown words,
index settings, gold passages, empty texts, broken links, and what a newcomer meets first. Each case is reproduced as
a user would meet it, with the fixed behaviour asserted: a one-line error and exit 2 before any work with no user
file touched, or the right result."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mia.alignment.sentence_candidates import CandidateOptions
from mia.cli import main
from mia.cli.values import whole_number_in
from mia.detector.detector import Detector
from mia.detector.folder import DEFAULT_DETECTOR
from mia.errors import MiaError
from mia.search.collection_candidates import INDEX_SETTING_RANGES, check_candidate_options
from mia.search.index import save_index
from mia.search.index_file import IndexRecord
from mia.text.pairs import Pair, read_pairs, write_pairs
from mia.text.pan_files import pan_file_names, unique_ids
from tests.test_bad_input import one_line_error, tree
from tests.test_bad_input_search import docs_folder, no_model_load, small_index  # noqa: F401 (a fixture)

SENTENCE = "The harbour was quiet when the old fisherman finally walked down to his boat with bread."


@pytest.fixture(scope="module")
def shipped() -> Detector:
    return Detector.load(DEFAULT_DETECTOR)


# --- severe ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--summary", "--out"])
@pytest.mark.usefixtures("no_model_load")
def test_search_output_inside_the_docs_folder_is_refused(tmp_path, capsys, flag):
    docs = docs_folder(tmp_path)
    before = tree(docs)
    target = str(docs / ("a.txt" if flag == "--summary" else "reuse.jsonl"))
    argv = ["search", "--docs", str(docs), "--out", str(tmp_path / "r.jsonl"), flag, target]
    if flag == "--out":
        argv = ["search", "--docs", str(docs), "--out", target]
    assert main(argv) == 2
    one_line_error(capsys, flag, "--docs")
    assert tree(docs) == before and not (tmp_path / "r.jsonl").exists()


@pytest.mark.usefixtures("no_model_load")
def test_search_summary_inside_the_against_folder_or_the_index_is_refused(tmp_path, capsys, minilm):
    docs, against = docs_folder(tmp_path), docs_folder(tmp_path, name="against")
    index = save_index(small_index(minilm), tmp_path / "idx")
    before = {"against": tree(against), "index": tree(index)}
    assert main(["search", "--docs", str(docs), "--against", str(against), "--out", str(tmp_path / "r.jsonl"),
                 "--summary", str(against / "b.txt")]) == 2
    one_line_error(capsys, "--summary", "--against")
    assert main(["search", "--index", str(index), "--out", str(tmp_path / "r.jsonl"), "--summary",
                 str(index / "index.json")]) == 2
    one_line_error(capsys, "--summary", "--index")
    assert {"against": tree(against), "index": tree(index)} == before


@pytest.mark.usefixtures("no_model_load")
def test_index_out_inside_the_docs_folder_is_refused(tmp_path, capsys):
    docs = docs_folder(tmp_path)
    before = tree(docs)
    assert main(["index", "--docs", str(docs), "--out", str(docs / "idx")]) == 2
    one_line_error(capsys, "--out", "--docs")
    assert tree(docs) == before


def test_pan_output_gives_every_suspicious_document_its_own_file(tmp_path, capsys, shipped):
    copied = f"It rained all day. {SENTENCE} Then night fell."
    pairs = [Pair("x", copied, f"Nobody came. {SENTENCE}", names=names) for names in
             [("one/doc", "s1.txt"), ("two/doc", "s2.txt"), ("doc.txt", "s3.txt"), ("doc.text", "s4.txt"),
              ("Doc.txt", "s5.txt")]]
    pairs = [dataclasses.replace(pair, id=f"p{n}") for n, pair in enumerate(pairs)]
    write_pairs(pairs, tmp_path / "pairs.jsonl")
    out = tmp_path / "pan"
    assert main(["detect", "--pairs", str(tmp_path / "pairs.jsonl"), "--format", "pan", "--out", str(out),
                 "--min-passage-words", "5"]) == 0
    files = sorted(path.name for path in out.iterdir())
    assert len(files) == 5 and len({name.lower() for name in files}) == 5
    references = sorted(path.read_text().split('reference="')[1].split('"')[0] for path in out.iterdir())
    assert references == sorted(pair.names[0] for pair in pairs)  # each file keeps its document's own name
    assert "wrote 5 " in capsys.readouterr().err


@pytest.mark.usefixtures("no_model_load")
def test_search_num_perm_beyond_its_range_is_refused_when_parsed(tmp_path, capsys):
    docs = docs_folder(tmp_path)
    for argv in (["search", "--docs", str(docs), "--out", str(tmp_path / "r.jsonl"), "--num-perm",
                  "99999999999999999999"],
                 ["index", "--docs", str(docs), "--out", str(tmp_path / "i"), "--num-perm", "5000"],
                 ["index", "--docs", str(docs), "--out", str(tmp_path / "i"), "--num-perm", "1"],
                 ["index", "--docs", str(docs), "--out", str(tmp_path / "i"), "--shingle", "100"]):
        assert main(argv) == 2
        one_line_error(capsys, "must be a whole number from")
    assert not (tmp_path / "i").exists() and not (tmp_path / "r.jsonl").exists()


def test_two_different_unknown_words_are_never_the_same_text(minilm, shipped):
    unknown, other = secrets.token_hex(64), secrets.token_hex(64)
    assert minilm.tokenizer.tokenize(unknown) == ["[UNK]"]  # too long a word for WordPiece: one unknown token
    different = shipped.detect(minilm, f"The key is {unknown} today.", f"A key: {other} now.")
    a_word = different.pair.a.index(unknown)
    assert not any(link.a_start == a_word for link in different.links)
    same = shipped.detect(minilm, f"The key is {unknown} today.", f"A key: {unknown} now.")
    assert any(link.a_start == a_word for link in same.links)  # the same unknown word still links
    long = shipped.detect(minilm, "x" * 20_000, "y" * 20_000)
    assert long.links == [] and long.phrases == []


# --- major ----------------------------------------------------------------------------------------------------


def pan_folders(root: Path, documents: dict[str, str], annotations: dict[str, str], pairs: str | None = None) -> list[
        str]:
    """A PAN-like corpus under ``root``: ``susp`` and ``src`` (the documents, by the folder in their name), XML
    ``annotations`` (file name -> text); returns the import-pan arguments."""
    for folder in ("susp", "src", "ann"):
        (root / folder).mkdir(exist_ok=True)
    for name, text in documents.items():
        (root / name).write_text(text, encoding="utf-8")
    for name, text in annotations.items():
        (root / "ann" / name).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    argv = ["import-pan", "--annotations", str(root / "ann"), "--suspicious", str(root / "susp"), "--sources",
            str(root / "src"), "--out", str(root / "pan.jsonl")]
    if pairs is not None:
        (root / "pairs").write_text(pairs, encoding="utf-8")
        argv += ["--pairs", str(root / "pairs")]
    return argv


def feature(suspicious: str, source: str, lengths: tuple[int, int] = (10, 10), name: str = "plagiarism") -> str:
    return (f'<document reference="{suspicious}"><feature name="{name}" this_offset="0" this_length="{lengths[0]}" '
            f'source_reference="{source}" source_offset="0" source_length="{lengths[1]}" /></document>')


DOCUMENTS = {"susp/a-b.txt": SENTENCE, "susp/a.txt": SENTENCE, "src/c.txt": SENTENCE, "src/b-c.txt": SENTENCE}


def test_import_pan_makes_colliding_ids_unique_and_its_file_reads_back(tmp_path, capsys):
    argv = pan_folders(tmp_path, DOCUMENTS, {"1.xml": feature("a-b.txt", "c.txt"),
                                             "2.xml": feature("a.txt", "b-c.txt")})
    assert main(argv) == 0
    ids = [pair.id for pair in read_pairs(tmp_path / "pan.jsonl")]  # mia's own reader takes what import-pan wrote
    assert sorted(ids) == ["a-b-c", "a-b-c-2"]
    assert "made unique" in capsys.readouterr().err


def test_import_pan_refuses_a_pair_listed_twice(tmp_path, capsys):
    argv = pan_folders(tmp_path, DOCUMENTS, {"1.xml": feature("a.txt", "c.txt")},
                       pairs="a.txt c.txt\na-b.txt c.txt\na.txt c.txt\n")
    assert main(argv) == 2
    one_line_error(capsys, ":3:", "listed on line 1")
    assert not (tmp_path / "pan.jsonl").exists()


def test_unique_ids_keep_every_given_id_that_is_already_unique():
    assert unique_ids(["x", "x-2", "x", "y", "x"]) == ["x", "x-2", "x-3", "y", "x-4"]


@pytest.mark.parametrize("pair_id", ["bad\x00id", "bad\x1fid", "bad\ud800id"])
@pytest.mark.usefixtures("no_model_load")
def test_a_pair_id_xml_cannot_hold_is_refused_before_any_work(tmp_path, capsys, pair_id):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"id": pair_id, "a": "one", "b": "two"}) + "\n")
    assert main(["detect", "--pairs", str(tmp_path / "pairs.jsonl"), "--format", "pan", "--out",
                 str(tmp_path / "pan")]) == 2
    one_line_error(capsys, "PAN's XML cannot hold")
    assert not (tmp_path / "pan").exists()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=400), min_size=1, max_size=12))
def test_pan_file_names_are_safe_short_and_unique_in_any_letter_case(names):
    files = pan_file_names(names)
    assert set(files) == set(names)
    written = list(files.values())
    assert len({name.lower() for name in written}) == len(written)
    for name in written:
        assert name.endswith(".xml") and len(name.encode()) <= 255 and not name.startswith(".")
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


def test_a_long_pair_id_gets_a_file_name_the_file_system_takes(tmp_path, capsys, shipped):
    long_id = "d" * 304
    write_pairs([Pair(long_id, f"It rained. {SENTENCE}", f"Nobody came. {SENTENCE}")], tmp_path / "pairs.jsonl")
    assert main(["detect", "--pairs", str(tmp_path / "pairs.jsonl"), "--format", "pan", "--out",
                 str(tmp_path / "pan"), "--min-passage-words", "5"]) == 0
    (written,) = (tmp_path / "pan").iterdir()
    assert len(written.name) <= 255 and f'reference="{long_id}-a.txt"' in written.read_text()


@settings(max_examples=300, deadline=None)
@given(shingle=st.integers(-5, 200), num_perm=st.integers(-5, 10_000), word_chars=st.integers(-5, 200))
def test_index_settings_the_index_command_accepts_are_the_ones_search_reads(shingle, num_perm, word_chars):
    options = dataclasses.replace(CandidateOptions(), shingle=shingle, num_perm=num_perm, word_chars=word_chars)
    try:
        check_candidate_options(options)
        written = True
    except MiaError:
        written = False
    record = {"format": 2, "settings": {"model": "m", "fingerprint": "f", "window_tokens": 100, "seed": 0,
                                        "shingle": shingle, "num_perm": num_perm, "word_chars": word_chars},
              "documents": [], "windows": 0, "sentences": 0,
              "files": {"arrays": "arrays.0123456789abcdef.npz", "documents": "documents.0123456789abcdef.jsonl"},
              "sha256": {"arrays.0123456789abcdef.npz": "0" * 64, "documents.0123456789abcdef.jsonl": "0" * 64}}
    try:
        IndexRecord.from_json(record, "index.json")
        read = True
    except MiaError:
        read = False
    assert written == read
    parsed = True
    for name, value in (("shingle", shingle), ("num_perm", num_perm)):
        try:
            whole_number_in(*INDEX_SETTING_RANGES[name])(str(value))
        except Exception:
            parsed = False
    low, high = INDEX_SETTING_RANGES["word_chars"]
    assert written == (parsed and low <= word_chars <= high)


@pytest.mark.parametrize(("lengths", "needle"), [((0, 10), "this_length 0"), ((10, 0), "source_length 0")])
def test_a_gold_passage_without_characters_on_one_side_is_refused(tmp_path, capsys, lengths, needle):
    argv = pan_folders(tmp_path, DOCUMENTS, {"1.xml": feature("a.txt", "c.txt", lengths)})
    assert main(argv) == 2
    one_line_error(capsys, needle, "needs characters in both documents")
    assert not (tmp_path / "pan.jsonl").exists()


@pytest.mark.usefixtures("no_model_load")
def test_evaluate_passages_refuses_a_one_sided_gold_passage_before_any_work(tmp_path, capsys):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"id": "p", "a": SENTENCE, "b": SENTENCE,
                                                      "links": [[5, 5, 0, 0], [0, 10, 0, 10]]}) + "\n")
    assert main(["evaluate", "--pairs", str(tmp_path / "pairs.jsonl"), "--gold", "passages"]) == 2
    one_line_error(capsys, "pair 'p'")


@pytest.mark.parametrize(("a", "b"), [("", SENTENCE), ("   \n\t ", SENTENCE), (SENTENCE, " "), ("", "")])
def test_an_empty_text_has_no_links(minilm, shipped, a, b):
    found = shipped.detect(minilm, a, b)
    assert found.links == [] and found.phrases == [] and found.passages == []


def test_evaluate_with_an_empty_text_measures_the_other_pairs(tmp_path, capsys):
    write_pairs([Pair("empty", "", SENTENCE), Pair("copy", SENTENCE, f"Yes. {SENTENCE}",
                                                   ((0, len(SENTENCE), 5, 5 + len(SENTENCE)),))],
                tmp_path / "pairs.jsonl")
    assert main(["evaluate", "--pairs", str(tmp_path / "pairs.jsonl"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == 2


@pytest.mark.parametrize("format", ["text", "pan"])
@pytest.mark.usefixtures("no_model_load")
def test_a_broken_symbolic_link_as_out_is_refused_before_any_work(tmp_path, capsys, format):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "nowhere" / "file")
    assert main(["detect", "--a", "one", "--b", "two", "--format", format, "--out", str(link)]) == 2
    one_line_error(capsys, "broken symbolic link", "remove it or give another name")
    assert link.is_symlink() and os.readlink(link) == str(tmp_path / "nowhere" / "file")
    assert not (tmp_path / "nowhere").exists()


# --- minor ----------------------------------------------------------------------------------------------------


def test_import_pan_annotations_that_are_a_file_say_so(tmp_path, capsys):
    argv = pan_folders(tmp_path, DOCUMENTS, {})
    argv[argv.index("--annotations") + 1] = str(tmp_path / "susp" / "a.txt")
    assert main(argv) == 2
    one_line_error(capsys, "a file, not a folder")


def test_an_empty_pairs_file_says_it_lists_no_pair(tmp_path, capsys):
    argv = pan_folders(tmp_path, DOCUMENTS, {"1.xml": feature("a.txt", "c.txt")}, pairs="\n\n")
    assert main(argv) == 2
    one_line_error(capsys, "lists no pair")


def test_a_utf16_annotation_with_a_doctype_is_refused(tmp_path, capsys):
    xml = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY e "c.txt">]>'
           '<document reference="a.txt"><feature name="plagiarism" this_offset="0" this_length="5" '
           'source_reference="&e;" source_offset="0" source_length="5" /></document>')
    argv = pan_folders(tmp_path, DOCUMENTS, {"1.xml": xml.encode("utf-16")})
    assert main(argv) == 2
    one_line_error(capsys, "declares a document type or entities")


def test_a_byte_order_mark_before_the_pairs_file_is_not_part_of_a_name(tmp_path, capsys):
    argv = pan_folders(tmp_path, DOCUMENTS, {"1.xml": feature("a.txt", "c.txt")}, pairs="\ufeffa.txt c.txt\n")
    assert main(argv) == 0
    assert [pair.names for pair in read_pairs(tmp_path / "pan.jsonl")] == [("a.txt", "c.txt")]


def test_detected_plagiarism_read_as_gold_is_said(tmp_path, capsys):
    argv = pan_folders(tmp_path, DOCUMENTS, {"1.xml": feature("a.txt", "c.txt", name="detected-plagiarism")})
    assert main(argv) == 0
    assert "1 features are named 'detected-plagiarism'" in capsys.readouterr().err


@pytest.mark.usefixtures("no_model_load")
def test_a_reversed_link_is_said_to_end_before_it_starts(tmp_path, capsys):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"id": "p", "a": SENTENCE, "b": SENTENCE,
                                                      "links": [[10, 5, 0, 5]]}) + "\n")
    assert main(["evaluate", "--pairs", str(tmp_path / "pairs.jsonl")]) == 2
    one_line_error(capsys, "ends before it starts")


def test_evaluate_leaves_out_a_too_large_pair_before_any_pair_runs(tmp_path, minilm, shipped, monkeypatch):
    from mia.evaluate import evaluation

    planned: list[str] = []
    plan = evaluation.plan_pair
    monkeypatch.setattr(evaluation, "plan_pair", lambda model, pair, **kw: planned.append(pair.id) or plan(
        model, pair, **kw))
    monkeypatch.setattr(evaluation, "MAX_CELLS", 20 * 20)  # the small pair: 17 x 17 words
    small = Pair("small", SENTENCE, SENTENCE, ((0, len(SENTENCE), 0, len(SENTENCE)),))
    big = Pair("big", " ".join([SENTENCE] * 3), SENTENCE, ((0, len(SENTENCE), 0, len(SENTENCE)),))
    result = evaluation.evaluate_detector(shipped, minilm, [big, small], include_trained=True)
    assert planned == ["small"] and [item["id"] for item in result.not_measured] == ["big"]


def test_progress_is_told_of_the_window_pairs_of_one_long_pair(minilm, shipped):
    told: list[tuple[str, int]] = []

    def progress(items, description, total):
        told.append((description, total))
        return items

    long_a = " ".join(f"Sentence {n} of the first text tells its own small story." for n in range(60))
    long_b = " ".join(f"Line {n} of the second text goes another way entirely." for n in range(60))
    (found,) = shipped.iter_detect(minilm, [Pair("long", long_a, long_b)], progress=progress)
    assert found.windows and not found.windows["whole"]
    assert told == [("pair long: window pairs", found.windows["window_pairs_run"])]


def test_pan_output_with_every_pair_failed_names_the_reasons(tmp_path, capsys, monkeypatch):
    from mia.alignment.detection import DetectionError

    def fail(self, model, pairs, **kwargs):
        return (DetectionError(pair, "a reason of its own") for pair in pairs)

    monkeypatch.setattr(Detector, "iter_detect", fail)
    write_pairs([Pair("p", SENTENCE, SENTENCE)], tmp_path / "pairs.jsonl")
    assert main(["detect", "--pairs", str(tmp_path / "pairs.jsonl"), "--format", "pan", "--out",
                 str(tmp_path / "pan")]) == 2
    err = capsys.readouterr().err
    assert "a reason of its own" in err and "wrote 0" not in err and "their records" not in err


@pytest.mark.parametrize(("value", "needle"), [("1e-9", "at least one byte"), ("1e300", "at most 1048576 MB")])
def test_max_file_mb_out_of_range_is_refused_when_parsed(capsys, value, needle):
    assert main(["detect", "--a", "x", "--b", "y", "--max-file-mb", value]) == 2
    one_line_error(capsys, needle)


@pytest.mark.usefixtures("no_model_load")
def test_a_tiny_read_cap_is_said_in_bytes(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("x" * 100)
    (tmp_path / "b.txt").write_text("y")
    assert main(["detect", "--a-file", str(tmp_path / "a.txt"), "--b-file", str(tmp_path / "b.txt"),
                 "--max-file-mb", "0.00001"]) == 2
    one_line_error(capsys, "larger than 10 bytes")


def test_an_update_cleans_up_after_killed_updates_and_nothing_else(tmp_path, minilm):
    folder = save_index(small_index(minilm), tmp_path / "idx")
    record = json.loads((folder / "index.json").read_text())
    leftovers = [".arrays.0123456789abcdef.npz.abcd1234.tmp", ".index.json.k2_9x0aa.tmp",
                 "arrays.fedcba9876543210.npz", "documents.fedcba9876543210.jsonl"]
    kept = ["notes.txt", ".arrays.npz.mine", "arrays.npz.bak"]
    for name in leftovers + kept:
        (folder / name).write_bytes(b"left behind")
    from mia.search.index import load_index, tidy_index

    tidy_index(load_index(folder), folder)
    names = {path.name for path in folder.iterdir()}
    assert not names & set(leftovers) and set(kept) <= names
    assert {record["files"]["arrays"], record["files"]["documents"], "index.json"} <= names
    assert load_index(folder).documents == small_index(minilm).documents  # the index still reads


# --- a newcomer's first minutes -------------------------------------------------------------------------------


def test_a_copied_sentence_too_short_for_a_passage_says_why(capsys):
    assert main(["detect", "--a", f"It rained all day. {SENTENCE} Then night fell.", "--b",
                 f"Nobody came to the party. {SENTENCE} The end.", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["passages"] == []
    assert "a passage needs 20, --min-passage-words" in record["no_passage"]
    (phrase,) = [p for p in record["phrases"] if p["words"] > 1]
    assert phrase["a_text"] == SENTENCE  # from its first word: not the full stop of the sentence before


def test_help_texts_say_what_the_commands_do(capsys):
    for argv in (["train", "--help"], ["detect", "--help"]):
        assert main(argv) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "models/<model>-mixed" in text and "-verbatim with --copies shuffled" in text
    assert "copy pairs from, as --copies says" in text
    assert "linked words" in text


def test_heads_into_a_pipe_closed_early_ends_quietly():
    run = subprocess.run(f"{sys.executable} -m mia heads --by column --top 1000 --format json | head -c 10",
                         shell=True, capture_output=True, text=True, timeout=120, executable="/bin/bash")
    assert run.stdout == '{\n  "model' and run.stderr == ""
