"""The feature layout: which attention head, direction and offset each feature column holds.

Directions: ``a->b`` (A's tokens attending to B's, read at ``[i, j]``), ``b->a`` (B attending to A, transposed to
``[i, j]``), ``cross`` (encoder-decoder cross-attention: A in the decoder attending to B in the encoder).
Encoder-only models give ``a->b`` and ``b->a``; decoder-only models ``b->a`` (A comes first in the causal
sequence, so only B can attend to A); encoder-decoder models ``cross``.

Offsets ``(di, dj)``: the columns for an offset hold each head's attention at the token pair ``(i + di, j + dj)``
(the transform of 0 outside the texts). ``(0, 0)`` is the token pair itself; ``(-1, -1)`` and ``(1, 1)`` are its
diagonal neighbours (``train --context``); ``(1, 0)`` reads a_{i+1} against b_j, the induction-like
"copy neighbour" pattern.

Feature ``k``: offset ``k // heads_per_offset``, then direction, layer, head within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mia.errors import MiaError

Direction = Literal["a->b", "b->a", "cross"]
DIRECTIONS: tuple[Direction, ...] = ("a->b", "b->a", "cross")
Offset = tuple[int, int]
PAIR_ONLY: tuple[Offset, ...] = ((0, 0),)
DIAGONAL_CONTEXT: tuple[Offset, ...] = ((0, 0), (-1, -1), (1, 1))
# the diagonal two steps each way, and the neighbours one word apart after an insertion or deletion on one side
WIDE_CONTEXT: tuple[Offset, ...] = ((0, 0), (-1, -1), (1, 1), (-2, -2), (2, 2), (1, 2), (2, 1), (-1, -2), (-2, -1))
OffsetFamily = Literal["pair", "diagonal", "wide"]
CONTEXTS: dict[str, tuple[Offset, ...]] = {"pair": PAIR_ONLY, "diagonal": DIAGONAL_CONTEXT, "wide": WIDE_CONTEXT}


@dataclass(frozen=True)
class FeatureLayout:
    """Which head each feature column holds (see the module docstring)."""

    layers: int
    heads: int
    directions: tuple[str, ...]
    offsets: tuple[Offset, ...] = PAIR_ONLY

    @property
    def heads_per_offset(self) -> int:
        return len(self.directions) * self.layers * self.heads

    @property
    def n_features(self) -> int:
        return len(self.offsets) * self.heads_per_offset

    def head_of(self, feature: int) -> tuple[str, int, int, Offset]:
        """``(direction, layer, head, offset)`` of feature column ``feature``."""
        offset, rest = divmod(feature, self.heads_per_offset)
        direction, rest = divmod(rest, self.layers * self.heads)
        return self.directions[direction], rest // self.heads, rest % self.heads, self.offsets[offset]

    def by_head(self, values: Any) -> Any:
        """Columns ``[..., F]`` as ``[..., offsets, directions, layers * heads]`` (head ``h`` of layer ``l`` at
        ``l * heads + h``), to combine a head's columns."""
        return values.reshape(*values.shape[:-1], len(self.offsets), len(self.directions), self.layers * self.heads)

    def base(self) -> FeatureLayout:
        """The model's own layout: the same heads, no context offsets."""
        return FeatureLayout(self.layers, self.heads, self.directions)

    def with_offsets(self, offsets: tuple[Offset, ...] | tuple[int, ...]) -> FeatureLayout:
        """The same heads read at ``offsets`` (pairs ``(di, dj)``; a plain ``o`` means ``(o, o)``)."""
        pairs = normalise_offsets(offsets)
        if not pairs or pairs[0] != (0, 0) or len(set(pairs)) != len(pairs):
            raise MiaError(f"offsets must start with (0, 0) and not repeat, got {list(pairs)}")
        return FeatureLayout(self.layers, self.heads, self.directions, pairs)

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "heads": self.heads, "directions": list(self.directions),
                "offsets": [list(offset) for offset in self.offsets]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLayout:
        return cls(layers=int(data["layers"]), heads=int(data["heads"]), directions=tuple(data["directions"]),
                   offsets=normalise_offsets(data.get("offsets", [[0, 0]])))


def normalise_offsets(offsets: Any) -> tuple[Offset, ...]:
    """Offsets as ``(di, dj)`` pairs: a plain integer ``o`` (detector formats 1 and 2) is the diagonal ``(o, o)``."""
    pairs = []
    for offset in offsets:
        if isinstance(offset, int):
            pairs.append((offset, offset))
        else:
            di, dj = offset
            pairs.append((int(di), int(dj)))
    return tuple(pairs)


def offset_label(offset: Offset) -> str:
    """``(i-1, j-1)`` style text for an offset."""
    def part(name: str, delta: int) -> str:
        return name if delta == 0 else f"{name}{delta:+d}"

    return f"({part('i', offset[0])}, {part('j', offset[1])})"
