"""Command options declared once: a dataclass per command, argparse derived from its fields.

A field's metadata (from :func:`option`) holds its help text and, where needed, a converter and a flag name;
its type gives the rest: ``bool`` is a switch, a ``Literal`` gives the choices, a field with no default is
required. ``to_dict``/``from_dict`` round-trip a config (``from_dict`` ignores unknown keys).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from mia.detector.folder import DEFAULT_DETECTOR

C = TypeVar("C", bound="CommandConfig")
_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, help: str = "", *, type: Callable[[str], Any] | None = None,
           flag: str | None = None, metavar: str | None = None) -> Any:
    """A config field that is also a command-line option (``--field-name`` unless ``flag`` says otherwise)."""
    metadata = {"help": help, "type": type, "flag": flag, "metavar": metavar}
    if default is _MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class CommandConfig:
    """Shared ``to_dict``/``from_dict`` of the per-command configs (dataclasses)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare every field of this config as an option of ``parser``."""
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            meta = field.metadata
            flag = meta.get("flag") or "--" + field.name.replace("_", "-")
            kind, choices = _base_type(hints[field.name])
            help_text = meta.get("help", "")
            if not flag.startswith("-"):  # a positional argument, shown as `flag`
                parser.add_argument(field.name, metavar=flag, help=help_text, type=meta.get("type") or kind)
                continue
            kwargs: dict[str, Any] = {"dest": field.name, "help": help_text}
            if field.default is _MISSING:
                kwargs["required"] = True
            else:
                kwargs["default"] = field.default
            if kind is bool:
                parser.add_argument(flag, action="store_true", **kwargs)
                continue
            if choices:
                kwargs["choices"] = choices
            kwargs["type"] = meta.get("type") or kind
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
            parser.add_argument(flag, **kwargs)


def _base_type(hint: Any) -> tuple[Any, list[Any] | None]:
    """``(converter type, choices)`` of a field's annotation: ``X | None`` is ``X``; a Literal gives choices."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is typing.Literal:
        values = list(typing.get_args(hint))
        return type(values[0]), values
    return hint, None


# --- converters that check values (argparse turns their errors into exit code 2) -----------------------------


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number


def fraction(value: str) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


