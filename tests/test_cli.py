"""Every subcommand through ``main(argv)``, on the packaged model and corpus."""

import dataclasses
import json
import re

import pytest

from mia.alignment.decoding import ARGMAX_FLOOR
from mia.cli import COMMANDS, main
from mia.text.pairs import read_pairs, write_pairs

A = ("It means that the listed identifiers are to be interpreted as globals. "
     "The global statement is a declaration which holds for the entire current code block.")
B = ("The global statement is a declaration which holds for the entire current code block. "
     "It means that the listed identifiers are to be interpreted as globals.")


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
@pytest.mark.parametrize("columns", ["60", "200"])
def test_help_everywhere(command, columns, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)  # argparse wraps to the terminal; CI's width is not this machine's
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mia {command[0] if command else ''}".rstrip())
    if command:  # every option of the command's config is documented, its help text in full
        config_type = COMMANDS[command[0]][0]

        def folded(text: str) -> str:  # argparse wraps lines, also after a hyphen ("i-" / "j"): drop all whitespace
            return "".join(text.split())

        flat = folded(out)
        for field in dataclasses.fields(config_type):
            assert (field.metadata["flag"] or "--" + field.name.replace("_", "-")) in out  # an option or positional
            assert folded(field.metadata["help"]) in flat, field.name
        assert folded(config_type.__doc__ or "") in flat  # the command's description


def test_top_level_help_lists_every_command_once_by_task(capsys, monkeypatch):
    from mia.cli.app import COMMAND_GROUPS

    grouped = [name for _, names in COMMAND_GROUPS for name in names]
    assert sorted(grouped) == sorted(COMMANDS) and len(grouped) == len(set(grouped))
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for title, names in COMMAND_GROUPS:
        assert f"\n{title}:\n" in out
        for name in names:
            assert re.search(rf"^  {re.escape(name)} +{re.escape(COMMANDS[name][2])}$", out, re.MULTILINE), name
    assert max(len(line) for line in out.splitlines()) <= 80


