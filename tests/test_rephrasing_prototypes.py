"""The parts of benchmarks/rephrasing_prototypes.py whose figures the Rephrasing page shows: the per-head
renormalisation within the other text, the value norms and value-weighted attention, the one-to-one decoder and the
cap of any one-to-one decoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.rephrasing_prototypes import (
    Kept,
    ValueNorms,
    feature_rows,
    gold_matching,
    one_to_one,
    value_weighted,
    within_other_text,
)
from mia.models.attention import load_model
from mia.text.pairs import Pair
from tests import tiny_models


def attention_blocks(seed: int = 0) -> torch.Tensor:
    """Random [F, n_a, n_b] weights: 6 A->B features (rows over B) then 6 B->A (stored transposed)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((12, 4, 5), generator=generator) * 0.2


def test_renormalised_weights_sum_to_one_over_the_other_text() -> None:
    blocks = attention_blocks()
    renormalised = within_other_text(blocks, 2)
    assert torch.allclose(renormalised[:6].sum(dim=2), torch.ones(6, 4))  # A's rows over B
    assert torch.allclose(renormalised[6:].sum(dim=1), torch.ones(6, 5))  # B's rows (transposed) over A
    assert torch.equal(blocks, attention_blocks()), "the input is not written"


def test_weights_over_the_strongest_peak_at_one_on_each_row() -> None:
    scaled = within_other_text(attention_blocks(1), 2, by="max")
    assert torch.allclose(scaled[:6].amax(dim=2), torch.ones(6, 4))
    assert torch.allclose(scaled[6:].amax(dim=1), torch.ones(6, 5))
    assert float(scaled.max()) <= 1.0 + 1e-6


def test_renormalising_needs_two_directions() -> None:
    with pytest.raises(ValueError, match="two directions"):
        within_other_text(attention_blocks(), 1)


def test_one_to_one_takes_the_heaviest_matching_above_the_floor() -> None:
    scores = np.array([[0.9, 0.8, 0.0],
                       [0.85, 0.1, 0.0],
                       [0.0, 0.0, 0.04]], dtype=np.float32)
    linked = one_to_one(scores, 0.05)
    # 0.8 + 0.85 beats 0.9 + 0.1; the 0.04 cell is below the floor; each word linked at most once
    assert linked.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    assert (linked.sum(axis=0) <= 1).all() and (linked.sum(axis=1) <= 1).all()
    assert not one_to_one(np.full((2, 2), -np.inf, np.float32), 0.05).any()


def test_gold_matching_is_the_most_links_one_to_one_can_hold() -> None:
    sure = np.zeros((3, 4), bool)
    sure[0, [0, 1, 2]] = True  # one word linked to three: a one-to-one decoder gets one of them
    sure[1, 0] = True
    sure[2, 3] = True
    matched = gold_matching(sure)
    assert matched.sum() == 3 and (matched <= sure).all()
    assert (matched.sum(axis=0) <= 1).all() and (matched.sum(axis=1) <= 1).all()


def test_value_weighted_scales_each_head_by_the_attended_tokens_norm() -> None:
    blocks = attention_blocks(2)
    a_norms = np.arange(6 * 4, dtype=np.float32).reshape(6, 4)
    b_norms = np.arange(6 * 5, dtype=np.float32).reshape(6, 5) + 1
    weighted = value_weighted(blocks, a_norms, b_norms)
    # A->B feature 3, A token 1 attending B token 2: times B token 2's norm under head 3
    assert torch.isclose(weighted[3, 1, 2], blocks[3, 1, 2] * float(b_norms[3, 2]))
    # B->A feature 6 + 4 (stored [n_a, n_b]): B token 2 attending A token 1, times A token 1's norm under head 4
    assert torch.isclose(weighted[10, 1, 2], blocks[10, 1, 2] * float(a_norms[4, 1]))


def test_value_norms_match_a_direct_computation_and_are_removed(tmp_path: Path) -> None:
    model = load_model(str(tiny_models.build("bert", tmp_path / "bert")), device="cpu")
    hf = model.model
    item = model.encode(Pair("p", "The old house stood by the river.", "By the river stood an old house."))
    with ValueNorms(hf) as norms:
        next(iter(model.iter_features([item])))
        kept = norms.of_pass()
    layers, heads = hf.config.num_hidden_layers, hf.config.num_attention_heads
    positions = len(item.inputs["input_ids"])
    assert kept.shape == (layers * heads, positions)
    assert all(not layer.attention.self.value._forward_hooks for layer in hf.encoder.layer), "hooks removed"
    # direct: layer 1, head 2, the first B token
    with torch.no_grad():
        inputs = {name: torch.tensor([values]) for name, values in item.inputs.items()}
        hidden = hf(**inputs, output_hidden_states=True).hidden_states[1][0]  # layer 1's input
        layer = hf.encoder.layer[1]
        width = hf.config.hidden_size // heads
        columns = slice(2 * width, 3 * width)
        value = layer.attention.self.value(hidden)[:, columns]
        written = value @ layer.attention.output.dense.weight[:, columns].T
    j = item.b_positions.start
    assert np.isclose(kept[1 * heads + 2, j], float(written[j].norm()), rtol=1e-4)


def test_feature_rows_put_each_extra_beside_the_shipped_columns() -> None:
    blocks = attention_blocks(3)
    index = np.array([0, 7, 19])  # flat cells of [4, 5]: (0, 0), (1, 2), (3, 4)
    shipped = feature_rows(blocks, index, 5)
    assert shipped.shape == (3, 12 * 9)  # 12 head columns at 9 offsets
    assert np.isclose(shipped[1, 3], np.log(float(blocks[3, 1, 2]) + 1e-4), rtol=1e-3)  # offset (0, 0) first
    norms = (np.ones((6, 4), np.float32), np.full((6, 5), 2.0, np.float32))
    kept = Kept(None, blocks.numpy(), np.zeros((4, 2), int), np.zeros((5, 2), int), *norms)
    every = feature_rows(blocks, index, 5, ("renormalised", "value-norm"), kept)
    assert every.shape == (3, 12 * 9 + 12 + 12)
    assert np.array_equal(every[:, : 12 * 9], shipped)
    expected = np.log(float(blocks[3, 1, 2] / blocks[3, 1].sum()) + 1e-4)
    assert np.isclose(every[1, 12 * 9 + 3], expected, rtol=1e-3)
    assert np.isclose(every[1, 12 * 9 + 12 + 3], np.log(2 * float(blocks[3, 1, 2]) + 1e-4), rtol=1e-3)
    with pytest.raises(ValueError, match="unknown extra"):
        feature_rows(blocks, index, 5, ("q.k",))
    with pytest.raises(ValueError, match="value norms"):
        feature_rows(blocks, index, 5, ("value-norm",))
