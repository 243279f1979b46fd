"""Head types on real pairs: what share of its attention each head puts on each pattern.

TransformerLens's head detector scores previous-token, duplicate-token and induction heads on causal attention
("mul": the mean attention on the pattern's token). These scores generalise it to pair attention, per head and
direction, on pairs with gold links. For a direction the *query* text is the one whose tokens attend (A for
``a->b`` and ``cross``, B for ``b->a``), the *key* text the other. Each score is a mean over query tokens that
have the pattern, of the attention mass (a share of the whole row: every position the head can see) on it:

* **copy**: on the query token's gold copies in the key text (rows with a copy);
* **duplicate**: on key tokens with the same text (rows with such a token), copy or not;
* **copy neighbour**: on the token just after a copy that is not a copy itself (induction-like);
* **previous token** and **self**: within the query text, on the token before / the token itself (not
  available for encoder-decoder cross-attention, whose rows see only the other text: NaN);
* **sink**: on special tokens (``[CLS]``, ``[SEP]``, ``<s>``, ...: positions that are neither text);
* **retrieval** (Wu et al. 2024): the share of rows with a copy whose argmax over the whole row is a copy.

:func:`dominant_type` names the pattern with the largest mass ("copy" when the copy holds at least 90% of the
duplicate mass, "diffuse" when no pattern holds 10% of the row).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mia.models.attention import AttentionModel
from mia.models.blocks import Block, BlockKind, CaptureRequest, SideReader
from mia.models.encoding import EncodedPair
from mia.text.pairs import token_labels

PATTERNS: tuple[str, ...] = ("copy", "duplicate", "copy neighbour", "previous token", "self", "sink", "retrieval")
MASS_PATTERNS: tuple[str, ...] = PATTERNS[:-1]
DIFFUSE_BELOW = 0.1


@dataclass
class PatternScores:
    """Per direction, per pattern: mean score ``[layers, heads]`` and how many rows it is averaged over."""

    layers: int
    heads: int
    sums: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    pairs: int = 0

    def add(self, direction: str, pattern: str, layer: int, total: np.ndarray, rows: int) -> None:
        """Add ``total`` ``[heads]``: the sum over ``rows`` query tokens of one layer."""
        sums = self.sums.setdefault(direction, {}).setdefault(pattern, np.zeros((self.layers, self.heads)))
        sums[layer] += total
        if layer == 0:
            counts = self.rows.setdefault(direction, {})
            counts[pattern] = counts.get(pattern, 0) + rows

    def means(self) -> dict[str, dict[str, np.ndarray]]:
        """direction -> pattern -> ``[layers, heads]`` mean (NaN where no row had the pattern)."""
        result: dict[str, dict[str, np.ndarray]] = {}
        for direction, patterns in self.sums.items():
            result[direction] = {}
            for pattern in PATTERNS:
                count = self.rows[direction].get(pattern, 0)
                total = patterns.get(pattern)
                result[direction][pattern] = (total / count if total is not None and count
                                              else np.full((self.layers, self.heads), np.nan))
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "patterns": list(PATTERNS),
            "pairs": self.pairs,
            "rows": self.rows,
            "scores": {d: {p: np.round(v, 4).tolist() for p, v in pats.items()} for d, pats in self.means().items()},
        }


def dominant_type(scores: dict[str, float]) -> str:
    """The pattern holding the most attention mass of a head (see the module docstring)."""
    masses = {p: scores[p] for p in MASS_PATTERNS if p in scores and scores[p] == scores[p]}  # NaN dropped
    if not masses or max(masses.values()) < DIFFUSE_BELOW:
        return "diffuse"
    best = max(masses, key=lambda p: masses[p])
    if best == "duplicate" and masses.get("copy", 0.0) >= 0.9 * masses["duplicate"]:
        return "copy"
    return best


def rows_kind(direction: str) -> BlockKind:
    """The block holding the query text's whole attention rows in ``direction``."""
    return "b-rows" if direction == "b->a" else "a-rows"


def sides(model: AttentionModel, item: EncodedPair, direction: str) -> tuple[slice, slice, bool]:
    """``(query positions, key positions, within-text attention available)`` of one direction."""
    if direction == "b->a":
        return item.b_positions, item.a_positions, True
    return item.a_positions, item.b_positions, model.architecture != "encoder-decoder"