def share(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


def probability(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


# --- the commands' configs ----------------------------------------------------------------------------------

DETECTOR_HELP = f"detector folder, or the name of a shipped detector (default: {DEFAULT_DETECTOR})"
CORPUS_HELP = ("plain text (paragraphs split by blank lines) or .jsonl with a text field (default: the packaged "
               "Python language reference prose)")
SPACY_HELP = "installed spaCy pipeline for sentences (default: the rule-based sentencizer)"
DEVICE_HELP = "auto (a GPU if present), cpu, cuda, cuda:N or mps"


@dataclass
class GenerateConfig(CommandConfig):
    """Pair each paragraph (B) with a copy whose sentences are shuffled (A)."""

    out: str = option(help="pair file to write (JSONL)")
    corpus: str | None = option(None, CORPUS_HELP)
    seed: int = option(0, "random seed (default 0)")
    limit: int | None = option(None, "stop after this many pairs", type=positive)
    spacy_model: str | None = option(None, SPACY_HELP)
    jobs: int = option(1, "processes for sentence splitting (capped at the cores available)", type=positive)
    copies: Literal["shuffled", "noisy", "mixed"] = option(
        "shuffled", "shuffled: A is the paragraph's sentences shuffled (default); noisy: and words substituted, "
        "deleted, inserted and swapped (rates below); mixed: even paragraphs shuffled, odd ones noisy")
    substitute: float | None = option(None, "noisy: share of words substituted (default 0.15)", type=share)
    delete: float | None = option(None, "noisy: share of words deleted (default 0.05)", type=share)
    insert: float | None = option(None, "noisy: share of words after which a word is inserted (default 0.05)",
                                  type=share)
    swap: float | None = option(None, "noisy: share of words moved by local swaps (default 0.08)", type=share)
    extra_sentences: float | None = option(None, "noisy: chance of unrelated text after each copied sentence "
                                           "(default 0)", type=share)


@dataclass
class TrainConfig(CommandConfig):
    """Train a logistic regression over per-head attention features; report held-out metrics beside string
    baselines."""

    model: str = option("minilm", "alias (minilm, bart, gpt2), hub id or local directory (default: minilm, the "
                        "packaged all-MiniLM-L6-v2)")
    corpus: str | None = option(None, "corpus to generate shuffled-copy pairs from (default: the packaged one)")
    pairs: str | None = option(None, "pair file (JSONL) with labelled links to train on (instead of --corpus)")
    out: str | None = option(None, "detector folder to write: new, empty, or a detector folder (its two files "
                             "are replaced, other files stay); default: a new folder models/<model>-verbatim "
                             "(or models/<model>-<pairs file name>), numbered -2, -3, ... when taken")
    seed: int = option(0, "seed for pairs, split and sampling (default 0)")
    limit: int | None = option(None, "use at most this many pairs", type=positive)
    relation: str | None = option(None, "name of the relation the links mark (recorded in the detector)")
    test_fraction: float = option(0.2, "held-out test pairs (default 0.2)", type=fraction)
    validation_fraction: float = option(0.1, "pairs for choosing the threshold (default 0.1)", type=fraction)
    neg_per_pos: int = option(10, "negatives sampled per positive token pair (default 10)", type=positive)
    transform: Literal["log", "none"] = option("log", "feature transform before standardising: log(w + 1e-4) "
                                               "(default) or none")
    offsets: Literal["pair", "diagonal", "wide"] = option(
        "wide", "feature columns per head: pair (the token pair only), diagonal (and (i-1, j-1), (i+1, j+1)), or "
        "wide (default: also (i+-2, j+-2) and the neighbours after a one-word insertion or deletion, 9x)")
    context: bool = option(False, "the same as --offsets diagonal (kept from earlier versions)")
    batch_size: int = option(1, "pairs per forward pass (default 1)", type=positive)
    device: str = option("auto", DEVICE_HELP)
    threads: int | None = option(None, "CPU threads for torch (default: torch's choice)", type=positive)
    spacy_model: str | None = option(None, SPACY_HELP)
    copies: Literal["shuffled", "noisy", "mixed"] = option(
        "mixed", "pairs generated from --corpus: shuffled sentence copies, noisy copies, or mixed (default: even "
        "paragraphs shuffled, odd ones noisy)")
    substitute: float | None = option(None, "noisy: share of words substituted (default 0.10)", type=share)
    delete: float | None = option(None, "noisy: share of words deleted (default 0.10)", type=share)
    insert: float | None = option(None, "noisy: share of words after which a word is inserted (default 0.10)",
                                  type=share)
    swap: float | None = option(None, "noisy: share of words moved by local swaps (default 0.04)", type=share)
    extra_sentences: float | None = option(None, "noisy: chance of unrelated text after each copied sentence "
                                           "(default 0.3)", type=share)
    decode: Literal["threshold", "mutual-argmax", "itermax"] = option(
        "mutual-argmax", "the word alignment decoding recorded in the detector, used by evaluate and pharaoh output "
        "(default mutual-argmax)")
    bootstrap: int = option(30, "refits on resamples of the training pairs for the heads' weight intervals "
                            "(default 30; 0: none)", type=non_negative)


@dataclass
class DetectConfig(CommandConfig):
    """Run a detector on text pairs and print linked token pairs and phrases."""

    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    a: str | None = option(None, "text A")
    b: str | None = option(None, "text B")
    a_file: str | None = option(None, "file holding text A (UTF-8)")
    b_file: str | None = option(None, "file holding text B (UTF-8)")
    pairs: str | None = option(None, "pair file (JSONL); links in it are ignored")
    format: Literal["text", "json", "jsonl", "pharaoh"] = option(
        "text", "output (default text); pharaoh: word-level i-j links of whitespace words, a line per pair")
    threshold: float | None = option(None, "probability threshold (default: the detector's)", type=probability)
    min_phrase_tokens: int = option(1, "shortest phrase to report (tokens)", type=positive)
    out: str | None = option(None, "write to this file instead of standard output")
    model: str | None = option(None, "model to run (default: the detector's own; another one is refused)")
    device: str = option("auto", DEVICE_HELP)
    batch_size: int = option(1, "window pairs per forward pass (default 1)", type=positive)
    candidates: int | None = option(None, "for texts longer than the model: run, for each A window, only the K B "
                                    "windows most similar by the model's mean-pooled embeddings (default: all "
                                    "window pairs, exact)", type=positive, metavar="K")
    strict: bool = option(False, "any pair that fails is an error (exit 2); by default its record says why and "
                          "the other pairs are written")
    decode: Literal["threshold", "mutual-argmax", "itermax"] | None = option(
        None, "--format pharaoh: word links from word probabilities by the threshold, or SimAlign's mutual-argmax / "
        "itermax (default: the detector's own)")


@dataclass
class EvaluateConfig(CommandConfig):
    """Token- and word-level metrics of a detector and string-matching baselines on the same pairs (pairs the
    detector was fit on are left out)."""

    pairs: str = option(help="pair file (JSONL) with gold links")
    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    format: Literal["text", "json"] = option("text", "output (default text); json adds a per-pair breakdown")
    words: Literal["regex", "whitespace"] = option(
        "regex", "word segmentation: runs of letters/digits and single punctuation marks (regex, default) or "
        "whitespace-separated tokens")
    threshold: float | None = option(None, "probability threshold (default: the detector's)", type=probability)
    include_trained: bool = option(False, "keep pairs the detector was fit or tuned on (their numbers are not a "
                                   "result)")
    decode: Literal["threshold", "mutual-argmax", "itermax"] | None = option(
        None, "word links from word probabilities: the threshold, or SimAlign's mutual-argmax / itermax (default: "
        "the detector's own)")
    out: str | None = option(None, "write to this file instead of standard output")
    device: str = option("auto", DEVICE_HELP)
    batch_size: int = option(1, "pairs per forward pass (default 1)", type=positive)


@dataclass
class ImportAlignmentsConfig(CommandConfig):
    """Convert Pharaoh word alignments to a pair file: one whitespace-tokenised sentence per line in --a and --b,
    links i-j (sure) or ipj (possible), counted from 0, one line per sentence pair."""

    a: str = option(help="text A: one sentence per line")
    b: str = option(help="text B: one sentence per line")
    alignments: str = option(help="Pharaoh links A-B, one line per sentence pair")
    out: str = option(help="pair file to write (JSONL)")
    possible: str | None = option(None, "a separate Pharaoh file of possible links")
    id_prefix: str = option("s", "pair ids are this prefix and the line index (default s)")


@dataclass
class HeadsConfig(CommandConfig):
    """Rank a detector's attention heads: by default by each head's own held-out ROC AUC (the order that holds
    across training corpora), with weights, bootstrap intervals and head types; optionally plot a layer x head
    heatmap."""

    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    by: Literal["auc", "weight", "column"] = option(
        "auc", "order: auc (each head alone on held-out pairs; default, stable), weight (the head's standardised "
        "weights summed over its columns), column (every feature column by weight)")
    top: int = option(20, "how many heads to list (default 20)", type=positive)
    plot: str | None = option(None, "write the heatmap to this file (.png, .svg or .pdf)")
    format: Literal["text", "json"] = option("text", "output (default text)")


@dataclass
class ProbeConfig(CommandConfig):
    """The classic head probe: a random sequence of single-token words shown twice; per head, the attention on the
    duplicate, on the copy's next token (induction / copy neighbour) and, for decoder-only models, on the previous
    token."""

    model: str = option("minilm", "alias (minilm, bart, gpt2), hub id or local directory (default: minilm)")
    length: int = option(50, "random words in the sequence (default 50)", type=positive)
    seed: int = option(0, "seed for the random words (default 0)")
    top: int = option(5, "heads to list per direction and pattern (default 5)", type=positive)
    format: Literal["text", "json"] = option("text", "output (default text)")
    device: str = option("auto", DEVICE_HELP)


@dataclass
class AblateConfig(CommandConfig):
    """Ablate heads (in the detector's primary order) on held-out pairs: refit keeping / dropping the top k, drop k
    random heads (the control), and zero the top k heads' outputs in the forward pass (causal); average precision
    beside the string baselines."""

    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    pairs: str | None = option(None, "pair file (JSONL); pairs the detector fitted or tuned on are dropped "
                               "(default: the detector's own test pairs, generated again from its recorded data)")
    draws: int = option(3, "random draws of k heads (default 3)", type=positive)
    limit: int | None = option(None, "use at most this many pairs", type=positive)
    seed: int = option(0, "seed for the halves and the random heads (default 0)")
    no_causal: bool = option(False, "skip the causal curves (forward passes with heads zeroed)")
    format: Literal["text", "json"] = option("text", "output (default text)")
    out: str | None = option(None, "write the output to this file instead of printing it")
    plot: str | None = option(None, "write the curves to this file (.png, .svg or .pdf)")
    device: str = option("auto", DEVICE_HELP)


@dataclass
class HeadConfig(CommandConfig):
    """Show what one head attends to: its highest-attention token pairs across the pairs, with context, and a
    random sample; optionally ask an OpenAI-compatible endpoint (MIA_DESCRIBE_URL, MIA_DESCRIBE_KEY) to describe
    it."""

    head: str = option(help="the head, as LAYER.HEAD (for example 2.9)")
    pairs: str = option(help="pair file (JSONL) to read the head's attention on")
    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP + " (names the model)")
    direction: str | None = option(None, "a->b, b->a or cross (default: the model's first direction)")
    top: int = option(20, "highest-attention token pairs to show (default 20)", type=positive)
    sample: int = option(10, "random token pairs to show (default 10)", type=non_negative)
    context: int = option(30, "characters of context each side (default 30)", type=non_negative)
    limit: int | None = option(None, "read at most this many pairs", type=positive)
    seed: int = option(0, "seed for the random sample (default 0)")
    describe: bool = option(False, "send the examples to the chat endpoint in MIA_DESCRIBE_URL and print its "
                            "description")
    describe_model: str = option("gpt-4o-mini", "model name sent to the endpoint (default gpt-4o-mini)")
    format: Literal["text", "json"] = option("text", "output (default text)")
    device: str = option("auto", DEVICE_HELP)


@dataclass
class CompareHeadsConfig(CommandConfig):
    """How far two detectors of one model agree on their heads: Spearman correlation and top-10 overlap of each
    head ranking."""

    first: str = option(help="a detector (folder or shipped name)", flag="FIRST")
    second: str = option(help="another detector of the same model", flag="SECOND")
    format: Literal["text", "json"] = option("text", "output (default text)")


@dataclass
class ReportConfig(CommandConfig):
    """One self-contained HTML page (inline CSS and JS, no network): the detector card beside the baselines, its
    heads (heatmap, sortable table, head cards) and, for the pairs given, both texts side by side with each phrase
    and its partner highlighted, the heads that found it, and the top heads' attention and query-key scores."""

    out: str = option(help="the page to write (.html), or the JSON file with --format json")
    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    pairs: str | None = option(None, "pair file (JSONL): one page with a pair selector")
    a_file: str | None = option(None, "text file A (with --b-file)")
    b_file: str | None = option(None, "text file B (with --a-file)")
    limit: int | None = option(None, "show at most this many pairs of --pairs", type=positive)
    threshold: float | None = option(None, "link probability threshold (default: the detector's)", type=probability)
    min_phrase_tokens: int = option(2, "shortest phrase shown, in tokens (default 2)", type=positive)
    candidates: int | None = option(None, "long texts: window pairs per A window (default: all)", type=positive)
    format: Literal["html", "json"] = option("html", "html (default) or json: the page's data, for your own views")
    device: str = option("auto", DEVICE_HELP)
