"""Activation patching over heads: which heads make the model find the copy, beside the heads the detector reads.

For each pair, two runs of the model on inputs of the same length:

* **clean**: the pair as it is (B holds the copy of A's text);
* **corrupted**: B's copied tokens (every B token in a gold link) replaced by as many tokens of other text
  (:data:`CORRUPTIONS`), so that every position lines up and the input stays ordinary text.

The **match signal** is the detector's own decision quantity: its log-odds
(:func:`~mia.detector.scoring.logits_from_sums`) averaged over the gold token pairs. A logistic regression's
log-odds are linear in its (transformed) features, so the signal moves with each head's features without the
saturation of a probability. Per pair it is normalised as ``r = (patched - corrupted) / (clean - corrupted)``;
pairs whose clean and corrupted signals are less than :attr:`PatchOptions.min_gap` apart are left out (and counted).

For every head the detector reads (self-attention of encoder-only and decoder-only models, cross-attention of
encoder-decoder models) and each *part* of it:

* ``output``: the head's output, its slice of the attention output before the output projection;
* ``pattern``: its attention weights only (its values stay the run's own);
* ``value``: its values only (its weights stay),

**necessity** is the share of the signal lost when the part comes from the corrupted run into the clean one
(noising, ``1 - r``), **sufficiency** the share recovered when it comes from the clean run into the corrupted one
(denoising, ``r``). Each is a mean over pairs with a bootstrap interval over pairs.

A head's output reaches the detector only through the heads after it, so output necessity says the head
*computes* the match for later heads; its pattern is also read by the detector directly, so pattern patching
counts the reading too. :func:`classify` puts both in words beside the readout weight.

The check that the ranking means something (:attr:`PatchResult.top_k`): heads ordered by output necessity on
one half of the pairs; on the other half the top k noised together against ``draws`` random sets of k heads, and
against the sum of the top k's single effects.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mia.alignment.windowed import encode_pairs_that_fit
from mia.detector.detector import Detector
from mia.detector.scoring import HeadSums, logits_from_sums
from mia.errors import MiaError
from mia.heads.corruption import CORRUPTIONS, Corruption, a_and_b_ids, copied_b_positions, corrupted_ids, corrupted_item
from mia.heads.patch_file import Head
from mia.heads.ranking import head_summaries
from mia.models.attention import AttentionModel
from mia.models.blocks import Block, CaptureRequest
from mia.models.capture import HeadPart
from mia.models.encoding import EncodedPair
from mia.models.layer_replay import layer_blocks, recording, replaying
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair, token_labels

if TYPE_CHECKING:
    import torch

PARTS: tuple[HeadPart, ...] = ("output", "pattern", "value")

READS_SHARE = 0.1  # reads: |summed weight| at least this share of the largest head's, its interval clear of 0
# computes: output necessity or sufficiency at least an even share of the signal (1 / number of heads), its
# interval's low end above 0
CLASS_RULE = (f"reads: |readout weight| >= {READS_SHARE:g} x the largest head's (and its interval clear of 0); "
              "computes: output necessity or sufficiency >= 1 / (number of heads), an even share of the signal, with "
              "the interval's low end > 0")


@dataclass
class PatchOptions:
    parts: tuple[HeadPart, ...] = ("output",)  # add "pattern" and "value" for where vs what (time x 3)
    corruption: Corruption = "other-text"
    seed: int = 0
    batch: int = 16  # patched runs per forward pass, at most (a batch never spans two starting layers)
    k: int = 10  # heads noised together in the top-k check
    draws: int = 100  # random sets of k heads
    resamples: int = 1000  # bootstrap resamples of the pairs
    min_gap: float = 0.5  # least clean - corrupted signal (log-odds) for a pair to count

    def to_dict(self) -> dict[str, Any]:
        return {"parts": list(self.parts), "corruption": self.corruption, "seed": self.seed, "batch": self.batch,
                "k": self.k, "draws": self.draws, "resamples": self.resamples, "min_gap": self.min_gap}


@dataclass
class HeadEffect:
    """One head's patching effects: per part, necessity and sufficiency (means over pairs) with 95% intervals."""

    layer: int
    head: int
    necessity: dict[str, float]
    necessity_interval: dict[str, tuple[float, float]]
    sufficiency: dict[str, float]
    sufficiency_interval: dict[str, tuple[float, float]]
    readout_weight: float = float("nan")
    readout_interval: tuple[float, float] | None = None
    role: str = ""
    types: dict[str, str] = field(default_factory=dict)  # direction -> dominant head type

    @property
    def name(self) -> str:
        return f"L{self.layer}H{self.head}"

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"layer": self.layer, "head": self.head, "name": self.name}
        for part in self.necessity:
            prefix = "" if part == "output" else f"{part}_"
            entry[f"{prefix}necessity"] = _round(self.necessity[part])
            entry[f"{prefix}necessity_interval"] = [_round(v) for v in self.necessity_interval[part]]
            entry[f"{prefix}sufficiency"] = _round(self.sufficiency[part])
            entry[f"{prefix}sufficiency_interval"] = [_round(v) for v in self.sufficiency_interval[part]]
        entry.update({"readout_weight": _round(self.readout_weight),
                      "readout_interval": None if self.readout_interval is None else
                      [_round(v) for v in self.readout_interval],
                      "role": self.role, "dominant_type": self.types})
        return entry


