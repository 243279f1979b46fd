"""The head commands: ``heads``, ``compare-heads``, ``ablate``, ``patch``, ``head`` and ``probe`` (parsing, one
library call, printing)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mia.cli.common import check_output, detector_files, progress, say, write_or_print
from mia.cli.options import (
    DETECTOR_HELP,
    DEVICE_HELP,
    CommandConfig,
    ReadsFiles,
    option,
)
from mia.cli.values import non_negative, positive, positive_seconds
from mia.detector.folder import DEFAULT_DETECTOR
from mia.io import check_not_input, jsonable, printable

if TYPE_CHECKING:
    from mia.detector.detector import Detector


@dataclass
class HeadsConfig(CommandConfig):
    """Rank a detector's attention heads: by default by each head's own held-out ROC AUC (the order that holds
    across training corpora), with weights, bootstrap intervals and head types; optionally plot a layer x head
    heatmap."""

    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    by: Literal["auc", "weight", "column", "necessity"] = option(
        "auc", "order: auc (each head alone on held-out pairs; default, stable), weight (the head's standardised "
        "weights summed over its columns), column (every feature column by weight), necessity (the causal order "
        "of --patch)")
    patch: str | None = option(None, "a `mia patch --format json` file of this detector: each head's necessity, "
                               "sufficiency and role beside its readout")
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
class AblateConfig(ReadsFiles):
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
class PatchConfig(ReadsFiles):
    """Activation patching over heads: each pair runs clean and corrupted (B's copied tokens replaced by as many
    tokens of other text, so positions line up); per head, the share of the detector's match signal lost when the
    head's output comes from the corrupted run (necessity) and recovered when it comes from the clean run
    (sufficiency), with bootstrap intervals over pairs, and the top k heads noised together against random sets of
    k; with --parts, also for each head's attention pattern alone and its values alone (where vs what)."""

    detector: str = option(DEFAULT_DETECTOR, DETECTOR_HELP)
    pairs: str | None = option(None, "pair file (JSONL); pairs the detector fitted or tuned on are dropped (default: "
                               "the detector's own test pairs, made again from its recorded data)")
    corpus: str | None = option(None, "generate shuffled-copy pairs from this corpus (text or JSONL) instead, as "
                                "train does; pairs the detector fitted on are dropped")
    limit: int = option(100, "patch at most this many pairs (default 100)", type=positive)
    seed: int = option(0, "seed for generated pairs, the corruption, random heads and resamples (default 0)")
    corruption: Literal["other-text", "random-tokens"] = option(
        "other-text", "how B's copied tokens are replaced: other-text (runs of another pair's B text; default) or "
        "random-tokens (tokens drawn from the other pairs' texts, none of A's)")
    parts: str = option("output", "parts of each head to patch, comma-separated: output (the ranking's; default), "
                        "pattern, value (where vs what; each part adds about as much time as output takes)")
    k: int = option(10, "heads noised together in the top-k check (default 10)", type=positive)
    draws: int = option(100, "random sets of k heads in the check (default 100)", type=positive)
    top: int = option(20, "heads to list (default 20)", type=positive)
    format: Literal["text", "json"] = option("text", "output (default text)")
    out: str | None = option(None, "write the output to this file instead of printing it")
    device: str = option("auto", DEVICE_HELP)


@dataclass
class HeadConfig(ReadsFiles):
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
    describe_timeout: float = option(60.0, "seconds the endpoint has for its whole answer (default 60)",
                                     type=positive_seconds)
    format: Literal["text", "json"] = option("text", "output (default text)")
    device: str = option("auto", DEVICE_HELP)


@dataclass
class CompareHeadsConfig(CommandConfig):
    """How far two detectors of one model agree on their heads: Spearman correlation and top-10 overlap of each
    head ranking."""

    first: str = option(help="a detector (folder or shipped name)", flag="FIRST")
    second: str = option(help="another detector of the same model", flag="SECOND")
    format: Literal["text", "json"] = option("text", "output (default text)")


