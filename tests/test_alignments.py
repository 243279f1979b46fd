import pytest

from mia.errors import MiaError
from mia.text.alignments import import_alignments, parse_pharaoh_line, pharaoh_line


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_sure_and_possible_links():
    assert parse_pharaoh_line("0-0 1p2  3-1", where="x") == ([(0, 0), (3, 1)], [(1, 2)])


def test_import_converts_word_links_to_character_spans(tmp_path):
    a = write(tmp_path, "a.txt", ["the big house", "hello"])
    b = write(tmp_path, "b.txt", ["das  grosse Haus", "hallo"])
    links = write(tmp_path, "ab.txt", ["0-0 1-1 2-2 1p2", "0-0"])
    pairs = import_alignments(a, b, links)
    first = pairs[0]
    assert first.id == "s0" and first.a == "the big house" and first.b == "das grosse Haus"
    assert [(first.a[s:e], first.b[u:v]) for s, e, u, v in first.links] == [
        ("the", "das"), ("big", "grosse"), ("house", "Haus")]
    assert [(first.a[s:e], first.b[u:v]) for s, e, u, v in first.possible] == [("big", "Haus")]
    assert pairs[1].links == ((0, 5, 0, 5),)


def test_separate_possible_file(tmp_path):
    a = write(tmp_path, "a.txt", ["x y"])
    b = write(tmp_path, "b.txt", ["u v"])
    sure = write(tmp_path, "s.txt", ["0-0"])
    pairs = import_alignments(a, b, sure, possible_path=write(tmp_path, "p.txt", ["1-1 0-0"]))
    assert pairs[0].links == ((0, 1, 0, 1),) and pairs[0].possible == ((2, 3, 2, 3),)


def test_bad_link_names_file_and_line(tmp_path):
    a = write(tmp_path, "a.txt", ["x y", "x y"])
    b = write(tmp_path, "b.txt", ["u v", "u v"])
    with pytest.raises(MiaError, match=r"ab\.txt:2: '1x1' is not a link"):
        import_alignments(a, b, write(tmp_path, "ab.txt", ["0-0", "0-0 1x1"]))


def test_index_out_of_range_names_line_and_lengths(tmp_path):
    a = write(tmp_path, "a.txt", ["x y", "x y z"])
    b = write(tmp_path, "b.txt", ["u v", "u"])
    with pytest.raises(MiaError, match=r"ab\.txt:2: link 2-1 is out of range: A has 3 words and B has 1 words"):
        import_alignments(a, b, write(tmp_path, "ab.txt", ["1-1", "2-1"]))


def test_line_counts_must_agree(tmp_path):
    a = write(tmp_path, "a.txt", ["x", "y"])
    b = write(tmp_path, "b.txt", ["u"])
    with pytest.raises(MiaError, match="one line per sentence pair"):
        import_alignments(a, b, write(tmp_path, "ab.txt", ["0-0"]))


def test_pharaoh_line():
    import numpy as np

    linked = np.zeros((2, 3), dtype=bool)
    linked[0, 2] = linked[1, 0] = True
    assert pharaoh_line(linked) == "0-2 1-0"
