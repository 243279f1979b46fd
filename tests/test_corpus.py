import json

import pytest

from mia.errors import MiaError
from mia.text.corpus import default_corpus_path, read_paragraphs, split_sentences


def test_plain_text_paragraphs_split_on_blank_lines(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("First line\nof one paragraph.\n\n  \nSecond  paragraph.\n\n\n")
    assert read_paragraphs(path) == ["First line of one paragraph.", "Second paragraph."]


def test_jsonl_corpus_reads_text_field(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "One. Two."}) + "\n\n" + json.dumps({"text": "Three."}) + "\n")
    assert read_paragraphs(path) == ["One. Two.", "Three."]


def test_jsonl_corpus_keeps_unicode_line_separators_inside_a_text(tmp_path):
    path = tmp_path / "c.jsonl"
    texts = ["one\u2028two", "three\u2029four\u0085five"]
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    assert read_paragraphs(path) == [" ".join(t.split()) for t in texts]


def test_jsonl_corpus_error_names_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "ok"}) + "\n" + json.dumps({"body": "x"}) + "\n")
    with pytest.raises(MiaError, match=r"c\.jsonl:2: .*text"):
        read_paragraphs(path)


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(MiaError, match="corpus file not found"):
        read_paragraphs(tmp_path / "nope.txt")


def test_default_corpus_ships_real_prose():
    paragraphs = read_paragraphs()
    assert default_corpus_path().is_file()
    assert len(paragraphs) > 300
    assert any("generator" in p for p in paragraphs)
    assert not any(p.startswith((">>>", "   ")) for p in paragraphs)


def test_split_sentences_gives_character_spans():
    text = "The cat sat. Then it ran away!  Did it come back?"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["The cat sat.", "Then it ran away!", "Did it come back?"]


def test_windows_line_ends_separate_paragraphs(tmp_path):
    from mia.text.corpus import read_paragraphs

    path = tmp_path / "crlf.txt"
    path.write_bytes(b"First paragraph. Two sentences.\r\n\r\nSecond one.\r\nStill second.\r\n")
    assert read_paragraphs(path) == ["First paragraph. Two sentences.", "Second one. Still second."]
