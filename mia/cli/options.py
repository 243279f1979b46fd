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

from mia.alignment.candidate_windows import Candidates
from mia.alignment.decoding import Decode
from mia.alignment.passages import DEFAULT_GAP, DEFAULT_MIN_LONGEST, DEFAULT_MIN_WORDS
from mia.cli.values import (
    fraction,
    layer_choice,
    megabytes,
    non_negative,
    positive,
    probability,
    share,
)
from mia.detector.folder import DEFAULT_DETECTOR
from mia.detector.record import FeatureTransform
from mia.heads.description import DescribeOptions
from mia.io import DEFAULT_READ_LIMIT
from mia.models.embedding import EmbeddingLayer
from mia.models.layout import OffsetFamily
from mia.text.noise import EVALUATION_NOISE, TRAINING_NOISE
from mia.text.words import WordScheme
from mia.training.data import DOCUMENT_WORDS, Copies
from mia.training.training import TrainOptions

C = TypeVar("C", bound="CommandConfig")
_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, help: str = "", *, type: Callable[[str], Any] | None = None,
           flag: str | None = None, metavar: str | None = None, kw_only: bool = False) -> Any:
    """A config field that is also a command-line option (``--field-name`` unless ``flag`` says otherwise);
    ``kw_only`` for a field of a shared base config (it may then come before required fields)."""
    metadata = {"help": help, "type": type, "flag": flag, "metavar": metavar}
    if default is _MISSING:
        return dataclasses.field(metadata=metadata, kw_only=kw_only)
    return dataclasses.field(default=default, metadata=metadata, kw_only=kw_only)


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


@dataclass
class ReadsFiles(CommandConfig):
    """A command that reads the user's files: each is read up to ``--max-file-mb``."""

    max_file_mb: float = option(DEFAULT_READ_LIMIT / 2**20, "the most mia reads from one input file, in MB (default "
                                f"{DEFAULT_READ_LIMIT // 2**20}; /dev/zero or a runaway log is an error, not a hang)",
                                type=megabytes, kw_only=True)


def _noise_help(name: str, what: str) -> str:
    return (f"noisy copies: {what} (default {getattr(EVALUATION_NOISE, name)} for generate, "
            f"{getattr(TRAINING_NOISE, name)} for train)")


@dataclass
class NoiseConfig(ReadsFiles):
    """How pairs are generated: the noise rates of noisy copies (``generate``: the evaluation mix; ``train``: the
    training mix), and the share put inside documents."""

    substitute: float | None = option(None, _noise_help("substitute", "share of words substituted"), type=share,
                                      kw_only=True)
    delete: float | None = option(None, _noise_help("delete", "share of words deleted"), type=share, kw_only=True)
    insert: float | None = option(None, _noise_help("insert", "share of words after which a word is inserted"),
                                  type=share, kw_only=True)
    swap: float | None = option(None, _noise_help("swap", "share of words moved by local swaps"), type=share,
                                kw_only=True)
    extra_sentences: float | None = option(None, _noise_help("extra_sentences", "chance of unrelated text after each "
                                                             "copied sentence"), type=share, kw_only=True)
    documents: float = option(0.0, "share of the generated pairs put inside documents: the copy and its paragraph "
                              "each among unrelated paragraphs of the corpus, so that most token pairs have no copy "
                              "(default 0)", type=share, kw_only=True)
    document_words: int = option(DOCUMENT_WORDS, "words of unrelated paragraphs on each side of a pair put inside "
                                 f"documents (default {DOCUMENT_WORDS})", type=positive, kw_only=True)


# --- the commands' configs ----------------------------------------------------------------------------------

TRAIN, HEADS = TrainOptions(), DescribeOptions()  # the library's defaults, which the options show and use
DETECTOR_HELP = f"detector folder, or the name of a shipped detector (default: {DEFAULT_DETECTOR})"
CORPUS_HELP = ("plain text (paragraphs split by blank lines) or .jsonl with a text field (default: the packaged "
               "Python language reference prose)")
