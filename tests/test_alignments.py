import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- MultiMWA TSV -----------------------------------------------------------------------------------------------

MTREF_LINE = ("1:1\tat this moment , police has sealed off the blast scene .\tN/A\t"
              "police have now sealed off the spot .\tN/A\t1\t1\t4-0 0-2 8-5 5-1 7-4 1-2 2-2 11-7 6-3\t10-6 9-6\t\t")


def test_a_multimwa_line_becomes_a_pair_with_sure_and_possible_links(tmp_path):
    from mia.text.alignments import read_multimwa

    (pair,) = read_multimwa(write(tmp_path, "dev.tsv", [MTREF_LINE]))
    assert pair.id == "1:1" and pair.b == "police have now sealed off the spot ."
    words = {(pair.a[s:e], pair.b[u:v]) for s, e, u, v in pair.links}
    assert ("police", "police") in words and ("moment", "now") in words and len(pair.links) == 9
    assert {(pair.a[s:e], pair.b[u:v]) for s, e, u, v in pair.possible} == {("blast", "spot"), ("scene", "spot")}


def test_import_alignments_reads_multimwa_and_refuses_two_sources(tmp_path, capsys):
    from mia.cli import main
    from mia.text.pairs import read_pairs

    tsv = write(tmp_path, "dev.tsv", [MTREF_LINE, MTREF_LINE.replace("1:1", "2:2", 1)])
    assert main(["import-alignments", "--multimwa", str(tsv), "--out", str(tmp_path / "p.jsonl"), "--id-prefix",
                 "mtref-"]) == 0
    assert [p.id for p in read_pairs(tmp_path / "p.jsonl")] == ["mtref-1:1", "mtref-2:2"]
    assert "18 sure and 4 possible-only" in capsys.readouterr().err
    assert main(["import-alignments", "--multimwa", str(tsv), "--a", str(tsv), "--out", str(tmp_path / "q.jsonl")]) == 2
    assert "not both" in capsys.readouterr().err and not (tmp_path / "q.jsonl").exists()


@pytest.mark.parametrize(("line", "needle"), [
    ("1\tonly three\tfields", "3 tab-separated fields"),
    (MTREF_LINE.replace("4-0 0-2", "4-0 0-99"), "out of range"),
    (MTREF_LINE.replace("4-0 0-2", "4=0 0-2"), "not a link"),
    (MTREF_LINE.replace("police have now sealed off the spot .", "  "), r"sentence B \(field 4\) is empty"),
])
def test_a_bad_multimwa_line_is_an_error_naming_it(tmp_path, line, needle):
    from mia.text.alignments import read_multimwa

    with pytest.raises(MiaError, match=needle) as error:
        read_multimwa(write(tmp_path, "bad.tsv", [MTREF_LINE.replace("1:1", "0:0", 1), line]))
    assert "bad.tsv:2" in str(error.value)


def test_an_id_given_twice_names_both_lines(tmp_path):
    from mia.text.alignments import read_multimwa

    with pytest.raises(MiaError, match="on line 1 already"):
        read_multimwa(write(tmp_path, "twice.tsv", [MTREF_LINE, MTREF_LINE]))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_mutated_multimwa_line_is_an_error_or_pairs_mias_readers_take(tmp_path_factory, data):
    """A hand-edited MultiMWA file: a field replaced, removed or added, characters cut: MiaError or valid pairs."""
    from mia.text.alignments import read_multimwa
    from mia.text.pairs import read_pairs, write_pairs

    fields = MTREF_LINE.split("\t")
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["replace", "delete", "insert", "cut"]))
        at = data.draw(st.integers(0, max(len(fields) - 1, 0)))
        value = data.draw(st.text(alphabet=st.sampled_from(list("0123-p x.\u00a0\u2028é")), max_size=12))
        if action == "replace" and fields:
            fields[at] = value
        elif action == "delete" and fields:
            del fields[at]
        elif action == "insert":
            fields.insert(at, value)
        elif fields:
            fields[at] = fields[at][: data.draw(st.integers(0, len(fields[at])))]
    folder = tmp_path_factory.mktemp("tsv")
    path = folder / "m.tsv"
    path.write_text("\t".join(fields) + "\n", encoding="utf-8")
    try:
        pairs = read_multimwa(path)
    except MiaError:
        return
    write_pairs(pairs, folder / "p.jsonl")
    assert [p.id for p in read_pairs(folder / "p.jsonl")] == [p.id for p in pairs]
