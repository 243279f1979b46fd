"""Speed and memory of mia beside the bare forward pass of the same model on the same pairs.

    python benchmarks/benchmark.py                                   # default model and packaged corpus
    python benchmarks/benchmark.py --corpus ../shared/corpora/gatsby.txt --out benchmarks/results/gatsby.json

Measures, in one run:
- bare forward pass throughput (pairs/s): tokenise + forward, the model's fastest attention implementation
  (SDPA), no attention outputs, best of batch sizes 1 and --batch-size;
- mia feature extraction throughput (pairs/s) on the same pairs, and its ratio to the bare forward pass;
- detect latency for one pair of ~150-word paragraphs, model and detector loaded, as a ratio to one bare
  forward pass of that pair (median of the ratios of 21 interleaved runs);
- training time per million token pairs (``train_detector`` end to end: extraction, fit, threshold, test), without
  the description of the heads (bootstrap refits, head AUC, head types: a cost that does not grow with the pairs,
  reported beside it) and with it;
- peak resident memory of a ``python -m mia train`` run on 2,000 pairs (a child process), and its seconds per
  million token pairs (without and with the heads' description);
- peak resident memory and wall time of ``python -m mia train`` with every default (the shipped default's
  training: 1,296 columns, bootstrap intervals included; a child process; ``--skip-default-training`` leaves it out);
- window pairs per second of ``detect`` on a pair longer than one window, every window pair scored
  (``candidates="all"``), for the default MiniLM detector and for a random BART (``--bart-d-model`` wide, 4 layers,
  a detector trained on 40 pairs) with its encoder cache and without it (``ENCODER_CACHE = 0``), with the encoder
  calls counted and the two detections compared;
- extraction time for 100, 200 and 400 pairs (linear growth).

Pairs: shuffled-sentence copies from the corpus; when the corpus has fewer paragraphs than needed, further
passes with other seeds give other shuffles of the same paragraphs (ids ``s{seed}-p{index}``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia.alignment.windowed import encode_pairs_that_fit  # noqa: E402
from mia.models.attention import AttentionModel, load_model  # noqa: E402
from mia.models.loading import resolve_model_name  # noqa: E402
from mia.text.corpus import read_paragraphs  # noqa: E402
from mia.text.pairs import Pair, generate_pairs, write_pairs  # noqa: E402
from mia.training.training import TrainOptions, fit_detector  # noqa: E402
from mia.workflow import train_detector  # noqa: E402


def benchmark_pairs(corpus: str | None, count: int, model: AttentionModel) -> list[Pair]:
    """``count`` pairs that fit the model, cycling seeds over the corpus if needed."""
    paragraphs = read_paragraphs(corpus)
    pairs: list[Pair] = []
    for seed in range(1000):
        generated, _ = generate_pairs(paragraphs, seed=seed, id_prefix=f"s{seed}-p")
        fitting, _ = encode_pairs_that_fit(model, generated)
        pairs.extend(item.pair for item in fitting)
        if len(pairs) >= count:
            return pairs[:count]
    raise SystemExit("the corpus gives no pairs")


class BareModel:
    """The same model with its fastest attention implementation and no attention outputs."""

    def __init__(self, name: str, device: str) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model_name(name)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, attn_implementation="sdpa").eval().to(device)
        self.device = device
        self.encoder_decoder = bool(self.model.config.is_encoder_decoder)

    def forward(self, pairs: list[Pair], batch_size: int) -> None:
        import torch

        with torch.inference_mode():
            for start in range(0, len(pairs), batch_size):
                batch = pairs[start : start + batch_size]
                if self.encoder_decoder:
                    enc = self.tokenizer([p.b for p in batch], return_tensors="pt", padding=True)
                    dec = self.tokenizer([p.a for p in batch], return_tensors="pt", padding=True)
                    self.model(input_ids=enc["input_ids"].to(self.device),
                               attention_mask=enc["attention_mask"].to(self.device),
                               decoder_input_ids=dec["input_ids"].to(self.device),
                               decoder_attention_mask=dec["attention_mask"].to(self.device), use_cache=False)
                else:
                    enc = self.tokenizer([p.a for p in batch], [p.b for p in batch], return_tensors="pt",
                                         padding=True)
                    self.model(**{k: v.to(self.device) for k, v in enc.items()})


def timed(function: Any, repeats: int) -> float:
    """Best wall time of ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def extract_all(model: AttentionModel, pairs: list[Pair], batch_size: int) -> None:
    for _ in model.iter_features(pairs, batch_size=batch_size):
        pass