SPACY_HELP = "installed spaCy pipeline for sentences (default: the rule-based sentencizer)"
DEVICE_HELP = "auto (a GPU if present), cpu, cuda, cuda:N or mps"
DECODE_HELP = ("word links from word-pair probabilities: threshold, or SimAlign's mutual-argmax / itermax (see "
               "README, Decoding)")
CANDIDATES_HELP = ("texts longer than the model: score the window pairs of the sentence pairs the candidate families "
                   "propose (sentences, default) or every window pair (all, the exhaustive reference)")
PASSAGE_HELP = {
    "gap": f"passages: most characters between two phrases of one passage, on each side (default: the detector's, "
           f"else {DEFAULT_GAP})",
    "min_words": f"passages: fewest linked words (default: the detector's, else {DEFAULT_MIN_WORDS})",
    "min_longest": f"passages: fewest linked words of the longest phrase (default: the detector's, else "
                   f"{DEFAULT_MIN_LONGEST})",
    "min_outside": "texts longer than the model: links outside every passage are kept in phrases of at least this "
                   "many linked words (default: the detector's, else 1: every link)",
}
WORDS_HELP = "words: runs of letters/digits and single punctuation marks (regex) or whitespace-separated tokens"


@dataclass
class GenerateConfig(NoiseConfig):
    """Pair each paragraph (B) with a copy whose sentences are shuffled (A)."""

    out: str = option(help="pair file to write (JSONL)")
    corpus: str | None = option(None, CORPUS_HELP)
    seed: int = option(0, "random seed (default 0)")
    limit: int | None = option(None, "stop after this many pairs", type=positive)
    spacy_model: str | None = option(None, SPACY_HELP)
    jobs: int = option(1, "processes for sentence splitting (capped at the cores available)", type=positive)
    copies: Copies = option(
        "shuffled", "shuffled: A is the paragraph's sentences shuffled (default); noisy: and words substituted, "
        "deleted, inserted and swapped (rates below); mixed: even paragraphs shuffled, odd ones noisy")


@dataclass
class TrainConfig(NoiseConfig):
    """Train a logistic regression over per-head attention features; report held-out metrics beside string
    baselines."""

    model: str = option("minilm", "alias (minilm, bart, gpt2), hub id or local directory (default: minilm, the "
                        "packaged all-MiniLM-L6-v2)")
    corpus: str | None = option(None, "corpus to generate copy pairs from, as --copies says (default: the packaged "
                                "one)")
    pairs: str | None = option(None, "pair file (JSONL) with labelled links to train on (instead of --corpus)")
    out: str | None = option(None, "detector folder to write: new, empty, or a detector folder (its two files "
                             "are replaced, other files stay); default: a new folder models/<model>-mixed "
                             "(-verbatim with --copies shuffled, -noisy with noisy, -<pairs file name> with --pairs, "
                             "then -documents with --documents), numbered -2, -3, ... when taken")
    seed: int = option(0, "seed for pairs, split and sampling (default 0)")
    limit: int | None = option(None, "use at most this many pairs", type=positive)
    relation: str | None = option(None, "name of the relation the links mark (recorded in the detector)")
    test_fraction: float = option(TRAIN.test_fraction, f"held-out test pairs (default {TRAIN.test_fraction})",
                                  type=fraction)
    validation_fraction: float = option(TRAIN.validation_fraction, "pairs for choosing the threshold (default "
                                        f"{TRAIN.validation_fraction})", type=fraction)
    neg_per_pos: int = option(TRAIN.neg_per_pos, f"negatives sampled per positive token pair (default "
                              f"{TRAIN.neg_per_pos})", type=positive)
    transform: FeatureTransform = option(TRAIN.transform, "feature transform before standardising: log(w + 1e-4) or "
                                         f"none (default {TRAIN.transform})")
    offsets: OffsetFamily = option(
        "wide", "feature columns per head: pair (the token pair only), diagonal (and (i-1, j-1), (i+1, j+1)), or "
        "wide (default: also (i+-2, j+-2) and the neighbours after a one-word insertion or deletion, 9x)")
    context: bool = option(False, "the same as --offsets diagonal (kept from earlier versions)")
    batch_size: int = option(1, "pairs per forward pass (default 1)", type=positive)
    device: str = option("auto", DEVICE_HELP)
    threads: int | None = option(None, "CPU threads for torch (default: torch's choice)", type=positive)
    spacy_model: str | None = option(None, SPACY_HELP)
    copies: Copies = option(
        "mixed", "pairs generated from --corpus: shuffled sentence copies, noisy copies, or mixed (default: even "
        "paragraphs shuffled, odd ones noisy)")
    decode: Decode = option(TRAIN.decode, DECODE_HELP + "; recorded in the detector, used by detect and evaluate "
                            f"(default {TRAIN.decode})")
    bootstrap: int = option(HEADS.bootstrap, "refits on resamples of the training pairs for the heads' weight "
                            f"intervals (default {HEADS.bootstrap}; 0: none)", type=non_negative)
    embedding_layer: EmbeddingLayer = option(
        "middle", "the held-out measures also show the embedding aligner of the same model at this layer, as evaluate "
        "does: a layer number, middle (default) or none", type=layer_choice)


