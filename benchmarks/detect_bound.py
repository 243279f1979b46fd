"""How close detection can come to one bare forward pass here: the shipped path beside torch's fused attention kernel.

    python benchmarks/detect_bound.py --out benchmarks/results/detect_bound.json     # about 2 minutes here

`benchmarks/benchmark.py` reports ``detect_vs_forward`` (target <= 1.0). This script asks what it would take. On the
benchmark's pair (two ~150-word paragraphs, the default ``minilm-reuse`` detector) it times, interleaved round by
round so that drift in machine speed hits all alike:

- ``bare``: tokenise + forward with SDPA (torch's fused attention kernel), no attention outputs (as the benchmark);
- ``detect``: ``Detector.detect`` as shipped (mia's eager attention: every head's softmax weights are made, the
  A-B blocks read, the pass stopped after the last layer read);
- ``detect_fused``: the same with a prototype attention function (below, not part of mia) that runs torch's fused
  CPU kernel, which also returns each query row's log-sum-exp, and makes only the A-B blocks the detector reads, as
  ``exp(q k^T * scale - lse)``: the cheapest way found to get attention weights out of the fused kernel. Its weights
  differ from the eager softmax in the last bits (reported: the largest difference of a probability, and whether
  the links are the same), so it is a bound, not a replacement: the detector was fitted on eager weights.
- ``detect_fresh_tensors``: ``detect`` with the model's attention buffers held by this script, so that each layer's
  scores and weights are new tensors (as before the buffers: the same values, other page faults);
- ``model_only`` and ``model_only_fused``: the captured forward pass alone (no block read), each way.

Printed and written: the median time of each, the median ratio of each to ``bare``, and minor page faults per call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmark import BareModel, paragraph_pair  # noqa: E402

from mia.models import capture  # noqa: E402
from mia.models.attention import load_model  # noqa: E402
from mia.models.blocks import CaptureRequest  # noqa: E402


def fused_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                    scaling: float | None = None, dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """Attention by torch's fused CPU kernel (float32, no dropout); a captured layer's weights are handed to the
    sink as :class:`FusedWeights`, whose blocks are computed when sliced."""
    import torch

    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    mask = attention_mask
    if mask is not None and mask.dtype == torch.bool:  # the kernel takes an additive mask of the query's dtype
        mask = torch.zeros(mask.shape, dtype=query.dtype).masked_fill_(~mask, float("-inf"))
    output, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, attn_mask=mask,
                                                                              scale=scaling)
    active = capture._ACTIVE.get()
    if isinstance(active, capture.LayerCapture) and (layer := active.layer_for(module)) is not None:
        active.on_layer(layer, FusedWeights(query, key, mask, lse, scaling), None)
        if layer == active.stop_after:
            raise capture.StopForward
    return output.transpose(1, 2).contiguous(), None


class FusedWeights:
    """``weights[b][heads, rows, cols]`` = ``exp(q[rows] k[cols]^T * scale + mask - lse[rows])``, a new tensor."""

    def __init__(self, query: Any, key: Any, mask: Any, lse: Any, scaling: float) -> None:
        self.query, self.key, self.mask, self.scaling = query, key, mask, scaling
        self.start = lse.neg().unsqueeze(-1)  # [batch, heads, q, 1]

    def __getitem__(self, b: int) -> FusedItem:
        return FusedItem(self, b)


class FusedItem:
    """One pair of the batch: sliced ``[heads, rows, cols]`` as the sinks slice eager weights."""

    def __init__(self, weights: FusedWeights, b: int) -> None:
        self.weights, self.b = weights, b

    def __getitem__(self, index: tuple[Any, Any, Any]) -> Any:
        import torch

        heads, rows, cols = index
        w, b = self.weights, self.b
        keys = w.key[b, heads, cols].transpose(-1, -2)
        values = torch.baddbmm(w.start[b, heads, rows], w.query[b, heads, rows], keys, alpha=w.scaling)
        if w.mask is not None:
            values += w.mask[b if w.mask.shape[0] > 1 else 0][:, rows, cols]
        return values.exp_()


@contextlib.contextmanager
def attention_function(function: Any) -> Iterator[None]:
    """``function`` registered as mia's capture implementation inside the block, mia's own again after it."""
    from transformers import AttentionInterface

    AttentionInterface.register(capture.CAPTURE_IMPLEMENTATION, function)
    try:
        yield
    finally:
        AttentionInterface.register(capture.CAPTURE_IMPLEMENTATION, capture.capturing_attention)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=61, help="interleaved rounds (default 61)")
    parser.add_argument("--runs", type=int, default=1,
                        help="repeat the whole timing RUNS times in this process; medians and ranges over runs")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "detect_bound.json"))
    parser.add_argument("--results", metavar="NAME",
                        help="also write the documentation's stamped record docs/results/NAME.json (Performance page)")
    args = parser.parse_args(argv)

    from mia.detector.detector import Detector
    from mia.detector.folder import DEFAULT_DETECTOR

    model = load_model("minilm", device="cpu")
    bare = BareModel("minilm", "cpu")
    detector = Detector.load(DEFAULT_DETECTOR)
    pair = paragraph_pair(None, 150, model)
    encoded = model.encode(pair)
    nothing = CaptureRequest(blocks=())

    def fused(run: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with attention_function(fused_attention):
                return run()
        return call

    def detect() -> Any:
        return detector.detect(model, pair.a, pair.b)

    def model_only() -> None:
        model.run([encoded], lambda index, block: None, nothing)

    def fresh_tensors() -> Any:
        with model.attention_buffers.claimed():  # held here: the passes inside allocate their own
            return detect()

    calls: dict[str, Callable[[], Any]] = {
        "bare": lambda: bare.forward([pair], 1), "detect": detect, "detect_fused": fused(detect),
        "detect_fresh_tensors": fresh_tensors,
        "model_only": model_only, "model_only_fused": fused(model_only)}
    for name, call in calls.items():  # warm-up
        call()
        call()
    runs = [timed_rounds(calls, args.rounds) for _ in range(args.runs)]
    shipped, bound = detect(), fused(detect)()
    score = detector.window_scorer(model)
    probabilities = score([encoded])[0]
    probabilities_fused = fused(lambda: score([encoded])[0])()
    result = {
        "pair_tokens": [len(encoded.a_spans), len(encoded.b_spans)], "rounds": args.rounds, "runs": runs,
        "median_ms": {name: statistics.median(run["median_ms"][name] for run in runs) for name in calls},
        "median_ratio_to_bare": {name: statistics.median(run["median_ratio_to_bare"][name] for run in runs)
                                 for name in calls if name != "bare"},
        "ratio_range": {name: [min(run["median_ratio_to_bare"][name] for run in runs),
                               max(run["median_ratio_to_bare"][name] for run in runs)]
                        for name in calls if name != "bare"},
        "minor_page_faults_per_call": {name: round(statistics.median(run["minor_page_faults_per_call"][name]
                                                                     for run in runs)) for name in calls},
        "fused_max_probability_difference": float(np.abs(probabilities - probabilities_fused).max()),
        "fused_same_links": shipped.to_dict() == bound.to_dict(),
    }
    for key, value in result.items():
        if key != "runs":
            print(f"{key}: {value}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.results:
        from benchmarks.results import record, write

        made = record("detect-bound", measures=MEASURES, data=result, tables=table(result))
        print(f"wrote {write(args.results, made)}")
    return 0


MEASURES = ["mia/models", "mia/detector", "mia/alignment", "mia/text", "benchmarks/detect_bound.py",
            "mia/data/detectors/minilm-reuse/detector.json", "mia/data/detectors/minilm-reuse/weights.npz"]
WHAT = {"detect": "`detect` as shipped", "detect_fresh_tensors": "`detect`, each layer's attention in new tensors",
        "detect_fused": "`detect` with the fused-kernel prototype (not part of mia)",
        "model_only": "the captured pass alone, stopped after the last layer read",
        "model_only_fused": "the same with the fused-kernel prototype", "bare": "the bare forward pass (SDPA)"}


def timed_rounds(calls: dict[str, Callable[[], Any]], rounds: int) -> dict[str, dict[str, float]]:
    """One run: ``rounds`` interleaved rounds of every call; medians, median ratios to ``bare``, page faults."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    faults: dict[str, int] = dict.fromkeys(calls, 0)
    for _ in range(rounds):
        for name, call in calls.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            started = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - started)
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return {"median_ms": {name: round(1e3 * statistics.median(values), 2) for name, values in seconds.items()},
            "median_ratio_to_bare": {name: round(statistics.median(v / b for v, b in zip(values, seconds["bare"])), 3)
                                     for name, values in seconds.items() if name != "bare"},
            "minor_page_faults_per_call": {name: round(count / rounds) for name, count in faults.items()}}


def table(result: dict[str, Any]) -> dict[str, Any]:
    """The Performance page's table of where detection's time goes."""
    ratios, ranges = result["median_ratio_to_bare"], result["ratio_range"]
    rows = [[WHAT[name], f"{result['median_ms'][name]:.1f}",
             "1" if name == "bare" else f"{ratios[name]:.3f} ({ranges[name][0]:.3f}-{ranges[name][1]:.3f})",
             result["minor_page_faults_per_call"][name]] for name in WHAT]
    tokens = " + ".join(str(n) for n in result["pair_tokens"])
    return {"detect_bound": {
        "columns": ["call", "median ms", "median ratio to the bare pass (range over runs)", "minor page faults a call"],
        "rows": rows,
        "note": f"the benchmark's pair ({tokens} tokens), {result['rounds']} interleaved rounds a run, "
                f"{len(result['runs'])} runs; the prototype's probabilities differ from the shipped ones by up to "
                f"{result['fused_max_probability_difference']:.1e}, links "
                + ("the same" if result["fused_same_links"] else "not the same")}}


if __name__ == "__main__":
    raise SystemExit(main())