def paragraph_pair(corpus: str | None, words: int, model: AttentionModel) -> Pair:
    """A pair of paragraphs of about ``words`` words (whole sentences of the corpus, shuffled in A).

    Sentences are dropped from the end while the pair is too long for the model.
    """
    from mia.errors import MiaError

    sentences = first_sentences(" ".join(read_paragraphs(corpus)[:40]), words)
    while len(sentences) > 2:
        pairs, _ = generate_pairs([" ".join(sentences)], seed=0)
        try:
            model.encode(pairs[0])
            return pairs[0]
        except MiaError:
            sentences.pop()
    raise SystemExit("no paragraph pair fits the model")


def token_pairs_measured(model: AttentionModel, pairs: list[Pair], metadata: dict[str, Any]) -> int:
    """Token pairs a training run went through: its training and validation token pairs (recorded) and every
    token pair of its test pairs (measured, not sampled: counted here)."""
    test_ids = set(metadata["split"]["test_ids"])
    test = sum(len(e.a_spans) * len(e.b_spans) for e in map(model.encode, pairs) if e.pair.id in test_ids)
    return int(metadata["data"]["train_token_pairs"] + metadata["data"]["validation_token_pairs"] + test)


def seconds_per_million(metadata: dict[str, Any], token_pairs: int) -> dict[str, float]:
    """A training run's seconds per million token pairs without the heads' description and with it."""
    total, heads = float(metadata["training_seconds"]), float(metadata["heads"]["seconds"])
    return {"train_seconds": total, "describe_heads_seconds": heads, "token_pairs": token_pairs,
            "seconds_per_million_token_pairs": round((total - heads) / token_pairs * 1e6, 2),
            "seconds_per_million_token_pairs_with_heads": round(total / token_pairs * 1e6, 2)}


def peak_rss_training(corpus: str | None, model: str, count: int) -> dict[str, Any]:
    """Peak RSS (MB) and wall time of ``python -m mia train`` on ``count`` pairs, in a child process, and its
    seconds per million token pairs (its own ``training_seconds``: model loading and pair reading left out)."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = load_model(model, device="cpu")
        pairs = benchmark_pairs(corpus, count, probe)
        pairs_file = Path(tmp) / "pairs.jsonl"
        write_pairs(pairs, pairs_file)
        run = child_mia(["train", "--model", model, "--pairs", str(pairs_file), "--out", str(Path(tmp) / "det"),
                         "--device", "cpu"])
        metadata = json.loads((Path(tmp) / "det" / "detector.json").read_text())
        rates = seconds_per_million(metadata, token_pairs_measured(probe, pairs, metadata))
        return {"pairs": len(pairs), **run, **rates}


def child_mia(argv: list[str]) -> dict[str, float]:
    """Run ``python -m mia ARGV`` in a child process: its peak RSS (MB, its own ``ru_maxrss``) and wall seconds."""
    code = (
        "import resource, sys; from mia.cli import main; code = main(sys.argv[1:]); "
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
        "raise SystemExit(code)"
    )
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"`mia {' '.join(argv)}` failed:\n{result.stderr[-2000:]}")
    peak_kb = next(int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return {"peak_rss_mb": round(peak_kb / 1024, 1), "seconds": round(seconds, 1)}


def peak_rss_default_training() -> dict[str, float]:
    """Peak RSS (MB) and wall time of ``python -m mia train`` with every default, in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        return child_mia(["train", "--out", str(Path(tmp) / "det"), "--device", "cpu"])


def long_pair(corpus: str | None, words: int) -> Pair:
    """A pair longer than one model window: about ``words`` consecutive words of the corpus as B, A the same
    sentences shuffled (seed 0)."""
    pairs, _ = generate_pairs([" ".join(first_sentences(" ".join(read_paragraphs(corpus)), words))], seed=0)
    return pairs[0]