def _mass(pair: Any, mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum over rows having the pattern of the mass on it: ``([heads], rows)``; ``pair`` ``[heads, n_q, n_k]``."""
    rows = mask.any(1)
    if not rows.any():
        return np.zeros(pair.shape[0]), 0
    return (pair[:, rows] * mask[rows]).sum((1, 2)), int(rows.sum())


@dataclass(frozen=True)
class DirectionMasks:
    """What one pair's patterns are in one direction, computed once for all layers: bool ``[n_q, n_k]`` masks of
    the copies, same-text tokens and copy neighbours, and bool ``[positions]`` of the texts' own positions."""

    query: slice
    key: slice
    within: bool
    copy: np.ndarray
    same: np.ndarray
    neighbour: np.ndarray
    content: np.ndarray


def direction_masks(model: AttentionModel, item: EncodedPair, gold: np.ndarray, direction: str,
                    positions: int) -> DirectionMasks:
    """The masks of ``direction`` for a pair with gold labels ``[n_a, n_b]`` and rows over ``positions``."""
    query, key, within = sides(model, item, direction)
    copy = gold if direction != "b->a" else gold.T  # [n_q, n_k]
    texts_a = [item.pair.a[s:e] for s, e in item.a_spans]
    texts_b = [item.pair.b[s:e] for s, e in item.b_spans]
    q_text, k_text = (texts_b, texts_a) if direction == "b->a" else (texts_a, texts_b)
    same = np.array(q_text, dtype=object)[:, None] == np.array(k_text, dtype=object)[None, :]
    neighbour = np.zeros_like(copy)
    neighbour[:, 1:] = copy[:, :-1]
    neighbour &= ~copy
    content = np.zeros(positions, bool)
    for span in (item.a_positions, item.b_positions) if model.architecture != "encoder-decoder" else (key,):
        content[span] = True
    return DirectionMasks(query, key, within, copy, same, neighbour, content)


def score_rows(scores: PatternScores, masks: DirectionMasks, direction: str, block: Block) -> None:
    """Add the patterns of one layer's rows ``[heads, n_q, positions]`` of one direction."""
    weights = block.values.float().cpu().numpy()
    key, copy = masks.key, masks.copy
    pair = weights[:, :, key]
    layer = block.layer
    for pattern, mask in (("copy", copy), ("duplicate", masks.same), ("copy neighbour", masks.neighbour)):
        total, rows = _mass(pair, mask)
        scores.add(direction, pattern, layer, total, rows)
    n_q = copy.shape[0]
    if masks.within:
        positions = np.arange(masks.query.start, masks.query.start + n_q)
        scores.add(direction, "self", layer, weights[:, np.arange(n_q), positions].sum(1), n_q)
        if n_q > 1:
            scores.add(direction, "previous token", layer,
                       weights[:, np.arange(1, n_q), positions[:-1]].sum(1), n_q - 1)
    scores.add(direction, "sink", layer, weights[:, :, ~masks.content].sum((1, 2)), n_q)
    has_copy = copy.any(1)
    if has_copy.any():
        argmax = weights[:, has_copy].argmax(-1) - key.start  # [heads, rows]: key index (may fall outside)
        inside = (argmax >= 0) & (argmax < copy.shape[1])
        hit = inside & copy[has_copy][np.arange(int(has_copy.sum()))[None, :], np.clip(argmax, 0, copy.shape[1] - 1)]
        scores.add(direction, "retrieval", layer, hit.sum(1).astype(float), int(has_copy.sum()))


class PatternSink:
    """A block sink that adds one pair's rows (``a-rows``/``b-rows`` blocks, :func:`pattern_kinds`) of every
    direction to ``scores``; each direction's masks are made on its first block and kept for its other layers."""

    def __init__(self, model: AttentionModel, scores: PatternScores, item: EncodedPair, gold: np.ndarray) -> None:
        self.model, self.scores, self.item, self.gold = model, scores, item, gold
        self.masks: dict[str, DirectionMasks] = {}

    def __call__(self, index: int, block: Block) -> None:
        for direction in self.model.layout.directions:
            if rows_kind(direction) == block.kind:
                if direction not in self.masks:
                    self.masks[direction] = direction_masks(self.model, self.item, self.gold, direction,
                                                            block.values.shape[-1])
                score_rows(self.scores, self.masks[direction], direction, block)


def pattern_kinds(model: AttentionModel) -> tuple[BlockKind, ...]:
    """The blocks head types read: the query text's whole rows in each of the model's directions."""
    return tuple(sorted({rows_kind(d) for d in model.layout.directions}))


def pattern_sink(model: AttentionModel, scores: PatternScores, item: EncodedPair) -> PatternSink | None:
    """The sink that scores ``item`` into ``scores`` (the pair counted), or None when it has no gold link."""
    gold = token_labels(item.pair, item.a_spans, item.b_spans)
    if not gold.any():
        return None
    scores.pairs += 1
    return PatternSink(model, scores, item, gold)


def pattern_reader(model: AttentionModel, scores: PatternScores) -> SideReader:
    """Head types as a second reader of passes that make features (each pair read whole, in the order it runs)."""
    return SideReader(pattern_kinds(model), lambda item: pattern_sink(model, scores, item))


def pattern_scores(model: AttentionModel, items: Iterable[EncodedPair],
                   progress: Any = None) -> PatternScores:
    """Head-type scores (module docstring) over encoded pairs with gold links, one forward pass each."""
    scores = PatternScores(model.layout.layers, model.layout.heads)
    request = CaptureRequest(blocks=pattern_kinds(model))
    iterator: Iterator[EncodedPair] = iter(items) if progress is None else iter(progress(items))
    for item in iterator:
        sink = pattern_sink(model, scores, item)
        if sink is not None:
            model.run([item], sink, request)
    return scores
