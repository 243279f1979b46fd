"""The front door: README.md stays short and runs what CI runs; every command example in it and on the site is one the
CLI accepts; the documentation site builds with warnings as errors (a stale results table, a broken link or a
command without its option reference fails it)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mia.cli.app import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
FENCE = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.DOTALL)


def shell_blocks(path: Path) -> list[str]:
    return FENCE.findall(path.read_text())


def mia_commands(block: str) -> list[list[str]]:
    """The argument lists of every `python -m mia ...` / `mia ...` call in a shell block (continuation lines
    joined; pipes, `&&`, `;`, redirections and comments cut)."""
    calls = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith("$ "):
            line = line[2:]
        for part in re.split(r"&&|\|\|?|;", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:  # prose inside a here-document (an apostrophe): no command there
                assert "-m mia" not in part and not part.startswith("mia "), part
                continue
            words = [w for w in words if not re.match(r"^[A-Z_]+=", w)] if words else words  # VAR=value prefixes
            for start, word in enumerate(words):
                if word != "mia" or not (start == 0 or (start >= 2 and words[start - 1] == "-m"
                                                        and "python" in words[start - 2])):
                    continue
                args = words[start + 1:]
                cut = [i for i, w in enumerate(args) if w.startswith(">") or w == "2>&1"]
                calls.append(args[: cut[0]] if cut else args)
                break
    return calls


EXAMPLES = [(path.relative_to(ROOT).as_posix(), args) for path in [README, *PAGES]
            for block in shell_blocks(path) for args in mia_commands(block)]


def test_examples_were_found():
    assert len(EXAMPLES) >= 40
    assert {where for where, _ in EXAMPLES} >= {"README.md", "docs/commands/patch.md", "docs/commands/train.md"}


@pytest.mark.parametrize("where, args", EXAMPLES, ids=[f"{w}: {' '.join(a)[:60]}" for w, a in EXAMPLES])
def test_every_command_example_is_one_the_cli_accepts(where, args, capsys):
    parser = build_parser()
    try:
        parser.parse_args(args)
    except SystemExit as exit_:
        err = capsys.readouterr().err
        assert exit_.code == 0, f"{where}: mia {' '.join(args)}: {err.strip()}"


def test_readme_is_short_and_names_what_ci_runs():
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    ci = (ROOT / ".ci" / "run").read_text()
    tested = re.search(r"^(python3 -m venv .*pytest)$", ci, re.MULTILINE)
    assert tested, "the test command line of .ci/run"
    assert tested.group(1).replace(" -q", "") in text  # the README's test command is the one CI runs


def test_readme_results_table_is_made_from_the_results_files_and_current():
    """The README's results table is the one scripts/readme_results.py makes from docs/results and the shipped card
    (a hand edit or a re-run benchmark without the script fails), and none of those files is older than its code."""
    from scripts import readme_results

    assert readme_results.main(["--check"]) == 0, "run python scripts/readme_results.py"
    assert readme_results.stale() == [], "results older than their code: run the commands their pages name"
    table = readme_results.table()
    assert table.count("\n| [") == 10 and table.count("**") >= 2 * 8  # ten benchmarks, the better of each in bold


def test_readme_results_table_follows_its_files(tmp_path, monkeypatch):
    """A changed figure in a results file changes the table (so the check above can fail)."""
    import json
    import shutil

    from scripts import readme_results

    shutil.copytree(ROOT / "docs" / "results", tmp_path / "results")
    documents = json.loads((tmp_path / "results" / "documents.json").read_text())
    documents["data"]["variants"]["verbatim"]["scorers"]["detector"]["plagdet"] = 0.5
    (tmp_path / "results" / "documents.json").write_text(json.dumps(documents))
    monkeypatch.setattr(readme_results, "RESULTS", tmp_path / "results")
    table = readme_results.table()
    assert "| plagdet | 0.500 | **0.931** word 8-gram seeds" in table
    readme = tmp_path / "README.md"
    readme.write_text(README.read_text())
    monkeypatch.setattr(readme_results, "README", readme)
    assert readme_results.main(["--check"]) == 1
    assert readme_results.main([]) == 0 and readme_results.main(["--check"]) == 0 and "0.500" in readme.read_text()


def test_readme_links_resolve():
    text = README.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"^[a-z]+://", target):
            continue
        assert (ROOT / target).exists(), target


def test_the_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        message = 'the docs extra is not installed: pip install -e ".[docs]" (the CI script installs it)'
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr[-4000:]
    site = tmp_path / "site"
    patch_page = (site / "commands" / "patch.html").read_text()
    assert "--corruption" in patch_page and "other-text" in patch_page  # the option reference, from the parser
    assert "Made by <code>python benchmarks/patch_figures.py" in (site / "benchmarks" / "patching.html").read_text()


def test_sphinx_roles_on_a_page_link_to_the_objects_it_documents():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    html = ('<h3 id="mia.detector.detector.Detector">Detector</h3><h4 id="mia.detector.detector.Detector.detect">'
            '</h4><h3 id="mia.models.attention.load_model"></h3>'
            '<h4 id="mia.models.attention.AttentionModel.load_model"></h4>'
            '<p>See :meth:<code>Detector.detect</code>, :func:<code>load_model</code>, '
            ':class:<code>~mia.detector.detector.Detector</code>, :data:<code>ELSEWHERE</code> and '
            ':func:<code>f()</code>.</p>')
    out = hooks.on_page_content(html, None, None, None)
    assert '<a href="#mia.detector.detector.Detector.detect"><code>Detector.detect</code></a>' in out
    # the function, not the method of the same name
    assert '<a href="#mia.models.attention.load_model"><code>load_model</code></a>' in out
    assert '<a href="#mia.detector.detector.Detector"><code>Detector</code></a>' in out  # ~: the last part shown
    assert "<code>ELSEWHERE</code>" in out and 'href="#ELSEWHERE"' not in out  # not on the page: code, no link
    assert ":func:" not in out and ":data:" not in out and "<code>f()</code>" in out


MARKER = re.compile(r"<!-- mia:table (\S+) (\S+) -->")


def test_every_results_file_is_shown_and_every_shown_table_exists():
    """Each docs/results file is rendered on some page (a results file nobody shows is a figure nobody checks), and
    each page's table marker names a table its results file holds (the build warns too; this says which)."""
    import json

    shown = {(name, table) for page in PAGES for name, table in MARKER.findall(page.read_text())}
    results = {path.stem: json.loads(path.read_text()) for path in (ROOT / "docs" / "results").glob("*.json")}
    assert sorted(set(results) - {name for name, _ in shown}) == []
    missing = [(name, table) for name, table in sorted(shown)
               if name not in results or table not in results[name]["tables"]]
    assert missing == []


