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

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from mia.errors import MiaError
from mia.io import iter_text_lines, printable, read_bytes_capped, read_text
from mia.text.pairs import Link, Pair

FEATURE = "plagiarism"
DETECTED = "detected-plagiarism"
MAX_STEM = 200  # characters of a PAN output file's name before "-N.xml" (file systems allow 255 bytes)
_NOT_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # outside XML 1.0's Char


def parse_annotation(data: bytes, where: str) -> tuple[str, list[tuple[str, int, int, int, int]]]:
    """``(suspicious document name, [(source name, this_offset, this_length, source_offset, source_length)])`` of
    one PAN XML file (its ``plagiarism`` features)."""
    refuse_declarations(data, where)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise MiaError(f"{where}: not valid XML ({error})") from None
    reference = root.get("reference")
    if root.tag != "document" or not reference or not reference.strip():
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
        if not source or not source.strip() or any(v < 0 for v in values):
            raise MiaError(f"{where}: a feature needs a source_reference and offsets and lengths from 0")
        if values[1] == 0 or values[3] == 0:
            raise MiaError(f"{where}: a feature of this_length {values[1]} and source_length {values[3]}: a passage "
                           "needs characters in both documents")
        features.append((source, values[0], values[1], values[2], values[3]))
    return reference, features


def refuse_declarations(data: bytes, where: str) -> None:
    """Raise :class:`MiaError` when the XML ``data`` declares a document type or entities (in any encoding expat
    reads: UTF-8, UTF-16 with its byte-order mark, ...), or is not well-formed."""
    from xml.parsers import expat

    def refuse(*_: object) -> None:
        raise MiaError(f"{where}: the XML declares a document type or entities; PAN files have none, mia reads none")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise MiaError(f"{where}: not valid XML ({error})") from None


def detected_features(data: bytes) -> int:
    """How many features of a PAN XML file (already read by :func:`parse_annotation`) are a detector's output
    (``detected-plagiarism``) rather than gold."""
    root = ElementTree.fromstring(data)
    return sum(feature.get("name") == DETECTED for feature in root.iter("feature"))


def _document(folder: Path, name: str, where: str) -> str:
    if Path(name).name != name or name in (".", ".."):
        raise MiaError(f"{where}: the document name {name!r} is not a plain file name")
    return read_text(folder / name, f"{where}: {folder / name}", translate_newlines=False)


def pair_id(suspicious: str, source: str) -> str:
    """``suspicious-document00005-source-document01090``: the pair's id, from the two file names."""
    return f"{Path(suspicious).stem}-{Path(source).stem}"


def read_pan(annotations: str | Path, suspicious: str | Path, sources: str | Path, *,
             pairs_file: str | Path | None = None, note: Callable[[str], None] | None = None) -> list[Pair]:
    """The document pairs of a PAN text-alignment corpus (module docstring), in file-name order (``pairs_file``'s
    order when given). ``note`` hears what the caller should tell the user (features that are a detector's output,
    ids made unique)."""
    annotations, suspicious, sources = Path(annotations), Path(suspicious), Path(sources)
    for flag, folder in (("--annotations", annotations), ("--suspicious", suspicious), ("--sources", sources)):
        if not folder.is_dir():
            raise MiaError(f"{flag} {folder}: " + ("a file, not a folder" if folder.exists() else "no such folder"))
    cases: dict[tuple[str, str], list[Link]] = {}
    detected = 0
    for path in sorted(annotations.glob("*.xml")):
        where = str(path)
        data = read_bytes_capped(path, where)
        reference, features = parse_annotation(data, where)
        detected += detected_features(data) if features else 0
        for source, this_offset, this_length, source_offset, source_length in features:
            cases.setdefault((reference, source), []).append(
                (this_offset, this_offset + this_length, source_offset, source_offset + source_length))
        if not features:
            cases.setdefault((reference, ""), [])
    if detected and note is not None:
        note(f"{detected} features are named {DETECTED!r} (a detector's output, as `detect --format pan` writes "
             "it), and were read as gold passages")
    names = sorted(key for key in cases if key[1])
    if pairs_file is not None:
        names = listed_pairs(pairs_file)
    if not names:
        raise MiaError(f"--annotations {annotations}: no plagiarism feature and no --pairs file: no pair to read")
    pairs = []
    texts: dict[tuple[str, str], str] = {}
    ids = unique_ids([pair_id(susp, src) for susp, src in names], note=note)
    for (susp, src), identifier in zip(names, ids):
        where = f"pair {susp} {src}"
        a = texts.setdefault(("s", susp), _document(suspicious, susp, where))
        b = texts.setdefault(("r", src), _document(sources, src, where))
        links = tuple(sorted(cases.get((susp, src), [])))
        for a0, a1, b0, b1 in links:
            if a1 > len(a) or b1 > len(b):
                raise MiaError(f"{where}: a passage [{a0}:{a1}] / [{b0}:{b1}] lies outside the documents "
                               f"({len(a)} and {len(b)} characters)")
        pairs.append(Pair(identifier, a, b, links, names=(susp, src)))
    return pairs