def test_generate_writes_pairs(tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    assert main(["generate", "--out", str(out), "--limit", "5", "--seed", "3"]) == 0
    pairs = read_pairs(out)
    assert len(pairs) == 5
    assert "skipped with fewer than 2 sentences" in capsys.readouterr().err
    again = tmp_path / "again.jsonl"
    main(["generate", "--out", str(again), "--limit", "5", "--seed", "3"])
    assert again.read_text() == out.read_text()


def test_train_detect_heads_end_to_end(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    assert main(["generate", "--out", str(pairs), "--limit", "40"]) == 0
    out = tmp_path / "det"
    assert main(["train", "--pairs", str(pairs), "--out", str(out), "--seed", "0"]) == 0
    printed, said = capsys.readouterr()
    assert f"unless given this one: --detector {out}" in said  # detect and heads keep the shipped one otherwise
    assert printed.startswith("word F1 ")  # the headline first, then word level, then token level
    for row in ("detector (mutual-argmax)", "greedy string tiling", "same token", "run of >= 3 tokens"):
        assert row in printed
    meta = json.loads((out / "detector.json").read_text())
    scorers = meta["metrics"]["token_level"]
    assert scorers["detector"]["average_precision"] > scorers["same token"]["average_precision"]
    assert meta["command"]["pairs"] == str(pairs)

    assert main(["detect", "--detector", str(out), "--a", A, "--b", B, "--min-phrase-words", "4"]) == 0
    text = capsys.readouterr().out
    header = re.match(r"pair 0: (\d+) phrases?, (\d+) linked words?", text)
    assert header and 1 <= int(header.group(1)) <= int(header.group(2))
    phrase_lines = [line for line in text.splitlines()[1:] if not line.strip().startswith("no passage:")]
    assert len(phrase_lines) == int(header.group(1))  # one line per phrase (A and B texts are equal)
    assert "It means that the listed identifiers" in text and "holds for the entire current code block" in text

    few = tmp_path / "few.jsonl"
    write_pairs(read_pairs(pairs)[:5], few)
    assert main(["detect", "--detector", str(out), "--pairs", str(few), "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == [p.id for p in read_pairs(few)]
    pairs_by_id = {p.id: p for p in read_pairs(few)}
    for line in lines:  # each link: character spans of a word in A and in B, and its probability
        pair = pairs_by_id[line["id"]]
        for a0, a1, b0, b1, probability in line["links"]:
            assert 0 <= a0 < a1 <= len(pair.a) and 0 <= b0 < b1 <= len(pair.b) and pair.a[a0:a1].strip()
            assert ARGMAX_FLOOR <= probability <= 1  # mutual-argmax links: at or above its floor
    assert all({"a", "b", "a_text", "b_text", "score", "words"} <= set(ph) for line in lines for ph in line["phrases"])

    a_file, b_file = tmp_path / "a.txt", tmp_path / "b.txt"
    a_file.write_text(A)
    b_file.write_text(B)
    assert main(["detect", "--detector", str(out), "--a-file", str(a_file), "--b-file", str(b_file),
                 "--format", "json", "--threshold", "0.99"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["id"] == "0" and all(link[4] >= 0.99 for link in single["links"])

    png = tmp_path / "heads.png"
    assert main(["heads", "--detector", str(out), "--top", "5", "--plot", str(png)]) == 0
    table = capsys.readouterr().out
    assert "rank" in table and len(table.strip().splitlines()) == 8  # title, header, 5 heads, legend
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["heads", "--detector", str(out), "--format", "json", "--top", "1296", "--by", "column"]) == 0
    heads = json.loads(capsys.readouterr().out)["heads"]
    weights = [h["weight"] for h in heads]
    assert len(heads) == 1296 and weights == sorted(weights, reverse=True)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["detect", "--a", "x"], "give both --a and --b"),
        (["detect", "--a", "x", "--b", "y", "--pairs", "p.jsonl"], "exactly one input"),
        (["detect", "--detector", "nowhere", "--a", "x", "--b", "y"], "not a detector directory"),
        (["heads", "--detector", "nowhere"], "not a detector directory"),
        (["generate", "--corpus", "missing.txt", "--out", "x.jsonl"], "corpus file not found"),
        (["train", "--pairs", "missing.jsonl"], "pair file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_pair_line_writes_nothing(tmp_path, capsys, trained_detector_dir):
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"id": "1", "a": "x", "b": "y", "links": []}\n{"id": 2, "a": "x"}\n')
    out = tmp_path / "out.jsonl"
    code = main(["detect", "--detector", str(trained_detector_dir), "--pairs", str(pairs), "--format", "jsonl",
                 "--out", str(out)])
    assert code == 2 and "p.jsonl:2" in capsys.readouterr().err
    assert not out.exists()


def test_unwritable_output_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path), "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert "is a directory; give a file name" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_argparse_errors_exit_2(capsys):
    assert main(["train", "--limit", "0"]) == 2
    assert main(["frobnicate"]) == 2


def test_detect_refuses_another_model(trained_detector_dir, tiny_bart_dir, capsys):
    code = main(["detect", "--detector", str(trained_detector_dir), "--model", str(tiny_bart_dir),
                 "--a", "x y", "--b", "y x"])
    assert code == 2 and "use --model minilm" in capsys.readouterr().err


def test_train_with_context_ranks_heads_with_offsets(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    main(["generate", "--out", str(pairs), "--limit", "40"])
    out = tmp_path / "ctx"
    assert main(["train", "--pairs", str(pairs), "--out", str(out), "--context", "--bootstrap", "0"]) == 0
    meta = json.loads((out / "detector.json").read_text())
    assert meta["features"]["offsets"] == [[0, 0], [-1, -1], [1, 1]] and meta["features"]["count"] == 432
    assert meta["format"] == 3
    capsys.readouterr()
    assert main(["heads", "--detector", str(out), "--format", "json", "--top", "432", "--by", "column"]) == 0
    heads = json.loads(capsys.readouterr().out)["heads"]
    assert {tuple(h["offset"]) for h in heads} == {(-1, -1), (0, 0), (1, 1)}
    assert len({(h["direction"], h["layer"], h["head"], tuple(h["offset"])) for h in heads}) == 432
    assert main(["detect", "--detector", str(out), "--a", A, "--b", B, "--min-phrase-words", "4"]) == 0
    assert "global statement is a declaration" in capsys.readouterr().out