@dataclass
class DetectConfig(ReadsFiles):
    """Run a detector on text pairs and print what it links: the word pairs its decoding links (each with the
    character spans of the two words and a probability) and the phrases those links form."""

    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    a: str | None = option(None, "text A")
    b: str | None = option(None, "text B")
    a_file: str | None = option(None, "file holding text A (UTF-8)")
    b_file: str | None = option(None, "file holding text B (UTF-8)")
    pairs: str | None = option(None, "pair file (JSONL); links in it are ignored")
    format: Literal["text", "json", "jsonl", "pharaoh", "pan"] = option(
        "text", "output (default text); every format holds the detector's decoded word links: json/jsonl as links, "
        "the phrases they form and the passages those form, pharaoh as i-j word links of whitespace words, a line "
        "per pair; pan: the passages as PAN's XML detections, one file per suspicious document (A) in the new "
        "folder --out")
    decode: Decode | None = option(None, DECODE_HELP + " (default: the detector's own)")
    words: WordScheme | None = option(None, WORDS_HELP + " (default regex; whitespace for pharaoh)")
    threshold: float | None = option(None, "probability threshold of --decode threshold and of --token-links "
                                     "(default: the detector's)", type=probability)
    token_links: bool = option(False, "json/jsonl: add token_links, every token pair at or above the threshold with "
                               "its probability (the raw material of the links, for research)")
    min_phrase_words: int = option(1, "shortest phrase to report, in linked words (default 1)", type=positive)
    out: str | None = option(None, "write to this file instead of standard output")
    model: str | None = option(None, "model to run (default: the detector's own; another one is refused)")
    device: str = option("auto", DEVICE_HELP)
    batch_size: int = option(1, "window pairs per forward pass (default 1)", type=positive)
    candidates: Candidates = option("sentences", CANDIDATES_HELP)
    gap: int | None = option(None, PASSAGE_HELP["gap"], type=positive)
    min_passage_words: int | None = option(None, PASSAGE_HELP["min_words"], type=positive)
    min_longest_phrase: int | None = option(None, PASSAGE_HELP["min_longest"], type=positive)
    min_outside_phrase: int | None = option(None, PASSAGE_HELP["min_outside"], type=positive)
    strict: bool = option(False, "any pair that fails is an error (exit 2); by default its record says why and "
                          "the other pairs are written")