@dataclass
class PatchResult:
    """Heads ordered by output necessity (largest first), the top-k check and what was run."""

    heads: list[HeadEffect]
    top_k: dict[str, Any]
    pairs: dict[str, Any]
    signal: dict[str, float]
    options: dict[str, Any]
    model: str = ""
    relation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "relation": self.relation,
            "signal": "the detector's mean log-odds over the gold token pairs; per pair r = (patched - corrupted) / "
                      "(clean - corrupted); necessity = 1 - r when a part comes from the corrupted run into the clean "
                      "one, sufficiency = r when it comes from the clean run into the corrupted one",
            "corruption": {"scheme": self.options["corruption"], "rule": CORRUPTIONS[self.options["corruption"]]},
            "signal_means": {k: _round(v) for k, v in self.signal.items()},
            "roles": CLASS_RULE, "pairs": self.pairs, "options": self.options,
            "heads": [h.to_dict() for h in self.heads],
            "top_k_noising": self.top_k,
        }


def _round(value: float) -> float | None:
    return None if value != value else round(float(value), 4)


# --- runs ---------------------------------------------------------------------------------------------------


Recording = dict[tuple[HeadPart, int], "torch.Tensor"]  # (part, layer) -> [heads, ...] of one run


@dataclass
class BaseRun:
    """One unpatched run: its signal, every layer's recorded parts of the heads (``parts``: those asked for among
    values, pattern and head outputs), the output of each layer's block (to start a patched run there) and the
    detector's head sums before each layer."""

    signal: float
    parts: Recording
    block_outputs: list[Any]
    sums_before: dict[int, tuple[Any, Any]]  # layer -> (straight, turned) accumulators of HeadSums


