"""Command line: ``python -m mia {generate,train,detect,heads}``. A thin layer over the library."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mia._version import __version__
from mia.detector.folder import DEFAULT_DETECTOR
from mia.errors import MiaError, Terminated
from mia.io import check_output_file, printable

if TYPE_CHECKING:
    from mia.detector.detection import Detection

NEW_DETECTORS = Path("models")  # where `train` without --out puts a new detector (relative to the working folder)
C = TypeVar("C", bound="CommandConfig")


class CommandConfig:
    """Shared ``to_dict``/``from_dict`` of the per-command configs."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class GenerateConfig(CommandConfig):
    out: str
    corpus: str | None = None
    seed: int = 0
    limit: int | None = None
    spacy_model: str | None = None
    jobs: int = 1


@dataclass
class TrainConfig(CommandConfig):
    model: str = "minilm"
    corpus: str | None = None
    pairs: str | None = None
    out: str | None = None
    seed: int = 0
    limit: int | None = None
    relation: str | None = None
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    neg_per_pos: int = 10
    transform: Literal["log", "none"] = "log"
    context: bool = False
    batch_size: int = 1
    device: str = "auto"
    threads: int | None = None
    spacy_model: str | None = None


@dataclass
class DetectConfig(CommandConfig):
    detector: str = DEFAULT_DETECTOR
    a: str | None = None
    b: str | None = None
    a_file: str | None = None
    b_file: str | None = None
    pairs: str | None = None
    format: Literal["text", "json", "jsonl", "pharaoh"] = "text"
    threshold: float | None = None
    min_phrase_tokens: int = 1
    out: str | None = None
    model: str | None = None
    device: str = "auto"
    batch_size: int = 1


@dataclass
class EvaluateConfig(CommandConfig):
    pairs: str
    detector: str = DEFAULT_DETECTOR
    format: Literal["text", "json"] = "text"
    words: Literal["regex", "whitespace"] = "regex"
    threshold: float | None = None
    include_trained: bool = False
    out: str | None = None
    device: str = "auto"
    batch_size: int = 1


@dataclass
class ImportAlignmentsConfig(CommandConfig):
    a: str
    b: str
    alignments: str
    out: str
    possible: str | None = None
    id_prefix: str = "s"


@dataclass
class HeadsConfig(CommandConfig):
    detector: str = DEFAULT_DETECTOR
    top: int = 20
    plot: str | None = None
    format: Literal["text", "json"] = "text"


# --- helpers ---------------------------------------------------------------------------------------------