@dataclass
class EvaluateConfig(ReadsFiles):
    """Word-level precision, recall and F1 of the detector's decoded links (what detect prints) beside string
    baselines on the same pairs, then token-level and phrase-level measures (pairs the detector was fit on are left
    out)."""

    pairs: str = option(help="pair file (JSONL) with gold links")
    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    format: Literal["text", "json"] = option("text", "output (default text); json adds a per-pair breakdown")
    words: WordScheme = option("regex", WORDS_HELP + " (default regex)")
    threshold: float | None = option(None, "probability threshold (default: the detector's)", type=probability)
    include_trained: bool = option(False, "keep pairs the detector was fit or tuned on (their numbers are not a "
                                   "result)")
    decode: Decode | None = option(None, DECODE_HELP + " (default: the detector's own)")
    gold: Literal["links", "passages"] = option(
        "links", "what the pairs' links are: word or phrase links (links, default: word-level measures first) or "
        "passages of reuse between documents, as import-pan writes them (passages: PAN's plagdet, recall, precision "
        "and granularity of the detector's passages beside document baselines)")
    candidates: Candidates = option("sentences", CANDIDATES_HELP)
    gap: int | None = option(None, PASSAGE_HELP["gap"], type=positive)
    min_passage_words: int | None = option(None, PASSAGE_HELP["min_words"], type=positive)
    min_longest_phrase: int | None = option(None, PASSAGE_HELP["min_longest"], type=positive)
    min_outside_phrase: int | None = option(None, PASSAGE_HELP["min_outside"], type=positive)
    embedding_layer: EmbeddingLayer = option(
        "middle", "also measure the embedding aligner of the same model (mutual argmax of its words' cosine "
        "similarity at this layer, no training): a layer number (0: embeddings), middle (default: the middle layer, "
        "the best of all-MiniLM-L6-v2's on the MultiMWA dev sets) or none", type=layer_choice)
    out: str | None = option(None, "write to this file instead of standard output")
    device: str = option("auto", DEVICE_HELP)
    batch_size: int = option(1, "pairs per forward pass (default 1)", type=positive)


@dataclass
class ImportPanConfig(ReadsFiles):
    """Read a PAN text-alignment corpus (XML annotations per document pair, suspicious and source documents) into a
    pair file: A the suspicious document, B the source, links the gold passages (character offsets as stored)."""

    annotations: str = option(help="folder of PAN's XML files (one per document pair, plagiarism features)")
    suspicious: str = option(help="folder of the suspicious documents")
    sources: str = option(help="folder of the source documents")
    out: str = option(help="pair file to write (JSONL)")
    pairs: str | None = option(None, "PAN's pairs file (suspicious and source file name a line): every pair listed "
                               "is read, those without annotations with no passage (default: the annotated pairs)")


@dataclass
class ImportAlignmentsConfig(ReadsFiles):
    """Convert human word alignments to a pair file: Pharaoh (one whitespace-tokenised sentence per line in --a and
    --b, links i-j sure or ipj possible, counted from 0, one line per sentence pair in --alignments) or a MultiMWA TSV
    file (--multimwa: sure and possible links on each sentence pair's line)."""

    out: str = option(help="pair file to write (JSONL)")
    a: str | None = option(None, "Pharaoh: text A, one sentence per line")
    b: str | None = option(None, "Pharaoh: text B, one sentence per line")
    alignments: str | None = option(None, "Pharaoh links A-B, one line per sentence pair")
    possible: str | None = option(None, "a separate Pharaoh file of possible links")
    multimwa: str | None = option(None, "a MultiMWA TSV file (instead of --a, --b and --alignments)")
    id_prefix: str | None = option(None, "pair ids are this prefix and the line index (Pharaoh, default s) or the "
                                   "file's own id (MultiMWA, default none)")


@dataclass
class ReportConfig(ReadsFiles):
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
    min_phrase_words: int = option(2, "shortest phrase shown, in linked words (default 2)", type=positive)
    candidates: Candidates = option("sentences", CANDIDATES_HELP)
    patch: str | None = option(None, "a `mia patch --format json` file of this detector: adds the readers-and-"
                               "computers section (readout weight, necessity and sufficiency maps side by side)")
    compare: str | None = option(None, "another detector of the same model (folder or shipped name): adds how far "
                                 "the two agree on their heads and which heads are specific to each")
    format: Literal["html", "json"] = option("html", "html (default) or json: the page's data, for your own views")
    device: str = option("auto", DEVICE_HELP)
