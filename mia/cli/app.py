"""Command line: ``python -m mia COMMAND``. A thin layer: each command is parsing, one library call, printing.

Options are declared once, on each command's config dataclass (:mod:`mia.cli.options`). ``main(argv)`` returns
the exit code: 0 done, 2 bad input (one line on stderr), 130 Ctrl-C, 141 standard output closed by its reader
(``mia heads | head``, silent), 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mia._version import __version__
from mia.cli.common import (
    check_output,
    progress,
    say,
    workers_capped,
)
from mia.cli.detect_commands import run_detect, run_evaluate, run_report
from mia.cli.head_commands import (
    AblateConfig,
    CompareHeadsConfig,
    HeadConfig,
    HeadsConfig,
    PatchConfig,
    ProbeConfig,
    run_ablate,
    run_compare_heads,
    run_head,
    run_heads,
    run_patch,
    run_probe,
)
from mia.cli.options import (
    CommandConfig,
    DetectConfig,
    EvaluateConfig,
    GenerateConfig,
    ImportAlignmentsConfig,
    ImportPanConfig,
    ReportConfig,
    TrainConfig,
)
from mia.cli.search_commands import IndexConfig, SearchConfig, run_index, run_search
from mia.errors import MiaError, Terminated
from mia.io import DEFAULT_READ_LIMIT, printable, reading_limit

# --- commands ------------------------------------------------------------------------------------------------


def noise_of(config: Any, default: Any) -> Any:
    """The noise rates of a command: each rate given on the command line, the others from ``default``."""
    from dataclasses import replace

    given = {name: getattr(config, name) for name in ("substitute", "delete", "insert", "swap", "extra_sentences")}
    return replace(default, **{name: value for name, value in given.items() if value is not None})


def run_generate(config: GenerateConfig) -> int:
    from mia.text.noise import EVALUATION_NOISE
    from mia.text.pairs import write_pairs
    from mia.training.data import generated_data

    check_output(config.out, {"--corpus": config.corpus})
    data = generated_data(config.corpus, seed=config.seed, limit=config.limit, spacy_model=config.spacy_model,
                          n_jobs=workers_capped(config.jobs, "--jobs"), copies=config.copies,
                          noise=noise_of(config, EVALUATION_NOISE), documents=config.documents,
                          document_words=config.document_words)
    if not data.pairs:
        raise MiaError("no paragraph has 2 or more sentences: no pairs to write")
    write_pairs(data.pairs, config.out)
    counts = data.record["generation"]
    say(f"wrote {counts['pairs']} pairs to {config.out} ({counts['paragraphs']} paragraphs read, "
        f"{counts['skipped_single_sentence']} skipped with fewer than 2 sentences)")
    return 0


def run_train(config: TrainConfig) -> int:
    from mia.detector.folder import DetectorConflict, check_detector_destination, default_detector_folder, new_folder
    from mia.heads.description import DescribeOptions
    from mia.models.attention import load_model
    from mia.models.layout import CONTEXTS
    from mia.models.loading import set_threads
    from mia.report.text import training_report
    from mia.training.data import generated_data, pair_file_data
    from mia.training.training import TrainOptions
    from mia.workflow import train_detector

    if config.corpus and config.pairs:
        raise MiaError("give --corpus or --pairs, not both")
    if config.pairs and config.documents:
        raise MiaError("--documents puts generated pairs inside documents; it does not apply to --pairs")
    data_name = Path(config.pairs).stem if config.pairs else {"shuffled": "verbatim"}.get(config.copies, config.copies)
    if config.documents:  # --pairs with --documents was refused above
        data_name += "-documents"
    destination = config.out if config.out is not None else str(default_detector_folder(config.model, data_name))
    state = check_detector_destination(destination)  # before any work, not after
    from mia.text.noise import TRAINING_NOISE

    data = (pair_file_data(config.pairs, limit=config.limit) if config.pairs else
            generated_data(config.corpus, seed=config.seed, limit=config.limit, spacy_model=config.spacy_model,
                           copies=config.copies, noise=noise_of(config, TRAINING_NOISE), documents=config.documents,
                           document_words=config.document_words))
    set_threads(config.threads)
    model = load_model(config.model, device=config.device)
    say(f"training on {len(data.pairs)} pairs with {model}")
    if config.out is None:
        say(f"no --out given: the detector goes to the new folder {destination}")
    options = TrainOptions(
        seed=config.seed, test_fraction=config.test_fraction, validation_fraction=config.validation_fraction,
        neg_per_pos=config.neg_per_pos, transform=config.transform, batch_size=config.batch_size,
        offsets=CONTEXTS["diagonal" if config.context else config.offsets], relation=config.relation,
        decode=config.decode,
    )
    detector = train_detector(model, data, options, DescribeOptions(bootstrap=config.bootstrap, seed=config.seed),
                              embedding_layer=config.embedding_layer, progress=progress)
    detector.metadata["command"] = {"name": "train", **config.to_dict()}
    try:
        out = detector.save(destination, expected_state=state)
    except DetectorConflict:
        moved = new_folder(Path(destination))
        say(f"{destination} was written by another run while this one trained; it is left as that run wrote it, "
            f"and this detector goes to {moved}")
        out = detector.save(moved, expected_state=None)
    windowed = detector.card.data["windowed_pairs"]
    if windowed:
        say(f"{windowed} pairs longer than the model ran as window pairs")
    print(training_report(detector))
    print(f"detector written to {out}")
    say(f"detect, heads, evaluate and report use the shipped detector unless given this one: --detector {out}")
    return 0


def run_import_alignments(config: ImportAlignmentsConfig) -> int:
    from mia.text.alignments import import_alignments, read_multimwa
    from mia.text.pairs import write_pairs

    pharaoh = {"--a": config.a, "--b": config.b, "--alignments": config.alignments}
    if config.multimwa is not None and any(v is not None for v in (*pharaoh.values(), config.possible)):
        raise MiaError("give --multimwa FILE, or --a, --b and --alignments (Pharaoh), not both")
    if config.multimwa is None and any(v is None for v in pharaoh.values()):
        missing = ", ".join(flag for flag, value in pharaoh.items() if value is None)
        raise MiaError(f"Pharaoh alignments need --a, --b and --alignments (missing: {missing}); or give --multimwa")
    check_output(config.out, {**pharaoh, "--possible": config.possible, "--multimwa": config.multimwa})
    if config.multimwa is not None:
        pairs = read_multimwa(config.multimwa, id_prefix=config.id_prefix or "")
    else:
        pairs = import_alignments(str(config.a), str(config.b), str(config.alignments), possible_path=config.possible,
                                  id_prefix="s" if config.id_prefix is None else config.id_prefix)
    write_pairs(pairs, config.out)
    sure, possible = sum(len(p.links) for p in pairs), sum(len(p.possible) for p in pairs)
    say(f"wrote {len(pairs)} pairs to {config.out} ({sure} sure and {possible} possible-only word links)")
    return 0


def run_import_pan(config: ImportPanConfig) -> int:
    from mia.text.pairs import write_pairs
    from mia.text.pan_files import read_pan

    check_output(config.out, {"--pairs": config.pairs}, folders={"--annotations": config.annotations,
                                                                "--suspicious": config.suspicious,
                                                                "--sources": config.sources})
    pairs = read_pan(config.annotations, config.suspicious, config.sources, pairs_file=config.pairs,
                     note=lambda text: say(f"note: {text}"))
    write_pairs(pairs, config.out)
    say(f"wrote {len(pairs)} document pairs to {config.out} ({sum(len(p.links) for p in pairs)} gold passages)")
    return 0


COMMANDS: dict[str, tuple[type[CommandConfig], Callable[[Any], int], str]] = {
    "generate": (GenerateConfig, run_generate, "make sentence-shuffled copy pairs from a corpus"),
    "train": (TrainConfig, run_train, "train a detector over attention heads"),
    "detect": (DetectConfig, run_detect, "find linked words, phrases and passages in text pairs"),
    "evaluate": (EvaluateConfig, run_evaluate, "measure a detector beside string baselines"),
    "import-alignments": (ImportAlignmentsConfig, run_import_alignments,
                          "convert Pharaoh word alignments to a pair file"),
    "import-pan": (ImportPanConfig, run_import_pan, "read a PAN text-alignment corpus into a pair file"),
    "heads": (HeadsConfig, run_heads, "rank a detector's heads, with intervals and head types"),
    "compare-heads": (CompareHeadsConfig, run_compare_heads, "how far two detectors agree on their heads"),
    "ablate": (AblateConfig, run_ablate, "AP with heads kept, dropped or zeroed in the forward pass"),
    "patch": (PatchConfig, run_patch, "activation patching: which heads the match needs"),
    "head": (HeadConfig, run_head, "what one head attends to, with context"),
    "report": (ReportConfig, run_report, "one self-contained HTML page: detector, heads, detections"),
    "probe": (ProbeConfig, run_probe, "score every head on a repeated random sequence"),
    "index": (IndexConfig, run_index, "index documents for search (MinHash, embeddings)"),
    "search": (SearchConfig, run_search, "find reused passages across a collection of documents"),
}


# `mia --help` lists the commands by task, in this order; every command of COMMANDS is in exactly one group
COMMAND_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("make pairs and train", ("generate", "import-alignments", "import-pan", "train")),
    ("detect and evaluate", ("detect", "evaluate")),
    ("heads", ("heads", "compare-heads", "ablate", "patch", "head", "probe")),
    ("documents and search", ("index", "search")),
    ("report", ("report",)),
)


def grouped_commands() -> str:
    """The commands by task, one line each (the epilog of ``mia --help``)."""
    width = max(len(name) for name in COMMANDS) + 2
    lines: list[str] = []
    for title, names in COMMAND_GROUPS:
        lines.append(f"{title}:" if not lines else f"\n{title}:")
        lines.extend(f"  {name:<{width}}{COMMANDS[name][2]}" for name in names)
    lines.append("")
    lines.append("mia COMMAND --help shows a command's options.")
    return "\n".join(lines)


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``mia detect: error: ... (mia detect --help)`` instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mia", description="Learn which attention heads of a transformer link the tokens of two texts.",
        epilog=grouped_commands(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mia {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     help="one of the commands below")
    for name, (config_type, _, _) in COMMANDS.items():
        sub = commands.add_parser(name, description=" ".join((config_type.__doc__ or "").split()))
        config_type.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 Ctrl-C, 141 the reader of standard output
    closed it, 143 SIGTERM)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    config_type, run, _ = COMMANDS[args.command]
    values = {k: v for k, v in vars(args).items() if k != "command"}
    limit = int(values.get("max_file_mb", DEFAULT_READ_LIMIT / 2**20) * 2**20)
    with sigterm_as_exception(), reading_limit(limit):
        try:
            return run(config_type.from_dict(values))
        except MiaError as error:
            say(f"mia {args.command}: error: {one_line(str(error))}")
            return 2
        except BrokenPipeError:  # the reader of standard output stopped early (`mia heads | head`): not an error
            quiet_stdout()
            return 141
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


def quiet_stdout() -> None:
    """Point standard output at the null device, so that Python's flush at exit does not meet the closed pipe
    again (the recipe of Python's signal documentation); left alone where stdout is not the process's own."""
    import os
    import sys

    stdout = sys.__stdout__
    if stdout is None or sys.stdout is not stdout:
        return
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
    except (OSError, ValueError):
        pass


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
