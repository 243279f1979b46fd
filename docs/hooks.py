"""mkdocs hooks: the parts of the site that must not drift from the code are made from it at build time.

* ``<!-- mia:options COMMAND -->`` becomes the command's option reference, read from the CLI's own parser
  (``mia.cli.app.build_parser``): a renamed or new option changes the page by itself.
* ``<!-- mia:table RESULT TABLE -->`` becomes table ``TABLE`` of ``docs/results/RESULT.json`` (written by a
  benchmark script through ``benchmarks/results.py``) with its stamp: the command that made it, the date, the
  machine and mia's version. When the code the results measure has changed since (its SHA-256 differs from the
  one recorded), the table is flagged on the page and the build logs a warning, which the strict build (the
  test suite's) turns into an error: no table is shown as current when its code is not the code that made it.
* ``<!-- mia:headline -->`` becomes the README's results table (``scripts/readme_results.py``, made from the same
  results files), its links made relative to ``docs/benchmarks/``; flagged like a table when a file is stale.
* ``<!-- mia:card NAME -->`` becomes the word-level held-out card of the shipped detector ``NAME`` (its
  ``metrics`` in ``detector.json``, made by ``scripts/detector_cards.py``), dated by the last commit of that file.
* A page a benchmark script writes whole (``GENERATED``: ``heads-figures.md``) gets the stamp of the results record
  the same run wrote, and is flagged like a table when that record is stale.
* Every command of the CLI must have a page with its option reference; a missing one is a warning.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("mkdocs.plugins.mia")
OPTIONS = re.compile(r"<!-- mia:options ([\w-]+) -->")
TABLE = re.compile(r"<!-- mia:table ([\w-]+) ([\w-]+) -->")
HEADLINE = "<!-- mia:headline -->"
CARD = re.compile(r"<!-- mia:card ([\w-]+) -->")
RESULTS = ROOT / "docs" / "results"
GENERATED = {"heads-figures.md": "heads"}  # pages a benchmark script writes whole -> the results record of that run
documented: set[str] = set()


def cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_table(columns: list[Any], rows: list[list[Any]]) -> str:
    """A Markdown table of ``columns`` and ``rows``, every cell through :func:`cell`."""
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def options_table(command: str, where: str) -> str:
    """The option reference of ``mia COMMAND``, from the parser the CLI runs."""
    import argparse

    from mia.cli.app import COMMANDS, build_parser

    if command not in COMMANDS:
        log.warning(f"{where}: no command {command!r} (mia has {', '.join(COMMANDS)})")
        return f"(no command {command})"
    documented.add(command)
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    rows = ["| option | default | what it does |", "|---|---|---|"]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{action.metavar or action.dest}`"
        if action.choices:
            name += " " + "{" + ", ".join(str(c) for c in action.choices) + "}"
        if action.required or not action.option_strings:
            default = "required"
        elif isinstance(action, argparse._StoreTrueAction):
            default = "off"
        else:
            default = "–" if action.default is None else f"`{action.default}`"
        rows.append(f"| {cell(name)} | {cell(default)} | {cell(action.help or '')} |")
    usage = " ".join(sub.format_usage().split())
    description = " ".join((COMMANDS[command][0].__doc__ or "").split())
    return "\n".join([description, "", f"`{usage.removeprefix('usage: ')}`", "", *rows,
                      "", "(Made from the CLI's own definitions when the site is built.)"])


def stale_warning(name: str, data: dict[str, Any], where: str) -> str:
    """The page's warning when the code ``docs/results/name.json`` measures has changed since it was made (and the
    build's warning, which the strict build turns into an error); empty when it is current."""
    from benchmarks.results import source_hash

    try:
        current = source_hash(data["measures"])
    except FileNotFoundError as error:
        current = f"unreadable ({error})"
    if current == data["source_hash"]:
        return ""
    log.warning(f"{where}: docs/results/{name}.json is older than the code it measures "
                f"({', '.join(data['measures'])} changed since {data['date']}): run `{data['command']}` again")
    return (f'!!! warning "Older than the code it measures"\n    The code in {", ".join(data["measures"])} has '
            "changed since these results were made.\n")


def stamp(name: str, data: dict[str, Any]) -> str:
    """How ``docs/results/name.json`` was made: command, date, machine, mia's version."""
    return (f"*Made by `{data['command']}` on {data['date']} ({data['machine']}; mia {data['mia_version']}); "
            f"results: `docs/results/{name}.json`.*")