def listed_pairs(pairs_file: str | Path) -> list[tuple[str, str]]:
    """``(suspicious, source)`` file names, a line each, of PAN's pairs file; a pair listed twice is an error naming
    both lines, and a byte-order mark at the start is not part of the first name."""
    listed: dict[tuple[str, str], int] = {}
    for number, line in iter_text_lines(pairs_file, f"--pairs {pairs_file}"):
        parts = line.removeprefix("\ufeff").split() if number == 1 else line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise MiaError(f"--pairs {pairs_file}:{number}: expected two file names, suspicious and source")
        key = (parts[0], parts[1])
        if key in listed:
            raise MiaError(f"--pairs {pairs_file}:{number}: the pair {parts[0]} {parts[1]} is listed on line "
                           f"{listed[key]} already; list each pair once")
        listed[key] = number
    if not listed:
        raise MiaError(f"--pairs {pairs_file}: lists no pair (a line per pair: the suspicious and the source file "
                       "name)")
    return list(listed)


def unique_ids(ids: Sequence[str], *, note: Callable[[str], None] | None = None) -> list[str]:
    """``ids`` with those that repeat an earlier one (two file-name pairs can give one id: ``a-b.txt`` + ``c.txt``
    and ``a.txt`` + ``b-c.txt`` both give ``a-b-c``) suffixed ``-2``, ``-3``, ... until unique."""
    taken, seen = set(ids), set()  # every id as given is reserved first: a genuine ``x-2`` keeps its id
    out, renamed = [], 0
    for identifier in ids:
        if identifier not in seen:
            seen.add(identifier)
            out.append(identifier)
            continue
        number = 2
        while f"{identifier}-{number}" in taken:
            number += 1
        taken.add(f"{identifier}-{number}")
        out.append(f"{identifier}-{number}")
        renamed += 1
    if renamed and note is not None:
        note(f"{renamed} pair ids repeated another pair's (file names joined by '-' can coincide) and were made "
             "unique with a suffix -2, -3, ...; each pair's names field keeps its file names")
    return out


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


def check_xml_names(pairs: Iterable[Pair]) -> None:
    """Raise :class:`MiaError` (before any work) for a pair whose document names (:func:`document_names`) hold a
    character an XML attribute cannot (a NUL byte, other control characters, an unpaired surrogate)."""
    for pair in pairs:
        for name in document_names(pair):
            bad = _NOT_XML.search(name)
            if bad:
                raise MiaError(f"pair {printable(pair.id)!r}: the document name {printable(name)!r} holds the "
                               f"character U+{ord(bad.group()):04X}, which PAN's XML cannot hold; give the pair "
                               "another id (or names) of printable characters")


def pan_file_names(suspicious: Iterable[str]) -> dict[str, str]:
    """The file of each suspicious document's detections in a PAN output folder, by document name: the name without
    its extension, characters other than ASCII letters, digits, ``.``, ``_`` and ``-`` as ``_`` (a ``/`` of an id
    too), at most :data:`MAX_STEM` of them, then ``.xml``. Names that still coincide, also in another letter case
    (``one/doc`` and ``two/doc`` give ``one_doc`` and ``two_doc``; ``doc.txt`` and ``doc.text`` both ``doc``), get
    ``-2``, ``-3``, ... in the documents' name order, so that no two documents share a file. Each file keeps the
    document's own name in its ``reference`` attribute, which is what PAN's evaluator reads."""
    files: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(set(suspicious)):
        stem = _NOT_SAFE.sub("_", name.removesuffix(Path(name).suffix))[:MAX_STEM]
        if not stem or stem.startswith("."):
            stem = "_" + stem[: MAX_STEM - 1]
        candidate, number = stem, 1
        while candidate.lower() in taken:
            number += 1
            candidate = f"{stem}-{number}"
        taken.add(candidate.lower())
        files[name] = candidate + ".xml"
    return files


def grouped_by_suspicious(items: Sequence[tuple[Pair, list[Link]]]) -> dict[str, list[tuple[str, int, int, int, int]]]:
    """Detections of several pairs, by suspicious document name (the files PAN output is made of)."""
    files: dict[str, list[tuple[str, int, int, int, int]]] = {}
    for pair, passages in items:
        suspicious, source = document_names(pair)
        files.setdefault(suspicious, []).extend((source, *passage) for passage in passages)
    return files