class Runner:
    """Forward passes of one detector's model that return the match signal, with parts of heads patched.

    A batch of runs that patch layers ``l`` and above starts at layer ``l`` from the base run's block outputs
    (:mod:`mia.models.layer_replay`) and its head sums so far; the layers below are not computed again."""

    def __init__(self, detector: Detector, model: AttentionModel, batch: int) -> None:
        self.detector, self.model, self.batch = detector, model, max(1, batch)
        self.weights = detector.head_weights(model.device)
        self.blocks = layer_blocks(model.model, model.attention_modules())

    def _signal(self, sums: Any, gold: Any) -> float:
        d = self.detector
        logits = logits_from_sums(sums, d.raw_weights, d.raw_intercept, d.layout, d.transform)
        return float(logits[gold].mean())

    def record(self, item: EncodedPair, gold: Any, parts: Collection[HeadPart]) -> BaseRun:
        """One plain run of ``item``, kept for the patched runs that start from it: the heads' ``parts`` only (a
        pattern is ``[heads, n, n]`` a layer: kept only when patched)."""
        recorded: Recording = {}
        outputs: list[Any] = []
        sums = HeadSums([item], self.weights, self.detector.transform)
        before: dict[int, tuple[Any, Any]] = {}

        def keep(layer: int, part: HeadPart, tensor: Any) -> Any:
            if part in parts:
                recorded[(part, layer)] = tensor[0].clone()
            return tensor

        def sink(index: int, block: Block) -> None:
            if block.layer not in before:
                turned = sums.turned[0]
                before[block.layer] = (sums.straight[0].clone(), None if turned is None else turned.clone())
            sums(index, block)

        with recording(self.blocks or [], outputs):
            self.model.run([item], sink, CaptureRequest(intervene=keep))
        return BaseRun(self._signal(sums.sums[0], gold), recorded, outputs, before)

    def patched(self, item: EncodedPair, gold: Any, part: HeadPart, base: BaseRun, source: Recording,
                jobs: Sequence[Sequence[Head]]) -> np.ndarray:
        """The signal of ``item`` (whose plain run is ``base``) for each job, the heads whose ``part`` comes from
        ``source``: float64 ``[jobs]``, in the jobs' order."""
        signals = np.full(len(jobs), base.signal, dtype=np.float64)
        last = self.detector.layout.layers - 1
        by_first: dict[int, list[int]] = {}  # jobs by the first layer they patch: one batch starts there
        for j, heads in enumerate(jobs):
            if part != "pattern" and all(layer == last for layer, _ in heads):
                continue  # the last layer's output reaches nothing the detector reads: the base run's signal
            by_first.setdefault(min(layer for layer, _ in heads), []).append(j)
        for first in sorted(by_first):
            group = by_first[first]
            for start in range(0, len(group), self.batch):
                chunk = group[start: start + self.batch]
                signals[chunk] = self._run_chunk(item, gold, part, base, source, [jobs[j] for j in chunk])
        return signals

    def _run_chunk(self, item: EncodedPair, gold: Any, part: HeadPart, base: BaseRun, source: Recording,
                   chunk: Sequence[Sequence[Head]]) -> list[float]:
        import torch

        rows: dict[int, tuple[list[int], list[int]]] = {}
        for row, heads in enumerate(chunk):
            for layer, head in heads:
                entry = rows.setdefault(layer, ([], []))
                entry[0].append(row)
                entry[1].append(head)
        index = {layer: (torch.as_tensor(r), torch.as_tensor(h)) for layer, (r, h) in rows.items()}

        def intervene(layer: int, kind: HeadPart, tensor: Any) -> Any:
            if kind != part or layer not in index:
                return tensor
            row, head = index[layer]
            tensor = tensor.clone()  # the pass's own tensor may be a shared buffer
            tensor[row, head] = source[(part, layer)][head].to(tensor.dtype)
            return tensor

        items = [item] * len(chunk)
        sums = HeadSums(items, self.weights, self.detector.transform)
        # the last block never ends (the pass stops inside it): the blocks before it have outputs
        first = min(rows) if self.blocks is not None and len(base.block_outputs) >= min(rows) else 0
        if first:
            straight, turned = base.sums_before[first]
            sums.straight = [straight.clone() for _ in items]
            sums.turned = [None if turned is None else turned.clone() for _ in items]
        with replaying(self.blocks or [], base.block_outputs, first, len(items)):
            self.model.run(items, sums, CaptureRequest(intervene=intervene))
        return [self._signal(each, gold) for each in sums.sums]


@dataclass
class PairRuns:
    """One pair's clean and corrupted signals and its patched signals ``[heads]`` per part and direction."""

    clean: float
    corrupted: float
    noised: dict[HeadPart, np.ndarray]
    restored: dict[HeadPart, np.ndarray]

    @property
    def gap(self) -> float:
        return self.clean - self.corrupted

    def share(self, patched: np.ndarray) -> np.ndarray:
        """``(patched - corrupted) / (clean - corrupted)``."""
        return (patched - self.corrupted) / self.gap


def single_jobs(layers: int, heads: int) -> list[list[Head]]:
    return [[(layer, head)] for layer in range(layers) for head in range(heads)]


