"""The detection commands: ``detect``, ``evaluate`` and ``report`` (parsing, one library call each, printing)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mia.cli.common import (
    check_output,
    detector_files,
    progress,
    say,
    write_lines_or_print,
    write_or_print,
)
from mia.cli.options import DetectConfig, EvaluateConfig, ReportConfig
from mia.errors import MiaError


def file_pair(a_file: str, b_file: str) -> Any:
    """The pair of two documents (``--a-file``, ``--b-file``), their texts exactly as stored (line ends untranslated),
    so that every character offset mia prints indexes the file."""
    from mia.io import read_text
    from mia.text.pairs import Pair

    return Pair("0", read_text(a_file, f"--a-file {a_file}", translate_newlines=False),
                read_text(b_file, f"--b-file {b_file}", translate_newlines=False))


def check_new_folder(out: str | None, inputs: dict[str, Any]) -> None:
    """``--out`` for a folder of files mia writes: given, and new or empty (nothing of the user's is replaced)."""
    from mia.io import check_not_input, check_writable_folder, refuse_broken_link

    if not out or not out.strip():
        raise MiaError("--format pan writes a folder of XML files: give --out FOLDER")
    folder = Path(out)
    refuse_broken_link(folder, "--out")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise MiaError(f"--out {out} exists and is not an empty folder; give a new or empty folder for the XML files")
    check_writable_folder(folder if folder.exists() else folder.parent, flag="--out", target=folder)
    check_not_input(out, inputs)


def pan_files(pairs: list[Any]) -> dict[str, str]:
    """Before any work: the file of each suspicious document's detections (:func:`mia.text.pan_files.pan_file_names`),
    after checking that every document name can be written in XML."""
    from mia.text.pan_files import check_xml_names, document_names, pan_file_names

    check_xml_names(pairs)
    return pan_file_names(document_names(pair)[0] for pair in pairs)


def write_pan_folder(out: str, found: list[tuple[Any, list[tuple[int, int, int, int]]]], names: dict[str, str]) -> None:
    """PAN XML detections, one file per suspicious document (:mod:`mia.text.pan_files`), named by ``names``
    (:func:`pan_files`), each written atomically."""
    from mia.io import write_atomic
    from mia.text.pan_files import grouped_by_suspicious, pan_xml

    files = grouped_by_suspicious(found)
    for suspicious, detections in sorted(files.items()):
        write_atomic([pan_xml(suspicious, detections)], Path(out) / names[suspicious])
    if files:
        say(f"wrote {len(files)} PAN XML files to {out} ({sum(len(d) for d in files.values())} detections)")


def detect_inputs(config: DetectConfig) -> list[Any]:
    """The pairs ``detect`` runs on, from exactly one of --a/--b, --a-file/--b-file, --pairs."""
    from mia.text.pairs import Pair, read_pairs

    given = [value for value in (config.a or config.b, config.a_file or config.b_file, config.pairs)
             if value is not None]
    if len(given) != 1:
        raise MiaError("give exactly one input: --a TEXT --b TEXT, --a-file F --b-file F, or --pairs PAIRS.jsonl")
    if config.pairs:
        return read_pairs(config.pairs)
    if config.a_file or config.b_file:
        if not (config.a_file and config.b_file):
            raise MiaError("give both --a-file and --b-file")
        return [file_pair(config.a_file, config.b_file)]
    if config.a is None or config.b is None:
        raise MiaError("give both --a and --b")
    return [Pair("0", config.a, config.b)]


def run_detect(config: DetectConfig) -> int:
    from mia.alignment.detection import DetectionError
    from mia.detector.detector import Detector
    from mia.io import write_jsonl
    from mia.report.text import detection_text
    from mia.text.alignments import pharaoh_line

    inputs = {"--pairs": config.pairs, "--a-file": config.a_file, "--b-file": config.b_file,
              **detector_files(config.detector)}
    if config.format == "pan":  # a folder of XML files, one per suspicious document
        check_new_folder(config.out, inputs)
    else:
        check_output(config.out, inputs)
    pairs = detect_inputs(config)
    xml_files = pan_files(pairs) if config.format == "pan" else {}
    detector = Detector.load(config.detector)
    rule = detector.passages(gap=config.gap, min_words=config.min_passage_words,
                             min_longest=config.min_longest_phrase, min_outside=config.min_outside_phrase)
    model = detector.load_model(device=config.device, model=config.model)
    failed: list[DetectionError] = []

    def counted(found: Iterable[Any]) -> Iterator[Any]:
        for detection in found:
            if isinstance(detection, DetectionError):
                if config.strict:
                    raise MiaError(f"pair {detection.pair.id!r}: {detection.error} (--strict)")
                failed.append(detection)
            yield detection

    pharaoh = config.format == "pharaoh"
    if pharaoh and config.words == "regex":
        raise MiaError("--format pharaoh counts whitespace words; leave --words out or give --words whitespace")
    detections: Iterable[Any] = counted(detector.iter_detect(
        model, pairs, threshold=config.threshold, decode=config.decode, words=config.words or
        ("whitespace" if pharaoh else "regex"), min_phrase_words=config.min_phrase_words,
        batch_size=config.batch_size, candidates=config.candidates, passages=rule, progress=progress,
    ))
    if len(pairs) > 1:
        detections = progress(detections, "detect", len(pairs))
    records = (d.to_dict(token_links=config.token_links) for d in detections)
    if pharaoh:  # a failed pair keeps its line, empty, so lines stay aligned with the pairs
        write_lines_or_print(("" if isinstance(d, DetectionError) else pharaoh_line(d.word_pairs())
                              for d in detections), config.out)
    elif config.format == "pan":
        write_pan_folder(str(config.out), [(d.pair, [(p.a_start, p.a_end, p.b_start, p.b_end) for p in d.passages])
                                           for d in detections if not isinstance(d, DetectionError)], xml_files)
    elif config.format == "jsonl" and config.out:
        write_jsonl(records, config.out)
    elif config.format == "jsonl":
        for record in records:
            print(json.dumps(record, ensure_ascii=False), flush=True)
    elif config.format == "json":
        results = list(records)
        write_or_print(json.dumps(results[0] if len(results) == 1 else results, indent=2, ensure_ascii=False),
                       config.out)
    else:
        write_or_print("\n".join(detection_text(d) for d in detections), config.out)
    if failed:
        say(failure_message(failed, len(pairs), config.format))
    return 2 if len(failed) == len(pairs) else 0


def failure_message(failed: list[Any], total: int, output_format: str) -> str:
    """The line that says which pairs failed: where the output has a record per pair it says why, so the line names
    the pairs; PAN files and Pharaoh lines cannot, so the line gives the first reasons itself."""
    if output_format not in ("pan", "pharaoh"):
        return (f"{len(failed)} of {total} pairs failed (their records say why): "
                f"{', '.join(repr(f.pair.id) for f in failed[:5])}{' ...' if len(failed) > 5 else ''}")
    where = "no detections in the PAN files" if output_format == "pan" else "empty Pharaoh lines"
    reasons = "; ".join(f"{f.pair.id!r}: {f.error}" for f in failed[:3])
    return f"{len(failed)} of {total} pairs failed and have {where}: {reasons}{' ...' if len(failed) > 3 else ''}"


def run_evaluate(config: EvaluateConfig) -> int:
    from mia.detector.detector import Detector
    from mia.evaluate.evaluation import evaluate_detector
    from mia.io import jsonable
    from mia.report.text import evaluation_text, passage_evaluation_text
    from mia.text.pairs import read_pairs

    check_output(config.out, {"--pairs": config.pairs, **detector_files(config.detector)})
    pairs = read_pairs(config.pairs)
    if config.gold == "passages":
        from mia.evaluate.passage_evaluation import check_gold_passages

        check_gold_passages(pairs)
    detector = Detector.load(config.detector)
    model = detector.load_model(device=config.device)
    rule = detector.passages(gap=config.gap, min_words=config.min_passage_words,
                             min_longest=config.min_longest_phrase, min_outside=config.min_outside_phrase)
    evaluation: Any
    if config.gold == "passages":
        from mia.evaluate.passage_evaluation import evaluate_passages

        evaluation = evaluate_passages(detector, model, pairs, threshold=config.threshold,
                                       candidates=config.candidates, rule=rule, batch_size=config.batch_size,
                                       progress=progress)
    else:
        evaluation = evaluate_detector(
            detector, model, pairs, threshold=config.threshold, word_scheme=config.words,
            batch_size=config.batch_size, include_trained=config.include_trained,
            decode=config.decode or detector.decode, candidates=config.candidates, passages=rule, progress=progress,
            embedding_layer=config.embedding_layer,
        )
    if config.format == "json":
        text = json.dumps(jsonable(evaluation.to_dict()), indent=2)
    elif config.gold == "passages":
        text = passage_evaluation_text(evaluation)
    else:
        text = evaluation_text(evaluation)
    write_or_print(text, config.out)
    return 0


def run_report(config: ReportConfig) -> int:
    from mia.detector.detector import Detector
    from mia.heads.patch_file import read_patch_file
    from mia.io import write_atomic
    from mia.report.html import render_html
    from mia.report.report_data import report_data
    from mia.report.text import counted
    from mia.text.pairs import read_pairs

    compared = {} if config.compare is None else {flag.replace("--detector", "--compare"): path
                                                  for flag, path in detector_files(config.compare).items()}
    check_output(config.out, {"--pairs": config.pairs, "--a-file": config.a_file, "--b-file": config.b_file,
                              "--patch": config.patch, **detector_files(config.detector), **compared})
    if config.pairs and (config.a_file or config.b_file):
        raise MiaError("give --pairs or --a-file/--b-file, not both")
    if bool(config.a_file) != bool(config.b_file):
        raise MiaError("give both --a-file and --b-file")
    pairs = read_pairs(config.pairs)[: config.limit] if config.pairs else []
    if config.a_file and config.b_file:
        pairs = [file_pair(config.a_file, config.b_file)]
    detector = Detector.load(config.detector)
    patch = None if config.patch is None else read_patch_file(config.patch, detector)
    compare = None if config.compare is None else (Detector.load(config.compare), config.compare)
    model = detector.load_model(device=config.device) if pairs else None
    found = [] if model is None else detector.iter_detect(
        model, pairs, threshold=config.threshold, min_phrase_words=config.min_phrase_words,
        candidates=config.candidates)
    data = report_data(detector, model, found, name=config.detector, progress=progress, total=len(pairs),
                       patch=patch, compare=compare)
    if config.format == "json":
        write_atomic([json.dumps(data, ensure_ascii=False, allow_nan=False)], config.out)
    else:
        render_html(data).save(config.out)
    phrases = sum(len(p["phrases"]) for p in data["pairs"])
    say(f"report written to {config.out} ({counted(len(data['pairs']), 'pair')}, {counted(phrases, 'phrase')})")
    return 0