def first_sentences(text: str, words: int) -> list[str]:
    """The first sentences of ``text`` holding at least ``words`` words (all of them if it has fewer)."""
    from mia.text.corpus import split_sentences

    sentences, count = [], 0
    for start, end in split_sentences(text):
        sentences.append(text[start:end])
        count += len(text[start:end].split())
        if count >= words:
            break
    return sentences


def window_pair_rate(detector: Any, model: AttentionModel, pair: Pair, repeats: int) -> dict[str, Any]:
    """Window pairs per second of ``detect`` on ``pair`` with every window pair scored (best of ``repeats``)."""
    from mia.alignment.windowed import plan_pair

    planned = plan_pair(model, pair, candidates="all")
    found: list[Any] = []
    seconds = timed(lambda: found.append(detector.detect(model, pair.a, pair.b, candidates="all")), repeats)
    links = sorted((link.a_word, link.b_word) for link in found[-1].links)
    return {"window_pairs": len(planned.window_pairs), "seconds": round(seconds, 2),
            "window_pairs_per_second": round(len(planned.window_pairs) / seconds, 2), "links": links}


def bart_window_pairs(corpus: str | None, d_model: int, repeats: int) -> dict[str, Any]:
    """Window pairs per second of a random BART on a long pair, with the encoder cache and without it."""
    import mia.models.attention as attention
    from mia_testkit import build_random_bart

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_random_bart(Path(tmp) / "bart", d_model=d_model, layers=4, heads=max(1, d_model // 64),
                                   ffn=4 * d_model)
        model = load_model(str(folder), device="cpu")
        pairs, _ = generate_pairs(read_paragraphs(corpus)[:60], seed=0, limit=40)
        detector = fit_detector(model, pairs, TrainOptions(seed=0)).detector
        pair = long_pair(corpus, 900)
        encoder = model.model.get_encoder()
        calls = {"count": 0}
        original = type(encoder).forward

        def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls["count"] += 1
            return original(self, *args, **kwargs)

        type(encoder).forward = counting  # type: ignore[method-assign]

        def rate() -> dict[str, Any]:
            model.encoder_cache.clear()
            calls["count"] = 0
            result = window_pair_rate(detector, model, pair, repeats)
            return {**result, "encoder_calls_per_run": calls["count"] / repeats}

        try:
            runs = with_and_without_cache(attention, "ENCODER_CACHE", rate)
        finally:
            type(encoder).forward = original  # type: ignore[method-assign]
        return {"config": {"d_model": d_model, "layers": 4, "heads": max(1, d_model // 64), "ffn": 4 * d_model},
                "pair_words": [len(pair.a.split()), len(pair.b.split())], **runs}


def with_and_without_cache(module: Any, constant: str, rate: Any) -> dict[str, Any]:
    """``rate()`` (window pairs per second and links) run with ``module.constant`` as it is and with it 0 (no
    cache), the two links compared and dropped: ``with_cache``, ``without_cache``, ``speedup``, ``identical_links``."""
    runs: dict[str, Any] = {}
    for name, size in (("with_cache", getattr(module, constant)), ("without_cache", 0)):
        saved = getattr(module, constant)
        setattr(module, constant, size)
        try:
            runs[name] = rate()
        finally:
            setattr(module, constant, saved)
    same = runs["with_cache"].pop("links") == runs["without_cache"].pop("links")
    return {**runs, "speedup": round(runs["with_cache"]["window_pairs_per_second"]
                                     / runs["without_cache"]["window_pairs_per_second"], 3),
            "identical_links": same}


def gpt2_window_pairs(corpus: str | None, d_model: int, repeats: int) -> dict[str, Any]:
    """Window pairs per second of a random decoder-only GPT-2 on a long pair, each A window's states cached
    (`mia.models.prefix_cache`) and not."""
    import mia.models.prefix_cache as prefix_cache
    from mia_testkit import build_random_gpt2

    layers, heads = 6, max(1, d_model // 64)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(str(build_random_gpt2(Path(tmp) / "gpt2", d_model=d_model, layers=layers, heads=heads)),
                           device="cpu")
        pairs, _ = generate_pairs(read_paragraphs(corpus)[:60], seed=0, limit=40)
        detector = fit_detector(model, pairs, TrainOptions(seed=0)).detector
        pair = long_pair(corpus, 900)
        cache = model.prefix_cache
        if cache is None:
            raise SystemExit("the random GPT-2 did not load as a decoder-only model")

        def rate() -> dict[str, Any]:
            cache.clear()
            return window_pair_rate(detector, model, pair, repeats)

        return {"config": {"d_model": d_model, "layers": layers, "heads": heads},
                "pair_words": [len(pair.a.split()), len(pair.b.split())],
                **with_and_without_cache(prefix_cache, "PREFIX_CACHE", rate)}


def versions() -> dict[str, str]:
    import sklearn
    import torch
    import transformers

    try:  # scikit-learn imports pandas when it is installed (mia's [search] extra): about 0.1 GB more RSS
        import pandas
    except ImportError:
        pandas = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "pandas": pandas.__version__ if pandas is not None else "not installed"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="corpus (default: the packaged Python reference prose)")
    parser.add_argument("--model", default="minilm", help="model (default minilm)")
    parser.add_argument("--pairs", type=int, default=200, help="pairs for the throughput runs (default 200)")
    parser.add_argument("--batch-size", type=int, default=8, help="largest batch size tried (default 8)")
    parser.add_argument("--memory-pairs", type=int, default=2000, help="pairs of the memory run (default 2000)")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats, best taken (default 2)")
    parser.add_argument("--long-words", type=int, default=1500,
                        help="words of the long pair for window pairs per second (default 1500)")
    parser.add_argument("--bart-d-model", type=int, default=256, help="width of the random BART (default 256)")
    parser.add_argument("--skip-default-training", action="store_true",
                        help="leave out the run of `mia train` with every default (about 2 minutes)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "benchmark.json"))
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Performance page)")
    args = parser.parse_args(argv)

    import torch

    model = load_model(args.model, device="cpu")
    bare = BareModel(args.model, "cpu")
    pairs = benchmark_pairs(args.corpus, max(args.pairs, 400), model)
    main_pairs = pairs[: args.pairs]
    extract_all(model, main_pairs[:5], 1)  # warm-up, both models
    bare.forward(main_pairs[:5], 1)

    batch_sizes = sorted({1, args.batch_size})
    forward_seconds = {b: timed(lambda b=b: bare.forward(main_pairs, b), args.repeats) for b in batch_sizes}
    extract_seconds = {b: timed(lambda b=b: extract_all(model, main_pairs, b), args.repeats) for b in batch_sizes}
    best_forward = min(forward_seconds.values())
    best_extract = min(extract_seconds.values())

    one = paragraph_pair(args.corpus, 150, model)
    from mia.detector.detector import Detector
    from mia.detector.folder import DEFAULT_DETECTOR

    detector = Detector.load(DEFAULT_DETECTOR) if args.model == "minilm" else None
    if detector is None:  # a quick detector for this model, trained on 40 pairs
        detector = train_detector(model, pairs[:40], TrainOptions(seed=0))
    rounds = [  # interleaved, so that drift in machine speed hits both alike
        (timed(lambda: bare.forward([one], 1), 1), timed(lambda: detector.detect(model, one.a, one.b), 1))
        for _ in range(21)
    ]
    latency_forward = statistics.median(forward for forward, _ in rounds)
    latency_detect = statistics.median(detect for _, detect in rounds)
    detect_ratio = statistics.median(detect / forward for forward, detect in rounds)

    scaling = {str(n): round(timed(lambda n=n: extract_all(model, pairs[:n], 1), 1), 2) for n in (100, 200, 400)}

    trained = train_detector(model, main_pairs, TrainOptions(seed=0))
    training = seconds_per_million(trained.metadata, token_pairs_measured(model, main_pairs, trained.metadata))

    memory = peak_rss_training(args.corpus, args.model, args.memory_pairs)
    default_training = None if args.skip_default_training else peak_rss_default_training()
    minilm_windows = window_pair_rate(detector, model, long_pair(args.corpus, args.long_words), 1)
    minilm_windows.pop("links")
    bart = bart_window_pairs(args.corpus, args.bart_d_model, 1)
    gpt2 = gpt2_window_pairs(args.corpus, args.bart_d_model, 1)
    n_words = [len(p.b.split()) for p in main_pairs]
    result = {
        "extract_vs_forward": round(best_extract and best_forward / best_extract, 3),
        "detect_vs_forward": round(detect_ratio, 3),
        "train_seconds_per_million_token_pairs": training["seconds_per_million_token_pairs"],
        "describe_heads_seconds": training["describe_heads_seconds"],
        "train_seconds_per_million_token_pairs_with_heads": training["seconds_per_million_token_pairs_with_heads"],
        "peak_rss_mb_2000_pairs": memory["peak_rss_mb"],
        "train_seconds_per_million_token_pairs_2000_pairs": memory["seconds_per_million_token_pairs"],
        "default_training": default_training,
        "window_pairs_per_second": {"detector": "default" if args.model == "minilm" else "trained on 40 pairs",
                                    **minilm_windows},
        "bart_window_pairs": bart,
        "gpt2_window_pairs": gpt2,
        "raw": {
            "model": args.model,
            "corpus": args.corpus or "python-reference (packaged)",
            "pairs": len(main_pairs),
            "words_per_paragraph_median": statistics.median(n_words),
            "forward_pairs_per_second": {str(b): round(len(main_pairs) / s, 2) for b, s in forward_seconds.items()},
            "extract_pairs_per_second": {str(b): round(len(main_pairs) / s, 2) for b, s in extract_seconds.items()},
            "detect_pair_words": [len(one.a.split()), len(one.b.split())],
            "detect_seconds_median": round(latency_detect, 4),
            "forward_seconds_median_one_pair": round(latency_forward, 4),
            "training_200_pairs": training,
            "extract_seconds_by_pairs": scaling,
            "memory_run": memory,
        },
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform()},
        "versions": versions(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("extraction / bare forward (throughput ratio, target >= 0.9)", result["extract_vs_forward"]),
        ("detect latency / bare forward (target <= 1.0)", result["detect_vs_forward"]),
        ("training seconds per million token pairs, heads described apart (target <= 20)",
         result["train_seconds_per_million_token_pairs"]),
        ("the heads' description (bootstrap refits, AUC, types): seconds", result["describe_heads_seconds"]),
        ("training seconds per million token pairs with it",
         result["train_seconds_per_million_token_pairs_with_heads"]),
        (f"peak RSS MB, training on {memory['pairs']} pairs (target <= 2000)", result["peak_rss_mb_2000_pairs"]),
        ("the same: seconds per million token pairs, heads apart / with them (target <= 20)",
         (memory["seconds_per_million_token_pairs"], memory["seconds_per_million_token_pairs_with_heads"])),
        ("bare forward pairs/s by batch size", result["raw"]["forward_pairs_per_second"]),
        ("mia extraction pairs/s by batch size", result["raw"]["extract_pairs_per_second"]),
        ("extraction seconds for 100 / 200 / 400 pairs", scaling),
        ("`mia train` with every default: peak RSS MB, seconds (targets 1500, 90)",
         default_training and (default_training["peak_rss_mb"], default_training["seconds"])),
        (f"detect window pairs/s, {minilm_windows['window_pairs']} window pairs",
         minilm_windows["window_pairs_per_second"]),
        ("random BART window pairs/s with / without encoder cache",
         (bart["with_cache"]["window_pairs_per_second"], bart["without_cache"]["window_pairs_per_second"])),
        ("random BART encoder calls per run with / without cache, same links",
         (bart["with_cache"]["encoder_calls_per_run"], bart["without_cache"]["encoder_calls_per_run"],
          bart["identical_links"])),
        ("random GPT-2 window pairs/s with / without A's states cached, same links",
         (gpt2["with_cache"]["window_pairs_per_second"], gpt2["without_cache"]["window_pairs_per_second"],
          gpt2["identical_links"])),
    ]
    for label, value in rows:
        print(f"{label:<66} {value}")
    print(f"written to {out}")
    if args.results:
        from benchmarks.results import write

        print(f"wrote {write(args.results, performance_record(result, args))}")
    return 0


MEASURES = ["mia/models", "mia/detector", "mia/alignment", "mia/training", "mia/text", "mia/workflow.py",
            "mia/heads/description.py", "mia/heads/bootstrap.py", "benchmarks/benchmark.py",
            "mia/data/detectors/minilm-reuse/detector.json", "mia/data/detectors/minilm-reuse/weights.npz"]


def performance_record(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The Performance page's first table: each measure, its target, this run's figure (met or missed said)."""
    from benchmarks.results import record

    raw, default, memory = result["raw"], result["default_training"], result["raw"]["memory_run"]
    windows = result["window_pairs_per_second"]
    bart, gpt2 = result["bart_window_pairs"], result["gpt2_window_pairs"]

    def verdict(value: float, limit: float, above: bool = False) -> str:
        met = value >= limit if above else value <= limit
        return f"{value}" + ("" if met else ": missed")

    words = " / ".join(str(w) for w in raw["detect_pair_words"])
    rows = [
        ["extraction throughput / bare forward throughput (`extract_vs_forward`)", ">= 0.9",
         verdict(result["extract_vs_forward"], 0.9, above=True)],
        [f"detect latency / one bare forward pass, {words}-word paragraphs, `minilm-reuse` "
         "(`detect_vs_forward`, median of 21 interleaved rounds)", "<= 1.0", verdict(result["detect_vs_forward"], 1.0)],
    ]
    if default is not None:
        rows += [["`python -m mia train` with every default: peak RSS MB (a child process)", "<= 1,500",
                  verdict(default["peak_rss_mb"], 1500)],
                 ["the same: wall seconds (model load, generation, fit, evaluation, heads)", "<= 90",
                  verdict(default["seconds"], 90)]]
    rows += [
        [f"training seconds per million token pairs, {raw['pairs']} pairs: heads' description apart / included",
         "<= 20", f"{result['train_seconds_per_million_token_pairs']} / "
                  f"{result['train_seconds_per_million_token_pairs_with_heads']} (the description: "
                  f"{result['describe_heads_seconds']} s)"],
        [f"peak RSS MB of `mia train` on {memory['pairs']} pairs (a child process)", "<= 2,000",
         verdict(result["peak_rss_mb_2000_pairs"], 2000)],
        ["the same run: seconds per million token pairs, heads apart / included", "<= 20",
         f"{memory['seconds_per_million_token_pairs']} / {memory['seconds_per_million_token_pairs_with_heads']}"],
        ["bare forward, pairs/s by batch size", "",
         " / ".join(f"{v} (batch {b})" for b, v in raw["forward_pairs_per_second"].items())],
        ["mia extraction, pairs/s by batch size", "",
         " / ".join(f"{v} (batch {b})" for b, v in raw["extract_pairs_per_second"].items())],
        ["extraction seconds for 100 / 200 / 400 pairs", "linear",
         " / ".join(str(v) for v in raw["extract_seconds_by_pairs"].values())],
        [f"`detect`, window pairs/s on a {args.long_words}-word pair, every window pair scored "
         f"({windows['window_pairs']})", "", str(windows["window_pairs_per_second"])],
        [f"random BART (d_model {args.bart_d_model}), window pairs/s: encoder cache / none", "",
         f"{bart['with_cache']['window_pairs_per_second']} / {bart['without_cache']['window_pairs_per_second']}"],
        ["the same: encoder calls per run, cache / none; links identical", "one per B window",
         f"{bart['with_cache']['encoder_calls_per_run']:.0f} / {bart['without_cache']['encoder_calls_per_run']:.0f}; "
         + ("yes" if bart["identical_links"] else "no")],
        [f"random GPT-2 (d_model {args.bart_d_model}), window pairs/s: A's states cached / none; links identical",
         "", f"{gpt2['with_cache']['window_pairs_per_second']} / {gpt2['without_cache']['window_pairs_per_second']}; "
             + ("yes" if gpt2["identical_links"] else "no")],
    ]
    return record("performance", measures=MEASURES, data=result, tables={
        "performance": {"columns": ["measure", "target", "this run"], "rows": rows,
                        "note": f"{raw['model']}, {raw['corpus']}, {raw['pairs']} pairs of median "
                                f"{raw['words_per_paragraph_median']} words; timings are best of "
                                f"{args.repeats} unless said"}})


if __name__ == "__main__":
    raise SystemExit(main())