def run_heads(config: HeadsConfig) -> int:
    from mia.detector.detector import Detector
    from mia.errors import MiaError
    from mia.heads.patch_file import read_patch_file
    from mia.heads.ranking import rank_heads
    from mia.report.plot import check_plot_path, plot_heads
    from mia.report.text import heads_table

    if config.plot is not None:
        check_plot_path(config.plot)
        check_not_input(config.plot, {"--patch": config.patch, **detector_files(config.detector)}, flag="--plot")
    if config.by == "necessity" and config.patch is None:
        raise MiaError("--by necessity orders by a patch file: give --patch (made by mia patch --format json)")
    if config.by == "column" and config.patch is not None:
        raise MiaError("--patch shows heads, not feature columns: leave out --by column")
    detector = Detector.load(config.detector)
    causal = None if config.patch is None else read_patch_file(config.patch, detector).heads
    relation = detector.card.relation
    if config.by == "column":
        columns = rank_heads(detector, top=config.top)
        if config.format == "json":
            print(json.dumps(jsonable({"model": detector.model_name, "relation": relation, "ranking": "column weight",
                                       "heads": [h.to_dict() for h in columns]}), indent=2, allow_nan=False))
        else:
            print(printable(f"{detector.model_name}: top {len(columns)} of {detector.layout.n_features} feature "
                            f"columns by standardised weight ({relation}); head AUC: the column alone, held out"))
            print(heads_table(columns))
    else:
        print_summaries(detector, config, causal)
    if config.plot:
        say(f"heatmap written to {plot_heads(detector, config.plot)}")
    return 0


def print_summaries(detector: Detector, config: HeadsConfig, causal: dict[tuple[int, int], dict[str, Any]] | None,
                    ) -> None:
    """Print the head summaries of ``heads`` (every order but ``column``), with the causal columns when given."""
    from dataclasses import replace

    import numpy as np

    from mia.heads.patching import CLASS_RULE
    from mia.heads.ranking import head_summaries
    from mia.report.text import summaries_table

    relation = detector.card.relation
    heads = head_summaries(detector, by="weight" if config.by == "weight" else "auc")
    if causal is not None and config.by == "necessity":
        heads = sorted(heads, key=lambda h: -np.nan_to_num(causal.get((h.layer, h.head), {}).get(
            "necessity", float("nan")), nan=-np.inf))
        heads = [replace(h, rank=rank) for rank, h in enumerate(heads, start=1)]
    heads = heads[: config.top]
    section = detector.card.heads
    if config.format == "json":
        print(json.dumps(jsonable({"model": detector.model_name, "relation": relation, "ranking": config.by,
                                   "bootstrap": section.get("bootstrap"),
                                   "types_on": (section.get("types") or {}).get("on"), "patch": config.patch,
                                   "heads": [{**h.to_dict(), **({} if causal is None else
                                                                causal.get((h.layer, h.head), {}))}
                                             for h in heads]}), indent=2, allow_nan=False))
        return
    order = {"auc": "own held-out ROC AUC", "weight": "summed standardised weight",
             "necessity": "output necessity (activation patching)"}[config.by]
    total = detector.layout.layers * detector.layout.heads
    print(printable(f"{detector.model_name}: top {len(heads)} of {total} heads by {order} ({relation})"))
    print(summaries_table(heads, causal))
    if causal is not None:
        print(printable(f"necessity / sufficiency: share of the match signal lost / recovered when the head's "
                        f"output is patched ({config.patch}); {CLASS_RULE}"))
    print("intervals: 95% over bootstrap refits (training pairs) / resamples (test pairs); top10: share of "
          "resamples with the head in the top 10; 0: weight interval holds 0; types: attention share on "
          "the pattern, mean of directions" if section else
          "this detector records no intervals or head types (trained before they were recorded): retrain it "
          "for them")


