"""The head commands: ``heads``, ``compare-heads``, ``ablate``, ``head`` and ``probe`` (parsing, one library call,
printing)."""

from __future__ import annotations

import json

from mia.cli_common import progress, say, write_or_print
from mia.cli_options import AblateConfig, CompareHeadsConfig, HeadConfig, HeadsConfig, ProbeConfig
from mia.io import check_output_file, printable


def run_heads(config: HeadsConfig) -> int:
    from mia.detector.detector import Detector
    from mia.heads.ranking import head_summaries, rank_heads
    from mia.report.plot import check_plot_path, plot_heads
    from mia.report.text import heads_table, summaries_table

    if config.plot is not None:
        check_plot_path(config.plot)
    detector = Detector.load(config.detector)
    relation = detector.metadata.get("relation", "")
    if config.by == "column":
        columns = rank_heads(detector, top=config.top)
        if config.format == "json":
            print(json.dumps({"model": detector.model_name, "relation": relation, "ranking": "column weight",
                              "heads": [h.to_dict() for h in columns]}, indent=2))
        else:
            print(printable(f"{detector.model_name}: top {len(columns)} of {detector.layout.n_features} feature "
                            f"columns by standardised weight ({relation}); head AUC: the column alone, held out"))
            print(heads_table(columns))
    else:
        heads = head_summaries(detector, by=config.by, top=config.top)
        section = detector.metadata.get("heads") or {}
        if config.format == "json":
            print(json.dumps({"model": detector.model_name, "relation": relation, "ranking": config.by,
                              "bootstrap": section.get("bootstrap"),
                              "types_on": (section.get("types") or {}).get("on"),
                              "heads": [h.to_dict() for h in heads]}, indent=2))
        else:
            order = "own held-out ROC AUC" if config.by == "auc" else "summed standardised weight"
            total = detector.layout.layers * detector.layout.heads
            print(printable(f"{detector.model_name}: top {len(heads)} of {total} heads by {order} ({relation})"))
            print(summaries_table(heads))
            print("intervals: 95% over bootstrap refits (training pairs) / resamples (test pairs); top10: share of "
                  "resamples with the head in the top 10; 0: weight interval holds 0; types: attention share on "
                  "the pattern, mean of directions" if section else
                  "this detector records no intervals or head types (trained before they were recorded): retrain it "
                  "for them")
    if config.plot:
        say(f"heatmap written to {plot_heads(detector, config.plot)}")
    return 0


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
    from mia.heads.stability import compare_detectors

    rows = compare_detectors(Detector.load(config.first), Detector.load(config.second))
    if config.format == "json":
        print(json.dumps({"first": config.first, "second": config.second,
                          "rankings": [row.to_dict() for row in rows]}, indent=2))
        return 0
    print(printable(f"head rankings of {config.first} and {config.second}"))
    print(f"{'ranking':<42}  {'items':>5}  {'Spearman':>8}  {'top-10 in common':>16}")
    for row in rows:
        print(f"{row.ranking:<42}  {row.items:>5}  {row.spearman:>8.3f}  {row.top10_common:>16}")
    return 0


def run_ablate(config: AblateConfig) -> int:
    from mia.detector.data import held_out_pairs
    from mia.detector.detector import Detector
    from mia.heads.ablation import AblationOptions, ablate
    from mia.report.plot import check_plot_path, plot_ablation
    from mia.report.text import ablation_table
    from mia.text.pairs import pair_hash, read_pairs

    check_output_file(config.out)
    if config.plot is not None:
        check_plot_path(config.plot)
    detector = Detector.load(config.detector)
    if config.pairs:
        given = read_pairs(config.pairs)
        fitted = set((detector.metadata.get("split") or {}).get("fit_or_tuned_on_hashes") or ())
        pairs = [pair for pair in given if pair_hash(pair) not in fitted]
        if len(pairs) < len(given):
            say(f"{len(given) - len(pairs)} of the pairs were fitted or tuned on by the detector: left out")
    else:
        pairs = held_out_pairs(detector.metadata)
        say(f"using the detector's {len(pairs)} test pairs, made again from its recorded data")
    model = detector.load_model(device=config.device)
    result = ablate(detector, model, pairs[: config.limit], AblationOptions(
        seed=config.seed, draws=config.draws, causal=not config.no_causal), progress=progress)
    text = (json.dumps(result.to_dict(), indent=2) if config.format == "json" else ablation_table(result))
    write_or_print(text, config.out)
    if config.plot:
        say(f"curves written to {plot_ablation(result, config.plot, title=detector.model_name)}")
    return 0


def run_head(config: HeadConfig) -> int:
    from mia.detector.detector import Detector
    from mia.heads.examples import describe_head, head_examples, parse_head
    from mia.report.text import examples_text
    from mia.text.pairs import read_pairs

    detector = Detector.load(config.detector)
    layer, head = parse_head(config.head, detector.layout.layers, detector.layout.heads)
    pairs = read_pairs(config.pairs)[: config.limit]
    model = detector.load_model(device=config.device)
    examples = head_examples(model, pairs, layer, head, direction=config.direction, top=config.top,
                             sample=config.sample, context=config.context, seed=config.seed, progress=progress)
    if config.describe:
        examples.description = describe_head(examples, model=config.describe_model)
    if config.format == "json":
        print(json.dumps(examples.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(examples_text(examples))
    return 0