def progress(items: Iterable[Any], description: str, total: int | None = None) -> Iterable[Any]:
    """A tqdm progress bar on stderr (shown on a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, total=total, unit="pair", disable=None, file=sys.stderr)


def _write_text(text: str, out: str | None) -> None:
    """Print ``text``, or write it atomically to the file ``out``."""
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from mia.io import write_atomic

    write_atomic([text], out)


def _read_text_file(path: str, flag: str) -> str:
    from mia.io import read_text

    return read_text(path, f"{flag} {path}")


def _jobs(requested: int) -> int:
    """``--jobs`` capped at the cores available, saying so when it is capped."""
    from mia.workers import cap_workers

    jobs = cap_workers(requested)
    if jobs < requested:
        print(f"--jobs {requested} capped at {jobs} (the cores available here)", file=sys.stderr)
    return jobs


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


def _probability(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


# --- commands ----------------------------------------------------------------------------------------------


def run_generate(config: GenerateConfig) -> int:
    from mia.text.corpus import read_paragraphs
    from mia.text.pairs import generate_pairs, write_pairs

    check_output_file(config.out)
    jobs = _jobs(config.jobs)
    paragraphs = read_paragraphs(config.corpus)
    pairs, summary = generate_pairs(
        paragraphs, seed=config.seed, limit=config.limit, spacy_model=config.spacy_model, n_jobs=jobs
    )
    if not pairs:
        raise MiaError("no paragraph has 2 or more sentences: no pairs to write")
    write_pairs(pairs, config.out)
    print(
        f"wrote {summary.pairs} pairs to {config.out} ({summary.paragraphs} paragraphs read, "
        f"{summary.skipped_single_sentence} skipped with fewer than 2 sentences)",
        file=sys.stderr,
    )
    return 0


def run_train(config: TrainConfig) -> int:
    from mia.detector.folder import DetectorConflict, check_detector_destination, new_folder
    from mia.detector.training import TrainOptions, train_detector
    from mia.models.attention import load_model
    from mia.models.layout import DIAGONAL_CONTEXT, PAIR_ONLY
    from mia.models.loading import set_threads
    from mia.report.text import training_report
    from mia.text.corpus import DEFAULT_CORPUS_NAME, read_paragraphs
    from mia.text.pairs import generate_pairs, read_pairs

    if config.corpus and config.pairs:
        raise MiaError("give --corpus or --pairs, not both")
    default_name = f"{_slug(config.model)}-{_slug(Path(config.pairs).stem) if config.pairs else 'verbatim'}"
    # a new folder when --out is not given, never an existing detector (shipped ones are read-only inputs)
    destination = str(new_folder(NEW_DETECTORS / default_name)) if config.out is None else config.out
    state = check_detector_destination(destination)  # before training, not after
    out = Path(destination)
    if config.pairs:
        pairs = read_pairs(config.pairs)[: config.limit]
        data: dict[str, Any] = {"source": "pair file", "pairs_file": str(config.pairs)}
        relation = config.relation or f"links of {Path(config.pairs).name}"
    else:
        paragraphs = read_paragraphs(config.corpus)
        pairs, summary = generate_pairs(
            paragraphs, seed=config.seed, limit=config.limit, spacy_model=config.spacy_model
        )
        data = {
            "source": "generated shuffled-sentence copies",
            "corpus": config.corpus or DEFAULT_CORPUS_NAME,
            "generation": summary.to_dict(),
        }
        relation = config.relation or "verbatim copy (sentence-shuffled paragraphs)"
    set_threads(config.threads)
    model = load_model(config.model, device=config.device)
    print(f"training on {len(pairs)} pairs with {model}", file=sys.stderr)
    if config.out is None:
        print(f"no --out given: the detector goes to the new folder {out}", file=sys.stderr)
    options = TrainOptions(
        seed=config.seed,
        test_fraction=config.test_fraction,
        validation_fraction=config.validation_fraction,
        neg_per_pos=config.neg_per_pos,
        transform=config.transform,
        offsets=DIAGONAL_CONTEXT if config.context else PAIR_ONLY,
        batch_size=config.batch_size,
        relation=relation,
    )
    detector = train_detector(model, pairs, options, data=data, progress=progress)
    detector.metadata["command"] = {"name": "train", **config.to_dict()}
    try:
        detector.save(out, expected_state=state)
    except DetectorConflict:
        moved = new_folder(out)
        print(f"{out} was written by another run while this one trained; it is left as that run wrote it, and "
              f"this detector goes to {moved}", file=sys.stderr)
        out = detector.save(moved, expected_state=None)
    skipped = detector.metadata["data"]["skipped_too_long"]
    if skipped:
        print(f"skipped {skipped} pairs too long for the model (listed in detector.json)", file=sys.stderr)
    print(training_report(detector))
    print(f"detector written to {out}")
    return 0


def _slug(name: str) -> str:
    tail = Path(name).name if Path(name).exists() else name.split("/")[-1]
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in tail).strip("-.") or "model"


def run_detect(config: DetectConfig) -> int:
    from mia.detector.detector import Detector
    from mia.report.text import detection_text
    from mia.text.pairs import Pair, read_pairs

    given = [name for name, value in (("--a/--b", config.a or config.b), ("--a-file/--b-file",
             config.a_file or config.b_file), ("--pairs", config.pairs)) if value is not None]
    if len(given) != 1:
        raise MiaError("give exactly one input: --a TEXT --b TEXT, --a-file F --b-file F, or --pairs PAIRS.jsonl")
    check_output_file(config.out)
    if config.pairs:
        pairs = read_pairs(config.pairs)
    elif config.a_file or config.b_file:
        if not (config.a_file and config.b_file):
            raise MiaError("give both --a-file and --b-file")
        pairs = [Pair(id="0", a=_read_text_file(config.a_file, "--a-file"),
                      b=_read_text_file(config.b_file, "--b-file"))]
    else:
        if config.a is None or config.b is None:
            raise MiaError("give both --a and --b")
        pairs = [Pair(id="0", a=config.a, b=config.b)]
    detector = Detector.load(config.detector)
    if config.model is None:
        model = detector.load_model(device=config.device)
    else:
        from mia.models.attention import load_model

        model = load_model(config.model, device=config.device)
        detector.check_model(model)
    encoded = [model.encode(pair) for pair in pairs]  # every length checked before anything is written
    detections: Iterable[Detection] = detector.iter_detect(
        model, encoded, threshold=config.threshold, min_phrase_tokens=config.min_phrase_tokens,
        batch_size=config.batch_size,
    )
    if len(pairs) > 1:
        detections = progress(detections, "detect", len(pairs))
    if config.format == "pharaoh":
        from mia.text.alignments import pharaoh_line
        from mia.text.words import word_scores, word_spans

        threshold = detector.threshold if config.threshold is None else config.threshold
        lines = []
        for detection in detections:
            a_words, b_words = word_spans(detection.pair.a, "whitespace"), word_spans(detection.pair.b, "whitespace")
            spans = detection.token_spans
            scores = word_scores(detection.probabilities, spans[0], spans[1], a_words, b_words)
            lines.append(pharaoh_line(scores >= threshold))
        _write_text("\n".join(lines), config.out)
    elif config.format == "jsonl":
        from mia.io import write_jsonl

        if config.out:
            write_jsonl((d.to_dict() for d in detections), config.out)
        else:
            for detection in detections:
                print(json.dumps(detection.to_dict(), ensure_ascii=False), flush=True)
    elif config.format == "json":
        results = [d.to_dict() for d in detections]
        _write_text(json.dumps(results[0] if len(results) == 1 else results, indent=2, ensure_ascii=False),
                    config.out)
    else:
        _write_text("\n".join(detection_text(d) for d in detections), config.out)
    return 0


def run_evaluate(config: EvaluateConfig) -> int:
    from mia.detector.detector import Detector
    from mia.evaluate.evaluation import evaluate_detector
    from mia.text.pairs import read_pairs

    check_output_file(config.out)
    pairs = read_pairs(config.pairs)
    detector = Detector.load(config.detector)
    model = detector.load_model(device=config.device)
    evaluation = evaluate_detector(
        detector, model, pairs, threshold=config.threshold, word_scheme=config.words,
        batch_size=config.batch_size, include_trained=config.include_trained, progress=progress,
    )
    if config.format == "json":
        from mia.io import jsonable

        _write_text(json.dumps(jsonable(evaluation.to_dict()), indent=2), config.out)
    else:
        _write_text(evaluation.text(), config.out)
    return 0


def run_import_alignments(config: ImportAlignmentsConfig) -> int:
    from mia.text.alignments import import_alignments
    from mia.text.pairs import write_pairs

    check_output_file(config.out)
    pairs = import_alignments(config.a, config.b, config.alignments, possible_path=config.possible,
                              id_prefix=config.id_prefix)
    write_pairs(pairs, config.out)
    sure = sum(len(p.links) for p in pairs)
    possible = sum(len(p.possible) for p in pairs)
    print(f"wrote {len(pairs)} pairs to {config.out} ({sure} sure and {possible} possible-only word links)",
          file=sys.stderr)
    return 0


def run_heads(config: HeadsConfig) -> int:
    from mia.detector.detector import Detector
    from mia.heads.ranking import rank_heads
    from mia.report.plot import check_plot_path, plot_heads
    from mia.report.text import heads_table

    if config.plot is not None:
        check_plot_path(config.plot)
    detector = Detector.load(config.detector)
    heads = rank_heads(detector, top=config.top)
    if config.format == "json":
        print(json.dumps({"model": detector.model_name, "relation": detector.metadata.get("relation"),
                          "heads": [h.to_dict() for h in heads]}, indent=2))
    else:
        print(printable(f"{detector.model_name}: top {len(heads)} of {detector.layout.n_features} heads by "
                        f"standardised weight ({detector.metadata.get('relation', '')}); head AUC: the head alone "
                        "on held-out pairs"))
        print(heads_table(heads))
    if config.plot:
        path = plot_heads(detector, config.plot)
        print(f"heatmap written to {path}", file=sys.stderr)
    return 0


# --- parser ------------------------------------------------------------------------------------------------

DETECTOR_HELP = f"detector folder, or the name of a shipped detector (default: {DEFAULT_DETECTOR})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mia",
        description="Learn which attention heads of a transformer link the tokens of two texts.",
    )
    parser.add_argument("--version", action="version", version=f"mia {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    g = commands.add_parser("generate", help="make sentence-shuffled copy pairs from a corpus",
                            description="Pair each paragraph (B) with a copy whose sentences are shuffled (A).")
    g.add_argument("--corpus", help="plain text (paragraphs split by blank lines) or .jsonl with a text field "
                   "(default: the packaged Python language reference prose)")
    g.add_argument("--out", required=True, help="pair file to write (JSONL)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--limit", type=_positive, help="stop after this many pairs")
    g.add_argument("--spacy-model", help="installed spaCy pipeline for sentences (default: rule-based sentencizer)")
    g.add_argument("--jobs", type=_positive, default=1, help="parallel processes for sentence splitting")

    t = commands.add_parser("train", help="train a detector over attention heads",
                            description="Train a logistic regression over per-head attention features and "
                            "report held-out metrics beside string baselines.")
    t.add_argument("--model", default="minilm", help="alias (minilm, bart), hub id or local directory "
                   "(default: minilm, the packaged all-MiniLM-L6-v2)")
    source = t.add_mutually_exclusive_group()
    source.add_argument("--corpus", help="corpus to generate shuffled-copy pairs from (default: packaged corpus)")
    source.add_argument("--pairs", help="pair file (JSONL) with labelled links to train on")
    t.add_argument("--out", help="detector folder to write: new, empty, or a detector folder (its two files are "
                   "replaced, other files stay); default: a new folder models/<model>-verbatim (or "
                   "models/<model>-<pairs file name> with --pairs), numbered -2, -3, ... when taken")
    t.add_argument("--seed", type=int, default=0, help="seed for pairs, split and sampling (default 0)")
    t.add_argument("--limit", type=_positive, help="use at most this many pairs")
    t.add_argument("--relation", help="name of the relation the links mark (recorded in the detector)")
    t.add_argument("--test-fraction", type=_fraction, default=0.2, help="held-out test pairs (default 0.2)")
    t.add_argument("--validation-fraction", type=_fraction, default=0.1,
                   help="pairs for choosing the threshold (default 0.1)")
    t.add_argument("--neg-per-pos", type=_positive, default=10,
                   help="negatives sampled per positive token pair (default 10)")
    t.add_argument("--transform", choices=["log", "none"], default="log",
                   help="feature transform before standardising: log(w + 1e-4) (default) or none")
    t.add_argument("--context", action="store_true",
                   help="also give each head's attention at the diagonal neighbours (i-1, j-1) and (i+1, j+1): "
                   "3x the features, phrase context for the regression")
    t.add_argument("--batch-size", type=_positive, default=1, help="pairs per forward pass (default 1)")
    t.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:1, ...")
    t.add_argument("--threads", type=_positive, help="CPU threads for torch (default: torch's choice)")
    t.add_argument("--spacy-model", help="installed spaCy pipeline for sentences (default: rule-based sentencizer)")

    d = commands.add_parser("detect", help="find linked tokens and phrases in text pairs",
                            description="Run a detector on text pairs and print linked token pairs and phrases.")
    d.add_argument("--detector", default=DEFAULT_DETECTOR, help=DETECTOR_HELP)
    d.add_argument("--a", help="text A")
    d.add_argument("--b", help="text B")
    d.add_argument("--a-file", help="file holding text A")
    d.add_argument("--b-file", help="file holding text B")
    d.add_argument("--pairs", help="pair file (JSONL); links in it are ignored")
    d.add_argument("--format", choices=["text", "json", "jsonl", "pharaoh"], default="text",
                   help="output (default text); pharaoh: word-level i-j links of whitespace words, a line per pair")
    d.add_argument("--threshold", type=_probability, help="probability threshold (default: the detector's)")
    d.add_argument("--min-phrase-tokens", type=_positive, default=1, help="shortest phrase to report (tokens)")
    d.add_argument("--out", help="write to this file instead of standard output")
    d.add_argument("--model", help="model to run (default: the detector's own; another one is refused)")
    d.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, ...")
    d.add_argument("--batch-size", type=_positive, default=1, help="pairs per forward pass (default 1)")

    e = commands.add_parser("evaluate", help="measure a detector beside string baselines on a pair file",
                            description="Token- and word-level metrics of a detector and string-matching "
                            "baselines on the same pairs (pairs the detector was fit on are left out).")
    e.add_argument("--pairs", required=True, help="pair file (JSONL) with gold links")
    e.add_argument("--detector", default=DEFAULT_DETECTOR, help=DETECTOR_HELP)
    e.add_argument("--format", choices=["text", "json"], default="text",
                   help="output (default text); json adds a per-pair breakdown")
    e.add_argument("--words", choices=["regex", "whitespace"], default="regex",
                   help="word segmentation: runs of letters/digits and single punctuation marks (regex, "
                   "default) or whitespace-separated tokens")
    e.add_argument("--threshold", type=_probability, help="probability threshold (default: the detector's)")
    e.add_argument("--include-trained", action="store_true",
                   help="keep pairs the detector was fit or tuned on (their numbers are not a result)")
    e.add_argument("--out", help="write to this file instead of standard output")
    e.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, ...")
    e.add_argument("--batch-size", type=_positive, default=1, help="pairs per forward pass (default 1)")

    i = commands.add_parser("import-alignments", help="convert Pharaoh word alignments to a pair file",
                            description="One whitespace-tokenised sentence per line in --a and --b, links i-j "
                            "(sure) or ipj (possible), counted from 0, one line per sentence pair.")
    i.add_argument("--a", required=True, help="text A: one sentence per line")
    i.add_argument("--b", required=True, help="text B: one sentence per line")
    i.add_argument("--alignments", required=True, help="Pharaoh links A-B, one line per sentence pair")
    i.add_argument("--possible", help="a separate Pharaoh file of possible links")
    i.add_argument("--out", required=True, help="pair file to write (JSONL)")
    i.add_argument("--id-prefix", default="s", help="pair ids are this prefix and the line index (default s)")

    h = commands.add_parser("heads", help="rank attention heads by detector weight",
                            description="Rank heads by standardised weight, with each head's own held-out "
                            "ROC AUC; optionally plot a layer x head heatmap.")
    h.add_argument("--detector", default=DEFAULT_DETECTOR, help=DETECTOR_HELP)
    h.add_argument("--top", type=_positive, default=20, help="how many heads to list (default 20)")
    h.add_argument("--plot", help="write the heatmap to this file (.png, .svg or .pdf)")
    h.add_argument("--format", choices=["text", "json"], default="text", help="output (default text)")
    return parser


COMMANDS: dict[str, tuple[type[CommandConfig], Callable[[Any], int]]] = {
    "generate": (GenerateConfig, run_generate),
    "train": (TrainConfig, run_train),
    "detect": (DetectConfig, run_detect),
    "evaluate": (EvaluateConfig, run_evaluate),
    "import-alignments": (ImportAlignmentsConfig, run_import_alignments),
    "heads": (HeadsConfig, run_heads),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 Ctrl-C, 143 SIGTERM)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    config_type, run = COMMANDS[args.command]
    values = {k: v for k, v in vars(args).items() if k != "command"}
    with _sigterm_as_exception():
        try:
            return run(config_type.from_dict(values))
        except MiaError as error:
            print(f"mia {args.command}: error: {_one_line(str(error))}", file=sys.stderr)
            return 2
        except OSError as error:  # a file that cannot be written or read: the user's to fix, not a crash
            where = f" ({error.filename})" if error.filename else ""
            print(f"mia {args.command}: error: {_one_line(error.strerror or str(error))}{where}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("mia: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print("mia: terminated", file=sys.stderr)
            return 143


def _one_line(message: str) -> str:
    return printable(" ".join(message.split()))


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
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