def run_probe(config: ProbeConfig) -> int:
    from mia.heads.probe import probe
    from mia.models.attention import load_model

    result = probe(load_model(config.model, device=config.device), length=config.length, seed=config.seed)
    if config.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(printable(f"{result.model} ({result.architecture}): {result.length} random words shown twice; score = "
                    "mean attention on the pattern's token over the second copy"))
    print(f"{'direction':<9}  {'pattern':<15}  {'layer':>5}  {'head':>4}  {'score':>6}")
    for row in result.top(config.top):
        print(f"{row['direction']:<9}  {row['pattern']:<15}  {row['layer']:>5}  {row['head']:>4}  {row['score']:>6.3f}")
    return 0


def run_compare_heads(config: CompareHeadsConfig) -> int:
    from mia.detector.detector import Detector
    from mia.heads.stability import SPECIFIC_RULE, SPECIFIC_SHARES, compare_detectors, specific_heads

    first, second = Detector.load(config.first), Detector.load(config.second)
    rows = compare_detectors(first, second)
    specific = specific_heads(first, second)
    rule = SPECIFIC_RULE.format(high=SPECIFIC_SHARES[0], low=SPECIFIC_SHARES[1])
    if config.format == "json":
        print(json.dumps({"first": config.first, "second": config.second,
                          "rankings": [row.to_dict() for row in rows],
                          "specific_heads": None if specific is None else {
                              "rule": rule, "first": [d.to_dict() for d in specific[0]],
                              "second": [d.to_dict() for d in specific[1]]}}, indent=2))
        return 0
    print(printable(f"head rankings of {config.first} and {config.second}"))
    print(f"{'ranking':<42}  {'items':>5}  {'Spearman':>8}  {'95% interval':>14}  {'top-10 in common':>16}  "
          f"{'95% interval':>12}")
    for row in rows:
        rho = "-" if row.spearman_interval is None else "[{:.3f}, {:.3f}]".format(*row.spearman_interval)
        common = "-" if row.top10_common_interval is None else "[{:.0f}, {:.0f}]".format(*row.top10_common_interval)
        print(f"{row.ranking:<42}  {row.items:>5}  {row.spearman:>8.3f}  {rho:>14}  {row.top10_common:>16}  "
              f"{common:>12}")
    resampled = max((row.resamples for row in rows), default=0)
    print(f"intervals: 2.5th to 97.5th percentile over {resampled} paired resamples of the two detectors' test pairs"
          if resampled else "intervals: not measured (a detector records no resampled head AUCs: detectors trained "
          "before mia stored them; train it again)")
    print()
    if specific is None:
        print("heads specific to one detector: not measured (a detector records no resampled head AUCs: train it "
              "with --bootstrap above 0)")
        return 0
    print(rule + ":")
    for name, other, found in ((config.first, config.second, specific[0]), (config.second, config.first, specific[1])):
        listed = ", ".join(
            f"{d.name} (rank {d.first_rank}, AUC {d.first_auc:.3f}, top 10 in {d.first_top10_share:.0%}; there rank "
            f"{d.second_rank}, AUC {d.second_auc:.3f}, {d.second_top10_share:.0%})" for d in found)
        print(printable(f"  specific to {name} (there: {other}): {listed or 'none'}"))
    return 0


def held_out(detector: Detector, given: list[Any] | None) -> list[Any]:
    """The pairs a head command runs on: ``given`` without those the detector fitted or tuned on (said), or, when
    none are given, the detector's own test pairs made again from its recorded data."""
    from mia.text.pairs import pair_hash
    from mia.training.data import held_out_pairs

    if given is None:
        pairs = held_out_pairs(detector.metadata)
        say(f"using the detector's {len(pairs)} test pairs, made again from its recorded data")
        return pairs
    fitted = detector.card.fitted_hashes
    pairs = [pair for pair in given if pair_hash(pair) not in fitted]
    if len(pairs) < len(given):
        say(f"{len(given) - len(pairs)} of the pairs were fitted or tuned on by the detector: left out")
    return pairs