def test_the_marker_check_can_fail():
    """The marker pattern finds what a page writes (so the check above is not vacuous)."""
    assert MARKER.findall("text\n<!-- mia:table variants-heavy heavy -->\n") == [("variants-heavy", "heavy")]
    assert len([1 for page in PAGES for _ in MARKER.findall(page.read_text())]) >= 20


def test_a_stale_record_flags_its_tables_and_its_generated_page(tmp_path, monkeypatch, caplog):
    """A results record whose measured code has changed is flagged on every table and on the page its run wrote,
    with a build warning (the strict build fails on it); a current one carries its stamp and no flag."""
    import json

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    from benchmarks.results import record

    current = record("x", measures=["docs/hooks.py"], command="python make-x.py",
                     tables={"t": {"columns": ["a", "b"], "rows": [[1, 2]]}})
    (tmp_path / "fresh.json").write_text(json.dumps(current))
    (tmp_path / "old.json").write_text(json.dumps({**current, "source_hash": "0" * 64}))
    monkeypatch.setattr(hooks, "RESULTS", tmp_path)
    fresh = hooks.results_table("fresh", "t", "page.md")
    assert "| 1 | 2 |" in fresh and "python make-x.py" in fresh and "Older than" not in fresh
    assert "Older than the code it measures" in hooks.results_table("old", "t", "page.md")
    page = hooks.generated_page("# Title\n\nbody", "old", "page.md")
    assert page.startswith("# Title\n") and "Older than the code" in page and "python make-x.py" in page
    assert page.index("python make-x.py") < page.index("body")
    assert any("docs/results/old.json is older than the code" in r.getMessage() for r in caplog.records)