def _bootstrap(values: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile intervals of the column means of ``values`` ``[pairs, heads]`` over resampled pairs."""
    picks = rng.integers(len(values), size=(resamples, len(values)))
    means = np.stack([values[p].mean(0) for p in picks])
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def patch_heads(detector: Detector, model: AttentionModel, pairs: Sequence[Pair], options: PatchOptions | None = None,
                *, progress: Progress = no_progress) -> PatchResult:
    """Patch every head of ``detector``'s model on ``pairs`` (module docstring). Pairs too long for the model whole,
    or without a link, are left out and counted; at least 4 pairs must remain."""
    import torch

    options = PatchOptions() if options is None else options
    check_options(options)
    detector.check_model(model)
    if not model.fast:
        raise MiaError(f"{model.name}: patching needs the fast attention path, which model type "
                       f"{model.model_type!r} does not take")
    items, too_long = encode_pairs_that_fit(model, pairs)
    golds = [token_labels(item.pair, item.a_spans, item.b_spans) for item in items]
    linked = [(item, gold) for item, gold in zip(items, golds) if gold.any()]
    if len(linked) < 4:
        raise MiaError(f"patching needs at least 4 pairs with links that fit the model whole; got {len(linked)}")
    layers, heads = detector.layout.layers, detector.layout.heads
    rng = np.random.default_rng([options.seed, 34])
    runner = Runner(detector, model, options.batch)
    donors = [a_and_b_ids(item)[1] for item, _ in linked]
    jobs = single_jobs(layers, heads)
    kept: list[PairRuns] = []
    tested: dict[int, tuple[EncodedPair, Any, BaseRun, Recording]] = {}  # odd kept pairs: the top-k check's half
    small_gap = 0
    with torch.inference_mode():
        for index, (item, gold) in enumerate(progress(linked, "patching heads", len(linked))):
            a_ids, b_ids = a_and_b_ids(item)
            others = donors[:index] + donors[index + 1:]
            bad = corrupted_item(item, corrupted_ids(b_ids, copied_b_positions(gold), a_ids, others,
                                                     options.corruption, rng))
            mask = torch.as_tensor(gold, device=model.device)
            clean, corrupted = runner.record(item, mask, options.parts), runner.record(bad, mask, options.parts)
            if clean.signal - corrupted.signal < options.min_gap:
                small_gap += 1
                continue
            noised = {part: runner.patched(item, mask, part, clean, corrupted.parts, jobs) for part in options.parts}
            restored = {part: runner.patched(bad, mask, part, corrupted, clean.parts, jobs) for part in options.parts}
            if len(kept) % 2:  # the top-k check's half: the clean run and the corrupted head outputs are kept
                tested[len(kept)] = (item, mask, replace(clean, parts={}),
                                     {k: t for k, t in corrupted.parts.items() if k[0] == "output"})
            kept.append(PairRuns(clean.signal, corrupted.signal, noised, restored))
    if len(kept) < 4:
        raise MiaError(f"only {len(kept)} pairs have a clean signal at least {options.min_gap} log-odds above the "
                       "corrupted one; patching needs 4 (is the detector trained for this relation?)")
    necessity = {part: np.stack([1.0 - run.share(run.noised[part]) for run in kept]) for part in options.parts}
    sufficiency = {part: np.stack([run.share(run.restored[part]) for run in kept]) for part in options.parts}
    top_k = top_k_check(runner, kept, tested, necessity["output"], options, rng, progress)
    effects = classify(detector, head_effects(necessity, sufficiency, heads, options.resamples, rng))
    effects.sort(key=lambda e: -e.necessity["output"])
    return PatchResult(
        heads=effects, top_k=top_k, options=options.to_dict(), model=detector.model_name,
        relation=detector.card.relation,
        pairs={"given": len(pairs), "used": len(kept), "too_long": len(too_long),
               "without_links": len(items) - len(linked), "small_gap": small_gap},
        signal={"clean": float(np.mean([r.clean for r in kept])),
                "corrupted": float(np.mean([r.corrupted for r in kept]))},
    )


def check_options(options: PatchOptions) -> None:
    """Raise :class:`MiaError` for a corruption or parts :func:`patch_heads` does not know."""
    if options.corruption not in CORRUPTIONS:
        raise MiaError(f"unknown corruption {options.corruption!r}: use one of {', '.join(CORRUPTIONS)}")
    unknown = [p for p in options.parts if p not in PARTS]
    if unknown or not options.parts:
        raise MiaError(f"parts must be some of {', '.join(PARTS)}; got {', '.join(options.parts) or 'none'}")
    if "output" not in options.parts:
        raise MiaError("the output part is the one the ranking is made on: keep it among the parts")


def head_effects(necessity: dict[HeadPart, np.ndarray], sufficiency: dict[HeadPart, np.ndarray], per_layer: int,
                 resamples: int, rng: np.random.Generator) -> list[HeadEffect]:
    """One :class:`HeadEffect` per head from per-pair shares ``[pairs, heads]`` per part: means and 95% bootstrap
    intervals over the pairs."""
    parts = list(necessity)
    shares = {"necessity": necessity, "sufficiency": sufficiency}
    means = {(name, part): values[part].mean(0) for name, values in shares.items() for part in parts}
    bounds = {(name, part): _bootstrap(values[part], resamples, rng) for name, values in shares.items()
              for part in parts}

    def of(name: str, flat: int) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
        return ({part: float(means[(name, part)][flat]) for part in parts},
                {part: (float(bounds[(name, part)][0][flat]), float(bounds[(name, part)][1][flat])) for part in parts})

    effects = []
    for flat in range(necessity[parts[0]].shape[1]):
        (n, n_interval), (s, s_interval) = of("necessity", flat), of("sufficiency", flat)
        effects.append(HeadEffect(layer=flat // per_layer, head=flat % per_layer, necessity=n,
                                  necessity_interval=n_interval, sufficiency=s, sufficiency_interval=s_interval))
    return effects


def top_k_check(runner: Runner, kept: list[PairRuns], tested: dict[int, tuple[EncodedPair, Any, BaseRun, Recording]],
                necessity: np.ndarray,
                options: PatchOptions, rng: np.random.Generator, progress: Progress) -> dict[str, Any]:
    """Heads ranked by output necessity on the even pairs; on the odd pairs, the top k noised together against
    ``options.draws`` random sets of k heads and against the sum of the top k's single necessities."""
    n_heads = necessity.shape[1]
    k = min(options.k, n_heads)
    ranking_half, test_half = list(range(0, len(kept), 2)), list(range(1, len(kept), 2))
    order = np.argsort(-necessity[ranking_half].mean(0), kind="stable")
    per_layer = runner.detector.layout.heads

    def as_head(flat: int) -> Head:
        return int(flat) // per_layer, int(flat) % per_layer

    top = [as_head(f) for f in order[:k]]
    every = [as_head(f) for f in range(n_heads)]
    draws = [[as_head(f) for f in rng.choice(n_heads, size=k, replace=False)] for _ in range(options.draws)]
    joint = []
    for index in progress(test_half, f"top {k} against {options.draws} random sets", len(test_half)):
        item, mask, clean, corrupted_outputs = tested[index]
        joint.append(1.0 - kept[index].share(runner.patched(item, mask, "output", clean, corrupted_outputs,
                                                            [top, every, *draws])))
    values = np.stack(joint)  # [test pairs, 2 + draws]
    random_means = values[:, 2:].mean(0)
    top_value = float(values[:, 0].mean())
    median = float(np.median(random_means))
    return {
        "k": k, "part": "output", "ranked_on_pairs": len(ranking_half), "tested_on_pairs": len(test_half),
        "heads": [f"L{layer}H{head}" for layer, head in top],
        "top": _round(top_value), "sum_of_single": _round(float(necessity[test_half][:, order[:k]].sum(1).mean())),
        "random_median": _round(median),
        "random_interval": [_round(float(np.percentile(random_means, 2.5))),
                            _round(float(np.percentile(random_means, 97.5)))],
        "random_draws": options.draws,
        "ratio": _round(top_value / median) if median > 0 else None,
        "all_heads": _round(float(values[:, 1].mean())),  # every head's output from the corrupted run at once
    }


def classify(detector: Detector, effects: list[HeadEffect]) -> list[HeadEffect]:
    """Each head's readout weight, role in words (:data:`CLASS_RULE`) and dominant head types."""
    summaries = {(s.layer, s.head): s for s in head_summaries(detector)}
    largest = max((abs(s.weight) for s in summaries.values() if s.weight == s.weight), default=0.0)
    even_share = 1.0 / len(summaries)
    for effect in effects:
        summary = summaries[(effect.layer, effect.head)]
        effect.readout_weight, effect.readout_interval = summary.weight, summary.weight_interval
        clear = summary.weight_crosses_zero is not True
        reads = largest > 0 and abs(summary.weight) >= READS_SHARE * largest and clear
        low_n, low_s = effect.necessity_interval["output"][0], effect.sufficiency_interval["output"][0]
        computes = ((effect.necessity["output"] >= even_share and low_n > 0)
                    or (effect.sufficiency["output"] >= even_share and low_s > 0))
        effect.role = {(True, True): "both", (True, False): "reads", (False, True): "computes",
                       (False, False): "neither"}[(reads, computes)]
        effect.types = summary.dominant
    return effects