def read_record(name: str, where: str) -> dict[str, Any] | None:
    """``docs/results/name.json``, or None with a build warning (an error in the strict build) when it is missing."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        log.warning(f"{where}: results file docs/results/{name}.json is missing (run the benchmark that writes it)")
        return None
    return json.loads(path.read_text())


def results_table(name: str, table: str, where: str) -> str:
    """Table ``table`` of ``docs/results/name.json`` with its stamp; flagged when its code has changed since."""
    data = read_record(name, where)
    if data is None:
        return f"(missing results: docs/results/{name}.json)"
    if table not in data.get("tables", {}):
        log.warning(f"{where}: docs/results/{name}.json has no table {table!r}")
        return f"(missing table {table} in docs/results/{name}.json)"
    found = data["tables"][table]
    out = [markdown_table(found["columns"], found["rows"]), "", stamp(name, data)]
    if found.get("note"):
        out.insert(1, "")
        out.insert(2, f"*{cell(found['note'])}*")
    warning = stale_warning(name, data, where)
    if warning:
        out.insert(0, warning)
    return "\n".join(out)


def generated_page(markdown: str, name: str, where: str) -> str:
    """A page a benchmark script writes whole, in the run that writes ``docs/results/name.json``: that record's
    stamp (and warning, when stale) goes under the page's title."""
    data = read_record(name, where)
    if data is None:
        return markdown
    title, _, rest = markdown.partition("\n")
    return "\n".join([title, "", stale_warning(name, data, where), stamp(name, data), rest])


def headline_table(where: str) -> str:
    """The README's results table, for a page in ``docs/benchmarks/``."""
    from scripts import readme_results

    table = readme_results.table().replace("](docs/benchmarks/", "](").replace("`docs/results/`",
                                                                               "`docs/results/*.json`")
    late = readme_results.stale()
    if late:
        log.warning(f"{where}: the headline table reads results older than their code: {', '.join(late)}")
        table = ('!!! warning "Older than the code it measures"\n    Results files older than their code: '
                 f"{', '.join(late)}.\n\n" + table)
    return table


def card_table(name: str, where: str) -> str:
    """The held-out word-level card of shipped detector ``name``, with where it comes from and when it was committed."""
    import subprocess

    path = ROOT / "mia" / "data" / "detectors" / name / "detector.json"  # the repository's file: git dates it
    if not path.is_file():
        log.warning(f"{where}: no shipped detector {name!r}")
        return f"(no shipped detector {name})"
    record = json.loads(path.read_text())
    metrics = record["metrics"]
    rows = [[scorer, *(f"{found[m]:.3f}" for m in ("precision", "recall", "f1"))]
            for scorer, found in metrics["word_level"].items()]
    try:
        date = subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(path)], cwd=ROOT, capture_output=True,
                              text=True, timeout=30).stdout.strip() or "not committed"
    except (OSError, subprocess.SubprocessError):
        date = "unknown (no git)"
    stamp = (f"*The held-out card of `{name}`: {cell(metrics['evaluated_on'])}; words: {metrics.get('words', '')}; "
             f"in `mia/data/detectors/{name}/detector.json` (made by `python scripts/detector_cards.py`; mia "
             f"{record.get('mia_version', '?')}; file committed {date}).*")
    return "\n".join([markdown_table(["scorer", "P", "R", "F1"], rows), "", stamp])


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    where = page.file.src_uri
    if where in GENERATED:
        markdown = generated_page(markdown, GENERATED[where], where)
    markdown = CARD.sub(lambda m: card_table(m.group(1), where), markdown)
    if HEADLINE in markdown:
        markdown = markdown.replace(HEADLINE, headline_table(where))
    markdown = OPTIONS.sub(lambda m: options_table(m.group(1), where), markdown)
    return TABLE.sub(lambda m: results_table(m.group(1), m.group(2), where), markdown)


SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc):<code>~?([\w.]+)</code>")
ANY_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc):(?=<code>)")  # a role before code of another shape
ANCHOR = re.compile(r'id="(mia\.[\w.]+)"')


def role_target(name: str, anchors: list[str]) -> str | None:
    """The anchor on the page that documents ``name`` (a dotted path or its last parts: ``Detector.detect``): of
    those that end so, the one of fewest parts (a function before a method of the same name); None when the page
    documents no such object, or two of the fewest parts."""
    found = sorted((anchor.count("."), anchor) for anchor in anchors if anchor == name or anchor.endswith("." + name))
    if not found or (len(found) > 1 and found[0][0] == found[1][0]):
        return None
    return found[0][1]


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """The package's docstrings name objects with Sphinx roles (``:func:`x```); on the page the role goes, the name
    stays as code, and it links to the object's entry when the page documents it (the API page)."""
    anchors = sorted(set(ANCHOR.findall(html)))

    def link(match: re.Match[str]) -> str:
        name = match.group(1)
        shown = name.rsplit(".", 1)[-1] if match.group(0).count("~") else name
        target = role_target(name, anchors)
        return f'<a href="#{target}"><code>{shown}</code></a>' if target else f"<code>{shown}</code>"

    return ANY_ROLE.sub("", SPHINX_ROLE.sub(link, html))


def on_pre_build(config: Any) -> None:
    documented.clear()


def on_post_build(config: Any) -> None:
    from mia.cli.app import COMMANDS

    missing = sorted(set(COMMANDS) - documented)
    if missing:
        log.warning(f"commands without an option reference on the site: {', '.join(missing)}")
