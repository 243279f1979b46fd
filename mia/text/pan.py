"""PAN's text-alignment files: gold annotations in, detections out.

PAN's corpora (PAN 2012-2015 text alignment; Potthast et al.) keep suspicious and source documents as plain text
files and, per document pair, an XML file of *features*::

    <document reference="suspicious-document00005.txt">
      <feature name="plagiarism" this_offset="3592" this_length="687"
               source_reference="source-document01090.txt" source_offset="1318" source_length="685" ... />
    </document>

Offsets are character positions in the documents as stored (a byte-order mark counts as a character, line ends are
not translated). :func:`read_pan` turns a folder of such files, with the two document folders, into pairs whose
links are the gold passages (``a`` the suspicious document, ``b`` the source); pairs listed in a pairs file without
annotations are read too, with no passage (their detections are all false). :func:`pan_xml` writes detections the
same way (``name="detected-plagiarism"``), one file per suspicious document, as PAN's evaluator reads them.

The XML is the user's file: a document type declaration (entities) is refused, and any other problem is an error
naming the file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from mia.errors import MiaError
from mia.io import iter_text_lines, read_bytes_capped, read_text
from mia.text.pairs import Link, Pair

FEATURE = "plagiarism"
DETECTED = "detected-plagiarism"


def parse_annotation(data: bytes, where: str) -> tuple[str, list[tuple[str, int, int, int, int]]]:
    """``(suspicious document name, [(source name, this_offset, this_length, source_offset, source_length)])`` of
    one PAN XML file (its ``plagiarism`` features)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MiaError(f"{where}: the XML declares a document type or entities; PAN files have none, mia reads none")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise MiaError(f"{where}: not valid XML ({error})") from None
    reference = root.get("reference")
    if root.tag != "document" or not reference:
        raise MiaError(f"{where}: expected <document reference=\"...\"> as the root element")
    features = []
    for feature in root.iter("feature"):
        if feature.get("name") not in (FEATURE, DETECTED):
            continue
        try:
            values = [int(feature.get(key, "")) for key in ("this_offset", "this_length", "source_offset",
                                                            "source_length")]
        except ValueError:
            raise MiaError(f"{where}: a feature's offsets and lengths must be whole numbers") from None
        source = feature.get("source_reference")
        if not source or any(v < 0 for v in values):
            raise MiaError(f"{where}: a feature needs a source_reference and offsets and lengths from 0")
        features.append((source, values[0], values[1], values[2], values[3]))
    return reference, features


def _document(folder: Path, name: str, where: str) -> str:
    if Path(name).name != name or name in (".", ".."):
        raise MiaError(f"{where}: the document name {name!r} is not a plain file name")
    return read_text(folder / name, f"{where}: {folder / name}", translate_newlines=False)


def pair_id(suspicious: str, source: str) -> str:
    """``suspicious-document00005-source-document01090``: the pair's id, from the two file names."""
    return f"{Path(suspicious).stem}-{Path(source).stem}"


def read_pan(annotations: str | Path, suspicious: str | Path, sources: str | Path, *,
             pairs_file: str | Path | None = None) -> list[Pair]:
    """The document pairs of a PAN text-alignment corpus (module docstring), in file-name order."""
    annotations, suspicious, sources = Path(annotations), Path(suspicious), Path(sources)
    for flag, folder in (("--annotations", annotations), ("--suspicious", suspicious), ("--sources", sources)):
        if not folder.is_dir():
            raise MiaError(f"{flag} {folder}: no such folder")
    cases: dict[tuple[str, str], list[Link]] = {}
    for path in sorted(annotations.glob("*.xml")):
        where = str(path)
        reference, features = parse_annotation(read_bytes_capped(path, where), where)
        for source, this_offset, this_length, source_offset, source_length in features:
            cases.setdefault((reference, source), []).append(
                (this_offset, this_offset + this_length, source_offset, source_offset + source_length))
        if not features:
            cases.setdefault((reference, ""), [])
    names = sorted(key for key in cases if key[1])
    if pairs_file is not None:
        listed = []
        for number, line in iter_text_lines(pairs_file, f"--pairs {pairs_file}"):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise MiaError(f"--pairs {pairs_file}:{number}: expected two file names, suspicious and source")
            listed.append((parts[0], parts[1]))
        names = listed
    if not names:
        raise MiaError(f"--annotations {annotations}: no plagiarism feature and no --pairs file: no pair to read")
    pairs = []
    texts: dict[tuple[str, str], str] = {}
    for susp, src in names:
        where = f"pair {susp} {src}"
        a = texts.setdefault(("s", susp), _document(suspicious, susp, where))
        b = texts.setdefault(("r", src), _document(sources, src, where))
        links = tuple(sorted(cases.get((susp, src), [])))
        for a0, a1, b0, b1 in links:
            if a1 > len(a) or b1 > len(b):
                raise MiaError(f"{where}: a passage [{a0}:{a1}] / [{b0}:{b1}] lies outside the documents "
                               f"({len(a)} and {len(b)} characters)")
        pairs.append(Pair(pair_id(susp, src), a, b, links, names=(susp, src)))
    return pairs


def pan_xml(suspicious: str, detections: Iterable[tuple[str, int, int, int, int]]) -> str:
    """One suspicious document's detections as PAN XML: ``(source name, a_start, a_end, b_start, b_end)`` each."""
    lines = [f'<document reference={quoteattr(suspicious)}>']
    for source, a0, a1, b0, b1 in detections:
        lines.append(f'<feature name="{DETECTED}" this_offset="{a0}" this_length="{a1 - a0}" '
                     f'source_reference={quoteattr(source)} source_offset="{b0}" source_length="{b1 - b0}" />')
    lines.append("</document>")
    return "\n".join(lines) + "\n"


def document_names(pair: Pair) -> tuple[str, str]:
    """The names PAN output gives a pair's documents: its ``names``, else ``<id>-a.txt`` and ``<id>-b.txt``."""
    return pair.names or (f"{pair.id}-a.txt", f"{pair.id}-b.txt")


def grouped_by_suspicious(items: Sequence[tuple[Pair, list[Link]]]) -> dict[str, list[tuple[str, int, int, int, int]]]:
    """Detections of several pairs, by suspicious document name (the files PAN output is made of)."""
    files: dict[str, list[tuple[str, int, int, int, int]]] = {}
    for pair, passages in items:
        suspicious, source = document_names(pair)
        files.setdefault(suspicious, []).extend((source, *passage) for passage in passages)
    return files