def run_ablate(config: AblateConfig) -> int:
    from mia.detector.detector import Detector
    from mia.heads.ablation import AblationOptions, ablate
    from mia.report.plot import check_plot_path, plot_ablation
    from mia.report.text import ablation_table
    from mia.text.pairs import read_pairs

    check_output(config.out, {"--pairs": config.pairs, **detector_files(config.detector)})
    if config.plot is not None:
        check_plot_path(config.plot)
        check_not_input(config.plot, {"--pairs": config.pairs, "--out": config.out, **detector_files(config.detector)},
                        flag="--plot")
    detector = Detector.load(config.detector)
    pairs = held_out(detector, None if config.pairs is None else read_pairs(config.pairs))
    model = detector.load_model(device=config.device)
    result = ablate(detector, model, pairs[: config.limit], AblationOptions(
        seed=config.seed, draws=config.draws, causal=not config.no_causal), progress=progress)
    text = (json.dumps(result.to_dict(), indent=2) if config.format == "json" else ablation_table(result))
    write_or_print(text, config.out)
    if config.plot:
        say(f"curves written to {plot_ablation(result, config.plot, title=detector.model_name)}")
    return 0


def run_patch(config: PatchConfig) -> int:
    from mia.detector.detector import Detector
    from mia.errors import MiaError
    from mia.heads.patching import PARTS, PatchOptions, patch_heads
    from mia.report.text import patch_table
    from mia.text.pairs import read_pairs
    from mia.training.data import generated_data

    named = [part.strip() for part in config.parts.split(",")]
    parts = tuple(part for part in PARTS if part in named)
    unknown = [part for part in named if part not in PARTS]
    if unknown or "output" not in parts:
        raise MiaError(f"--parts {config.parts}: give output and any of pattern, value, comma-separated")
    if config.pairs and config.corpus:
        raise MiaError("give --pairs or --corpus, not both")
    check_output(config.out, {"--pairs": config.pairs, "--corpus": config.corpus, **detector_files(config.detector)})
    detector = Detector.load(config.detector)
    given = (read_pairs(config.pairs) if config.pairs else
             generated_data(config.corpus, seed=config.seed, limit=config.limit).pairs if config.corpus else None)
    pairs = held_out(detector, given)
    model = detector.load_model(device=config.device)
    result = patch_heads(detector, model, pairs[: config.limit], PatchOptions(
        parts=parts, corruption=config.corruption, seed=config.seed, k=config.k, draws=config.draws),
        progress=progress)
    text = json.dumps(result.to_dict(), indent=2) if config.format == "json" else patch_table(result, config.top)
    write_or_print(text, config.out)
    return 0


def run_head(config: HeadConfig) -> int:
    from mia.detector.detector import Detector
    from mia.errors import MiaError
    from mia.heads.examples import describe_endpoint, describe_head, head_examples, parse_head
    from mia.report.text import examples_text
    from mia.text.pairs import read_pairs

    detector = Detector.load(config.detector)
    layer, head = parse_head(config.head, detector.layout.layers, detector.layout.heads)
    if config.direction is not None and config.direction not in detector.layout.directions:
        raise MiaError(f"--direction {config.direction}: this model's directions are "
                       f"{', '.join(detector.layout.directions)}")
    if config.describe:
        describe_endpoint()  # a missing or bad MIA_DESCRIBE_URL is an error before the model loads
    pairs = read_pairs(config.pairs)[: config.limit]
    model = detector.load_model(device=config.device)
    examples = head_examples(model, pairs, layer, head, direction=config.direction, top=config.top,
                             sample=config.sample, context=config.context, seed=config.seed, progress=progress)
    if config.describe:
        examples.description = describe_head(examples, model=config.describe_model,
                                             timeout=config.describe_timeout)
    if config.format == "json":
        print(json.dumps(examples.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(examples_text(examples))
    return 0
