"""Command line: ``python -m mia COMMAND``. A thin layer: each command is parsing, one library call, printing.

Options are declared once, on each command's config dataclass (:mod:`mia.cli_options`). ``main(argv)`` returns
the exit code: 0 done, 2 bad input (one line on stderr), 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mia._version import __version__
from mia.cli_common import progress, say, workers_capped, write_or_print
from mia.cli_heads import run_ablate, run_compare_heads, run_head, run_heads, run_probe
from mia.cli_options import (
    AblateConfig,
    CommandConfig,
    CompareHeadsConfig,
    DetectConfig,
    EvaluateConfig,
    GenerateConfig,
    HeadConfig,
    HeadsConfig,
    ImportAlignmentsConfig,
    ProbeConfig,
    ReportConfig,
    TrainConfig,
)
from mia.cli_search import IndexConfig, SearchConfig, run_index, run_search
from mia.errors import MiaError, Terminated
from mia.io import check_output_file, printable

# --- commands ------------------------------------------------------------------------------------------------


def noise_of(config: Any, default: Any) -> Any:
    """The noise rates of a command: each rate given on the command line, the others from ``default``."""
    from dataclasses import replace

    given = {name: getattr(config, name) for name in ("substitute", "delete", "insert", "swap", "extra_sentences")}
    return replace(default, **{name: value for name, value in given.items() if value is not None})


def run_generate(config: GenerateConfig) -> int:
    from mia.detector.data import generated_data
    from mia.text.noise import EVALUATION_NOISE
    from mia.text.pairs import write_pairs

    check_output_file(config.out)
    data = generated_data(config.corpus, seed=config.seed, limit=config.limit, spacy_model=config.spacy_model,
                          n_jobs=workers_capped(config.jobs, "--jobs"), copies=config.copies,
                          noise=noise_of(config, EVALUATION_NOISE))
    if not data.pairs:
        raise MiaError("no paragraph has 2 or more sentences: no pairs to write")
    write_pairs(data.pairs, config.out)
    counts = data.record["generation"]
    say(f"wrote {counts['pairs']} pairs to {config.out} ({counts['paragraphs']} paragraphs read, "
        f"{counts['skipped_single_sentence']} skipped with fewer than 2 sentences)")
    return 0


def run_train(config: TrainConfig) -> int:
    from mia.detector.data import generated_data, pair_file_data
    from mia.detector.folder import DetectorConflict, check_detector_destination, default_detector_folder, new_folder
    from mia.detector.training import TrainOptions, train_detector
    from mia.models.attention import load_model
    from mia.models.layout import CONTEXTS
    from mia.models.loading import set_threads
    from mia.report.text import training_report

    if config.corpus and config.pairs:
        raise MiaError("give --corpus or --pairs, not both")
    data_name = Path(config.pairs).stem if config.pairs else {"shuffled": "verbatim"}.get(config.copies, config.copies)
    destination = config.out if config.out is not None else str(default_detector_folder(config.model, data_name))
    state = check_detector_destination(destination)  # before any work, not after
    from mia.text.noise import TRAINING_NOISE

    data = (pair_file_data(config.pairs, limit=config.limit) if config.pairs else
            generated_data(config.corpus, seed=config.seed, limit=config.limit, spacy_model=config.spacy_model,
                           copies=config.copies, noise=noise_of(config, TRAINING_NOISE)))
    set_threads(config.threads)
    model = load_model(config.model, device=config.device)
    say(f"training on {len(data.pairs)} pairs with {model}")
    if config.out is None:
        say(f"no --out given: the detector goes to the new folder {destination}")
    options = TrainOptions(
        seed=config.seed, test_fraction=config.test_fraction, validation_fraction=config.validation_fraction,
        neg_per_pos=config.neg_per_pos, transform=config.transform, batch_size=config.batch_size,
        offsets=CONTEXTS["diagonal" if config.context else config.offsets], relation=config.relation,
        decode=config.decode, bootstrap=config.bootstrap,
    )
    detector = train_detector(model, data, options, progress=progress)
    detector.metadata["command"] = {"name": "train", **config.to_dict()}
    try:
        out = detector.save(destination, expected_state=state)
    except DetectorConflict:
        moved = new_folder(Path(destination))
        say(f"{destination} was written by another run while this one trained; it is left as that run wrote it, "
            f"and this detector goes to {moved}")
        out = detector.save(moved, expected_state=None)
    windowed = detector.metadata["data"]["windowed_pairs"]
    if windowed:
        say(f"{windowed} pairs longer than the model ran as window pairs")
    print(training_report(detector))
    print(f"detector written to {out}")
    return 0


def detect_inputs(config: DetectConfig) -> list[Any]:
    """The pairs ``detect`` runs on, from exactly one of --a/--b, --a-file/--b-file, --pairs."""
    from mia.io import read_text
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
        return [Pair("0", read_text(config.a_file, f"--a-file {config.a_file}"),
                     read_text(config.b_file, f"--b-file {config.b_file}"))]
    if config.a is None or config.b is None:
        raise MiaError("give both --a and --b")
    return [Pair("0", config.a, config.b)]


def run_detect(config: DetectConfig) -> int:
    from mia.detector.detection import DetectionError
    from mia.detector.detector import Detector
    from mia.io import write_jsonl
    from mia.report.text import detection_text
    from mia.text.alignments import pharaoh_line

    check_output_file(config.out)
    pairs = detect_inputs(config)
    detector = Detector.load(config.detector)
    model = detector.load_model(device=config.device, model=config.model)
    failed: list[str] = []

    def counted(found: Iterable[Any]) -> Iterator[Any]:
        for detection in found:
            if isinstance(detection, DetectionError):
                if config.strict:
                    raise MiaError(f"pair {detection.pair.id!r}: {detection.error} (--strict)")
                failed.append(detection.pair.id)
            yield detection

    detections: Iterable[Any] = counted(detector.iter_detect(
        model, pairs, threshold=config.threshold, min_phrase_tokens=config.min_phrase_tokens,
        batch_size=config.batch_size, candidates=config.candidates,
    ))
    if len(pairs) > 1:
        detections = progress(detections, "detect", len(pairs))
    decode = config.decode or detector.decode
    if config.format == "pharaoh":  # a failed pair keeps its line, empty, so lines stay aligned with the pairs
        write_or_print("\n".join("" if isinstance(d, DetectionError)
                                 else pharaoh_line(d.word_links("whitespace", decode=decode))
                                 for d in detections), config.out)
    elif config.format == "jsonl" and config.out:
        write_jsonl((d.to_dict() for d in detections), config.out)
    elif config.format == "jsonl":
        for detection in detections:
            print(json.dumps(detection.to_dict(), ensure_ascii=False), flush=True)
    elif config.format == "json":
        results = [d.to_dict() for d in detections]
        write_or_print(json.dumps(results[0] if len(results) == 1 else results, indent=2, ensure_ascii=False),
                       config.out)
    else:
        write_or_print("\n".join(detection_text(d) for d in detections), config.out)
    if failed:
        say(f"{len(failed)} of {len(pairs)} pairs failed (their records say why): "
            f"{', '.join(map(repr, failed[:5]))}{' ...' if len(failed) > 5 else ''}")
    return 2 if len(failed) == len(pairs) else 0


def run_evaluate(config: EvaluateConfig) -> int:
    from mia.detector.detector import Detector
    from mia.evaluate.evaluation import evaluate_detector
    from mia.io import jsonable
    from mia.text.pairs import read_pairs

    check_output_file(config.out)
    pairs = read_pairs(config.pairs)
    detector = Detector.load(config.detector)
    model = detector.load_model(device=config.device)
    evaluation = evaluate_detector(
        detector, model, pairs, threshold=config.threshold, word_scheme=config.words,
        batch_size=config.batch_size, include_trained=config.include_trained, decode=config.decode or detector.decode,
        progress=progress,
    )
    text = json.dumps(jsonable(evaluation.to_dict()), indent=2) if config.format == "json" else evaluation.text()
    write_or_print(text, config.out)
    return 0


def run_import_alignments(config: ImportAlignmentsConfig) -> int:
    from mia.text.alignments import import_alignments
    from mia.text.pairs import write_pairs

    check_output_file(config.out)
    pairs = import_alignments(config.a, config.b, config.alignments, possible_path=config.possible,
                              id_prefix=config.id_prefix)
    write_pairs(pairs, config.out)
    sure, possible = sum(len(p.links) for p in pairs), sum(len(p.possible) for p in pairs)
    say(f"wrote {len(pairs)} pairs to {config.out} ({sure} sure and {possible} possible-only word links)")
    return 0


def run_report(config: ReportConfig) -> int:
    from mia.detector.detector import Detector
    from mia.io import read_text, write_atomic
    from mia.report.html import render_html
    from mia.report.report_data import report_data
    from mia.text.pairs import Pair, read_pairs

    check_output_file(config.out)
    if config.pairs and (config.a_file or config.b_file):
        raise MiaError("give --pairs or --a-file/--b-file, not both")
    if bool(config.a_file) != bool(config.b_file):
        raise MiaError("give both --a-file and --b-file")
    pairs = read_pairs(config.pairs)[: config.limit] if config.pairs else []
    if config.a_file and config.b_file:
        pairs = [Pair("0", read_text(config.a_file, f"--a-file {config.a_file}"),
                      read_text(config.b_file, f"--b-file {config.b_file}"))]
    detector = Detector.load(config.detector)
    model = detector.load_model(device=config.device) if pairs else None
    found = [] if model is None else detector.iter_detect(
        model, pairs, threshold=config.threshold, min_phrase_tokens=config.min_phrase_tokens,
        candidates=config.candidates)
    data = report_data(detector, model, found, name=config.detector, progress=progress, total=len(pairs))
    if config.format == "json":
        write_atomic([json.dumps(data, ensure_ascii=False, allow_nan=False)], config.out)
    else:
        render_html(data).save(config.out)
    phrases = sum(len(p["phrases"]) for p in data["pairs"])
    say(f"report written to {config.out} ({len(data['pairs'])} pairs, {phrases} phrases)")
    return 0


COMMANDS: dict[str, tuple[type[CommandConfig], Callable[[Any], int], str]] = {
    "generate": (GenerateConfig, run_generate, "make sentence-shuffled copy pairs from a corpus"),
    "train": (TrainConfig, run_train, "train a detector over attention heads"),
    "detect": (DetectConfig, run_detect, "find linked tokens and phrases in text pairs"),
    "evaluate": (EvaluateConfig, run_evaluate, "measure a detector beside string baselines on a pair file"),
    "import-alignments": (ImportAlignmentsConfig, run_import_alignments,
                          "convert Pharaoh word alignments to a pair file"),
    "heads": (HeadsConfig, run_heads, "rank a detector's attention heads, with intervals and head types"),
    "compare-heads": (CompareHeadsConfig, run_compare_heads, "how far two detectors agree on their heads"),
    "ablate": (AblateConfig, run_ablate, "AP as heads are kept, dropped or zeroed in the forward pass"),
    "head": (HeadConfig, run_head, "what one head attends to: top token pairs with context, a random sample"),
    "report": (ReportConfig, run_report, "one self-contained HTML page: detector, heads, detections side by side"),
    "probe": (ProbeConfig, run_probe, "score every head on a repeated random sequence (duplicate, induction)"),
    "index": (IndexConfig, run_index, "index documents for search (windows, MinHash signatures, embeddings)"),
    "search": (SearchConfig, run_search, "find reused passages across a collection of documents"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mia", description="Learn which attention heads of a transformer link the tokens of two texts.")
    parser.add_argument("--version", action="version", version=f"mia {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (config_type, _, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=" ".join((config_type.__doc__ or "").split()))
        config_type.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 Ctrl-C, 143 SIGTERM)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    config_type, run, _ = COMMANDS[args.command]
    values = {k: v for k, v in vars(args).items() if k != "command"}
    with sigterm_as_exception():
        try:
            return run(config_type.from_dict(values))
        except MiaError as error:
            say(f"mia {args.command}: error: {one_line(str(error))}")
            return 2
        except OSError as error:  # a file that cannot be written or read: the user's to fix, not a crash
            where = f" ({error.filename})" if error.filename else ""
            say(f"mia {args.command}: error: {one_line(error.strerror or str(error))}{where}")
            return 2
        except KeyboardInterrupt:
            say("mia: interrupted")
            return 130
        except Terminated:
            say("mia: terminated")
            return 143


def one_line(message: str) -> str:
    return printable(" ".join(message.split()))


@contextlib.contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while a command runs, so that temporary files are removed."""
    def terminate(signum: int, frame: Any) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
