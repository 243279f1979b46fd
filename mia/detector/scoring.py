"""Scoring attention with a detector: the feature transform and the weighted head sums, in one place.

The regression reads ``t(attention)`` per head and offset, where ``t`` is the detector's transform
(``log(w + 1e-4)`` or the identity). Its logit for a token pair is ``intercept + sum_f w_f t(x_f)``, which splits
into one weighted head sum per offset: ``sums[k] = sum_h w_{k,h} t(block_h)``, taken while the model runs
(:class:`HeadSums`, a block sink), then shifted by each offset ``(di, dj)`` and added
(:func:`probabilities_from_sums`). The feature tensor of a pair is never built on this path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mia.detector.record import FeatureTransform
from mia.models.attention import AttentionModel
from mia.models.blocks import Block
from mia.models.encoding import EncodedPair
from mia.models.layout import FeatureLayout
from mia.text.pairs import Pair

if TYPE_CHECKING:
    import torch

LOG_EPSILON = 1e-4
CHUNK = 16  # heads per step: small temporaries stay in cache (one big log(x) costs page faults)


def transform_features(features: np.ndarray, transform: FeatureTransform) -> np.ndarray:
    """The regression's inputs from attention weights ``[..., F]``: a new float32 array (the fit scales it in
    place), ``log(w + 1e-4)`` or ``w``.

    Float16 weights (how training keeps its rows) take the log from a table of every float16 value's
    (:func:`float16_log_table`): the same float32 values as converting and taking the log, about twice as fast here
    (numpy's float16 conversion and float32 log are the slow part; 8,192 x 1,296 rows: 36-41 ms against 68-93 ms in
    two ad-hoc timings)."""
    if transform == "log" and features.dtype == np.float16:
        return float16_log_table()[features.view(np.uint16)]
    values = features.astype(np.float32, copy=True)
    if transform == "log":
        values += np.float32(LOG_EPSILON)
        np.log(values, out=values)
    return values


@functools.cache
def float16_log_table() -> np.ndarray:
    """float32 ``[65536]``: ``log(float32(h) + 1e-4)`` for every float16 bit pattern ``h``, computed as
    :func:`transform_features` computes it for float16 input otherwise (NaN where the weight would be negative)."""
    values = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):  # the patterns of NaN and negative numbers
        values += np.float32(LOG_EPSILON)
        np.log(values, out=values)
    values.flags.writeable = False
    return values


def transform_block(block: torch.Tensor, transform: FeatureTransform, out: torch.Tensor | None = None) -> torch.Tensor:
    """The same transform in torch, into ``out`` when given (``block`` is never written)."""
    import torch

    if transform == "log":
        return torch.add(block, LOG_EPSILON, out=out).log_()
    return block.clone() if out is None else out.copy_(block)


def outside_value(transform: FeatureTransform) -> float:
    """What a head reads off the texts (an offset that falls outside): the transform of 0."""
    return float(np.log(LOG_EPSILON)) if transform == "log" else 0.0


def weights_per_offset(raw_weights: np.ndarray, layout: FeatureLayout, device: Any = "cpu") -> torch.Tensor:
    """Raw weights as float32 torch ``[offsets, heads_per_offset]``."""
    import torch

    shaped = raw_weights.reshape(len(layout.offsets), layout.heads_per_offset)
    return torch.as_tensor(shaped, dtype=torch.float32, device=device)


def sums_of_blocks(blocks: torch.Tensor, weights: torch.Tensor, transform: FeatureTransform) -> torch.Tensor:
    """Head sums ``[offsets, n_a, n_b]`` of head-major blocks ``[heads_per_offset, n_a, n_b]``."""
    import torch

    sums = torch.zeros((weights.shape[0], blocks[0].numel()), dtype=torch.float32, device=blocks.device)
    buffer = torch.empty((CHUNK, *blocks.shape[1:]), dtype=torch.float32, device=blocks.device)
    for start in range(0, blocks.shape[0], CHUNK):
        part = blocks[start : start + CHUNK]
        add_weighted_block(sums, weights[:, start : start + len(part)], part, transform, buffer[: len(part)])
    return sums.reshape(weights.shape[0], *blocks.shape[1:])


def add_weighted_block(target: torch.Tensor, weights: torch.Tensor, block: torch.Tensor, transform: FeatureTransform,
                       buffer: torch.Tensor) -> None:
    """``target[k] += sum_h weights[k, h] * t(block[h])`` in place: ``target`` ``[offsets, cells]``, ``weights``
    ``[offsets, heads]``, ``block`` ``[heads, ...]`` of ``cells`` values per head, transformed into ``buffer`` (its
    shape) so no temporary is made."""
    transform_block(block, transform, out=buffer)
    target.addmm_(weights, buffer.reshape(len(block), -1))


class HeadSums:
    """A block sink that adds each pair's weighted, transformed blocks into ``sums[index]`` ``[offsets, n_a, n_b]``.

    Each block is transformed into one reused buffer and added to the sums by one matrix product in place (no
    temporary per block); blocks that come transposed (``[heads, n_b, n_a]``) are summed in their own layout and
    turned round once, when the sums are read."""

    def __init__(self, batch: Sequence[EncodedPair], weights: torch.Tensor, transform: FeatureTransform) -> None:
        import torch

        self.weights, self.transform = weights, transform
        offsets, device = weights.shape[0], weights.device
        self.straight = [torch.zeros((offsets, len(item.a_spans) * len(item.b_spans)), device=device) for item in batch]
        self.turned: list[torch.Tensor | None] = [None] * len(batch)
        self.shapes = [(len(item.a_spans), len(item.b_spans)) for item in batch]
        self.buffers: dict[tuple[int, ...], torch.Tensor] = {}

    def __call__(self, index: int, block: Block) -> None:
        import torch

        values = block.values
        buffer = self.buffers.get(tuple(values.shape))
        if buffer is None:
            buffer = self.buffers[tuple(values.shape)] = torch.empty(values.shape, device=values.device)
        target = self.straight[index]
        if block.transposed:
            turned = self.turned[index]
            target = self.turned[index] = torch.zeros_like(target) if turned is None else turned
        add_weighted_block(target, self.weights[:, block.column : block.column + len(values)], values,
                           self.transform, buffer)

    @property
    def sums(self) -> list[torch.Tensor]:
        """Per pair, the head sums ``[offsets, n_a, n_b]``."""
        out = []
        offsets = self.weights.shape[0]  # named, not -1: a text without tokens (empty) has no cells to infer from
        for straight, turned, (n_a, n_b) in zip(self.straight, self.turned, self.shapes):
            summed = straight.reshape(offsets, n_a, n_b)
            if turned is not None:
                summed = summed + turned.reshape(offsets, n_b, n_a).transpose(-1, -2)
            out.append(summed)
        return out


def iter_head_sums(
    model: AttentionModel, pairs: Sequence[Pair | EncodedPair], weights: torch.Tensor, transform: FeatureTransform,
    *, batch_size: int = 1,
) -> Iterator[tuple[EncodedPair, torch.Tensor]]:
    """For each pair, its encoding and its head sums, taken while the model runs."""
    for batch in model.batches(pairs, batch_size):
        sink = HeadSums(batch, weights, transform)
        model.run(batch, sink)
        yield from zip(batch, sink.sums)


def probabilities_from_sums(
    sums: torch.Tensor, raw_weights: np.ndarray, raw_intercept: float, layout: FeatureLayout,
    transform: FeatureTransform,
) -> np.ndarray:
    """Probabilities float32 ``[n_a, n_b]`` from head sums ``[offsets, n_a, n_b]`` (:func:`logits_from_sums`)."""
    import torch

    return torch.sigmoid(logits_from_sums(sums, raw_weights, raw_intercept, layout, transform)).cpu().numpy()


def logits_from_sums(
    sums: torch.Tensor, raw_weights: np.ndarray, raw_intercept: float, layout: FeatureLayout,
    transform: FeatureTransform,
) -> torch.Tensor:
    """The regression's log-odds, float32 torch ``[n_a, n_b]``, from head sums ``[offsets, n_a, n_b]``.

    The logit of (i, j) adds, for each offset (di, dj), ``sums[k]`` at (i + di, j + dj), or the weights times the
    transform of 0 where that falls outside the texts.
    """
    import torch

    n_a, n_b = sums.shape[1:]
    logits = sums[0] + raw_intercept
    per_offset = layout.heads_per_offset
    outside = outside_value(transform)
    for k, offset in enumerate(layout.offsets[1:], start=1):
        weight_sum = float(raw_weights[k * per_offset : (k + 1) * per_offset].sum())
        shifted = torch.full((n_a, n_b), outside * weight_sum, device=sums.device)
        rows_to, rows_from = shift_slices(n_a, offset[0])
        cols_to, cols_from = shift_slices(n_b, offset[1])
        shifted[rows_to, cols_to] = sums[k][rows_from, cols_from]
        logits += shifted
    return logits


def shift_slices(length: int, shift: int) -> tuple[slice, slice]:
    """Target and source slices so that ``target[i] = source[i + shift]`` where ``i + shift`` is in range."""
    if shift >= 0:
        return slice(0, max(length - shift, 0)), slice(shift, length)
    return slice(-shift, length), slice(0, max(length + shift, 0))
