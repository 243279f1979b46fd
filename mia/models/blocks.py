"""What a forward pass hands to a sink, and what it hands back to the caller: the blocks of attention of one layer
(:class:`Block`, under a :class:`CaptureRequest`), and a pair's feature tensor (:class:`PairFeatures`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mia.models.capture import Intervention
from mia.models.layout import Offset, normalise_offsets
from mia.text.pairs import Pair

BlockKind = Literal["pair", "a->a", "b->b", "a-rows", "b-rows"]



@dataclass(frozen=True)
class Block:
    """One block handed to a sink. ``values``: ``[heads, rows, cols]`` torch tensor (weights, or scores before the
    softmax when asked). For ``pair`` blocks ``column`` is the block's first feature column and ``transposed``
    says the block is ``[heads, n_b, n_a]`` (the sink transposes it: reading it transposed would stride).
    ``values`` is a view of storage the next layer overwrites: a sink copies what it keeps."""

    kind: BlockKind
    layer: int
    column: int
    values: Any
    transposed: bool = False


BlockSink = Callable[[int, Block], None]  # (index of the pair in its batch, block)


@dataclass(frozen=True)
class SideReader:
    """A second reader of the forward passes that make features, so that one pass serves both: the blocks it asks
    for (``pair`` among them if it reads those too), its sink for one encoded pair (None: it reads nothing of that
    pair), which receives the blocks of those kinds only, and ``finish``, called with each pair once its pass is
    over."""

    blocks: tuple[BlockKind, ...]
    sink_for: Callable[[Any], BlockSink | None]  # EncodedPair -> sink
    finish: Callable[[Any], None] | None = None  # EncodedPair -> None


def joined_readers(*readers: SideReader) -> SideReader:
    """One reader that serves each of ``readers`` the blocks it asks for, from the same passes."""

    def sink_for(item: Any) -> BlockSink | None:
        sinks = [(reader.blocks, each) for reader in readers if (each := reader.sink_for(item)) is not None]
        if not sinks:
            return None

        def serve(index: int, block: Block) -> None:
            for kinds, sink in sinks:
                if block.kind in kinds:
                    sink(index, block)

        return serve

    def finish(item: Any) -> None:
        for reader in readers:
            if reader.finish is not None:
                reader.finish(item)

    return SideReader(tuple(dict.fromkeys(kind for reader in readers for kind in reader.blocks)), sink_for, finish)


@dataclass(frozen=True)
class CaptureRequest:
    """What a sink asks of a forward pass. ``rows``: ``a-rows`` is A's rows over every position of the input it
    sits in, ``b-rows`` likewise. ``zero_heads``: layer -> heads whose outputs are zeroed (ablation); ``intervene``:
    values, patterns or head outputs replaced while the model runs (activation patching)."""

    blocks: tuple[BlockKind, ...] = ("pair",)
    scores: bool = False
    zero_heads: Mapping[int, Sequence[int]] = field(default_factory=dict)
    intervene: Intervention | None = None  # activation patching (:mod:`mia.models.capture`); the whole input runs


FEATURES = CaptureRequest()


@dataclass
class PairFeatures:
    """The attention features of one text pair.

    ``a_spans`` ``[n_a, 2]``, ``b_spans`` ``[n_b, 2]``: character spans of the content tokens (whitespace
    stripped); ``a_tokens``/``b_tokens`` their text. ``blocks``: float32 torch ``[F, n_a, n_b]``, head-major, on
    the model's device. ``features``: the same as float16 numpy ``[n_a, n_b, F]`` (made on first use).
    """

    pair: Pair
    a_spans: np.ndarray
    b_spans: np.ndarray
    a_tokens: list[str]
    b_tokens: list[str]
    blocks: Any
    _features: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.a_spans), len(self.b_spans)

    @property
    def features(self) -> np.ndarray:
        """float16 ``[n_a, n_b, F]`` (a view of a head-major array)."""
        if self._features is None:
            import torch

            self._features = self.blocks.to(torch.float16).cpu().numpy().transpose(1, 2, 0)
        return self._features

    def rows(self, index: np.ndarray, offsets: Sequence[Offset] | Sequence[int] = ((0, 0),)) -> np.ndarray:
        """Features of the token pairs at flat indices ``index`` into ``[n_a, n_b]``: float16 ``[N, F * offsets]``.

        The columns for offset ``(di, dj)`` hold the attention at ``(i + di, j + dj)``, 0 outside the texts.
        """
        import torch

        n_a, n_b = self.shape
        i, j = np.divmod(np.asarray(index, dtype=np.int64), n_b)
        flat_blocks = self.blocks.reshape(self.blocks.shape[0], -1)
        parts = []
        for di, dj in normalise_offsets(offsets):
            ii, jj = i + di, j + dj
            inside = (ii >= 0) & (ii < n_a) & (jj >= 0) & (jj < n_b)
            picked = flat_blocks[:, torch.as_tensor(np.where(inside, ii * n_b + jj, 0), device=self.blocks.device)]
            if not inside.all():
                picked = picked * torch.as_tensor(inside, device=picked.device, dtype=picked.dtype)
            parts.append(picked)
        return torch.cat(parts).T.to(torch.float16).cpu().numpy()
