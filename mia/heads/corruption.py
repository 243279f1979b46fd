"""The corrupted run of activation patching (:mod:`mia.heads.patching`): B's copied tokens replaced by as many
tokens of other text, so that every position lines up and the input stays ordinary text.

Pure functions over token ids (``numpy``), no model: which B positions are copied (:func:`copied_b_positions`), the
replacement under a scheme (:func:`corrupted_ids`, :data:`CORRUPTIONS`), and the encoded pair with the new ids
(:func:`corrupted_item`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from mia.errors import MiaError
from mia.models.encoding import EncodedPair

Corruption = Literal["other-text", "random-tokens"]
CORRUPTIONS: dict[Corruption, str] = {
    "other-text": "each run of copied B tokens replaced by as many consecutive tokens of another pair's B text",
    "random-tokens": "each copied B token replaced by a token drawn from the other pairs' B texts (their token "
                     "frequencies), never one of A's tokens",
}


def copied_b_positions(gold: np.ndarray) -> np.ndarray:
    """Indices (into B's tokens) of the tokens in a gold link: int ``[m]``, ascending."""
    return np.flatnonzero(gold.any(axis=0))


def runs(positions: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[start, end)`` of consecutive ``positions`` (ascending)."""
    if not len(positions):
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1)
    starts = np.concatenate([[positions[0]], positions[breaks + 1]])
    ends = np.concatenate([positions[breaks], [positions[-1]]]) + 1
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def corrupted_ids(b_ids: np.ndarray, copied: np.ndarray, a_ids: np.ndarray, donors: Sequence[np.ndarray],
                  scheme: Corruption, rng: np.random.Generator) -> np.ndarray:
    """B's token ids with the ``copied`` positions replaced under ``scheme`` (:data:`CORRUPTIONS`); the same length.

    ``donors``: the token ids of other texts (never this pair's). Raise :class:`MiaError` when they hold too few."""
    out = b_ids.copy()
    if not len(copied):  # nothing copied: nothing to replace
        return out
    pool = np.concatenate([d for d in donors if len(d)]) if any(len(d) for d in donors) else np.zeros(0, np.int64)
    if scheme == "random-tokens":
        pool = pool[~np.isin(pool, a_ids)]
        if not len(pool):
            raise MiaError("no donor token differs from A's tokens: corruption needs other texts")
        out[copied] = rng.choice(pool, size=len(copied))
        return out
    if scheme != "other-text":
        raise MiaError(f"unknown corruption {scheme!r}: use one of {', '.join(CORRUPTIONS)}")
    long_enough = [d for d in donors if len(d)]
    for start, end in runs(copied):
        length = end - start
        fits = [d for d in long_enough if len(d) >= length]
        if fits:
            donor = fits[int(rng.integers(len(fits)))]
            offset = int(rng.integers(len(donor) - length + 1))
            out[start:end] = donor[offset: offset + length]
        elif len(pool) >= length:  # no one text is long enough: the donors one after another
            offset = int(rng.integers(len(pool) - length + 1))
            out[start:end] = pool[offset: offset + length]
        else:
            raise MiaError(f"the other texts hold {len(pool)} tokens, fewer than a copied run of {length}")
    return out


def corrupted_item(item: EncodedPair, new_b_ids: np.ndarray) -> EncodedPair:
    """``item`` with B's token ids replaced (same length: positions, spans and masks stay)."""
    ids = list(item.inputs["input_ids"])
    ids[item.b_positions] = [int(t) for t in new_b_ids]
    return EncodedPair(pair=item.pair, inputs={**item.inputs, "input_ids": ids}, a_positions=item.a_positions,
                       b_positions=item.b_positions, a_spans=item.a_spans, b_spans=item.b_spans)


def a_and_b_ids(item: EncodedPair) -> tuple[np.ndarray, np.ndarray]:
    """A's and B's content token ids in the model input."""
    a_source = item.inputs.get("decoder_input_ids", item.inputs["input_ids"])
    return (np.asarray(a_source, dtype=np.int64)[item.a_positions],
            np.asarray(item.inputs["input_ids"], dtype=np.int64)[item.b_positions])
