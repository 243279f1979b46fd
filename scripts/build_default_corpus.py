"""Build mia's default corpus from the Python language reference that CPython ships in ``pydoc_data``.

The text is the plain-text rendering of the reference's topics (``pydoc_data.topics.topics``), part of
the Python documentation (PSF License Agreement, see ``mia/data/LICENSE-python-docs.txt``). Only prose
paragraphs are kept: headings, grammar productions, code examples, tables and list items are dropped,
and each paragraph is rejoined onto one line.

    python scripts/build_default_corpus.py  # writes mia/data/python_reference.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "mia" / "data" / "python_reference.txt"
_HEADING_RULE = re.compile(r"^([*=\-~^\"'`#+])\1{2,}\s*$")
_LIST_MARK = re.compile(r"^(\*|-|\d+\.|\(\d+\)|[a-z]\.)\s")


def prose_paragraphs(topic_text: str) -> list[str]:
    """Return the prose paragraphs of one topic: unindented blocks of sentences, one line each."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", topic_text):
        lines = block.split("\n")
        if not lines or not lines[0] or lines[0][0].isspace():
            continue  # indented: code, grammar, continuation of a list item
        if any(_HEADING_RULE.match(line) for line in lines):
            continue
        if _LIST_MARK.match(lines[0]) or lines[0].startswith(("+", "|", ">>>", "...")):
            continue
        if any(line[:1].isspace() for line in lines[1:]):
            continue  # a block with an indented tail is a definition list or a table
        text = " ".join(line.strip() for line in lines)
        if text.endswith("::") or text.endswith(":"):
            continue  # introduces a code block; on its own it is a fragment
        if len(text) < 80 or not re.search(r"[.!?][\"')]?$", text):
            continue
        paragraphs.append(text)
    return paragraphs


def main() -> int:
    from pydoc_data.topics import topics

    seen: set[str] = set()
    paragraphs: list[str] = []
    for name in sorted(topics):
        for paragraph in prose_paragraphs(topics[name]):
            if paragraph not in seen:
                seen.add(paragraph)
                paragraphs.append(paragraph)
    OUT.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    print(f"{len(paragraphs)} paragraphs from Python {sys.version.split()[0]} -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
