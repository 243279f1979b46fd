"""Every model family the README lists, on a tiny random model: the fast capture gives the same features as
``output_attentions=True``, and the blocks sit where the layout says."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mia.errors import MiaError
from mia.models.attention import AttentionModel, SlowPathNotice, load_model
from mia.models.blocks import CaptureRequest
from mia.models.loading import FAMILIES
from mia.text.pairs import Pair
from tests.tiny_models import ALL_TYPES, DECODER, build

PAIR = Pair("x", "The dog ran home. A cat sat on the mat.", "A cat sat on the mat. The dog ran home.")
SLOW_ONLY = {"mpnet"}  # its transformers code computes attention itself, without the attention interface


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {model_type: build(model_type, root / model_type) for model_type in ALL_TYPES}


def test_every_listed_family_is_tested():
    assert set(FAMILIES) == set(ALL_TYPES)


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_fast_path_equals_output_attentions(model_type, family_dirs, monkeypatch):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(str(family_dirs[model_type]), device="cpu")
    notices = [w for w in caught if issubclass(w.category, SlowPathNotice)]
    assert model.model_type == model_type
    assert model.fast == (model_type not in SLOW_ONLY)
    assert len(notices) == (1 if model_type in SLOW_ONLY else 0)
    slow = AttentionModel(model.name, model.model, model.tokenizer, device="cpu", capture_attention=False)
    reference = slow.features(PAIR)
    features = model.features(PAIR)
    assert features.blocks.shape == (model.layout.n_features, len(features.a_spans), len(features.b_spans))
    assert len(features.a_spans) > 5 and len(features.b_spans) > 5
    torch.testing.assert_close(features.blocks, reference.blocks, atol=1e-5, rtol=1e-4)
    assert torch.isfinite(features.blocks).all() and features.blocks.sum() > 0


@pytest.mark.parametrize("model_type", DECODER)
def test_decoder_only_reads_b_attending_to_a(model_type, family_dirs):
    """The one causal sequence is [BOS] A EOS B; the feature at (i, j) is b_j's attention to a_i."""
    from transformers import AutoModel

    model = load_model(str(family_dirs[model_type]), device="cpu")
    assert model.architecture == "decoder" and model.layout.directions == ("b->a",)
    item = model.encode(PAIR)
    ids = item.inputs["input_ids"]
    tok = model.tokenizer
    assert ids[0] == tok.bos_token_id and ids[item.a_positions.stop] == tok.eos_token_id
    assert tok.decode(ids[item.a_positions]).strip() == PAIR.a and tok.decode(ids[item.b_positions]).strip() == PAIR.b
    reference = AutoModel.from_pretrained(family_dirs[model_type], attn_implementation="eager").eval()
    with torch.inference_mode():
        attentions = reference(input_ids=torch.tensor([ids]), output_attentions=True).attentions
    features = model.features(PAIR).blocks
    heads = model.layout.heads
    for layer in range(model.layout.layers):
        for head in range(heads):
            expected = attentions[layer][0, head, item.b_positions, item.a_positions].T
            torch.testing.assert_close(features[layer * heads + head], expected, atol=1e-5, rtol=1e-4)


def test_a_slow_tokenizer_is_a_clear_error(family_dirs):
    from types import SimpleNamespace

    fast = load_model(str(family_dirs["marian"]), device="cpu")
    with pytest.raises(MiaError, match="needs a fast tokenizer.*Marian"):
        AttentionModel("marian-like", fast.model, SimpleNamespace(is_fast=False), device="cpu")


def test_capture_requests_within_text_scores_and_ablation(family_dirs):
    """What later features ask of the capture: within-text blocks, scores before the softmax, zeroed heads."""
    model = load_model(str(family_dirs["bert"]), device="cpu")
    item = model.encode(PAIR)
    got: dict[tuple[str, int], torch.Tensor] = {}

    def keep(index, block):
        got[(block.kind, block.layer)] = block.values.clone()

    model.run([item], keep, CaptureRequest(blocks=("pair", "a->a", "b->b", "a-rows")))
    n_a, n_b = len(item.a_spans), len(item.b_spans)
    assert got[("a->a", 0)].shape == (4, n_a, n_a) and got[("b->b", 1)].shape == (4, n_b, n_b)
    rows = got[("a-rows", 1)]
    assert rows.shape[1] == n_a and torch.allclose(rows.sum(-1), torch.ones(4, n_a))  # whole softmax rows
    got.clear()
    model.run([item], keep, CaptureRequest(blocks=("a-rows",), scores=True))
    scores = got[("a-rows", 0)]
    torch.testing.assert_close(torch.softmax(scores, -1), rows.new_tensor(model_rows(model, item, 0)))



def test_zeroed_heads_change_later_layers_only(minilm):
    """Ablation: zeroing layer 2's heads leaves layers 0-2 as they were and changes what layer 3 attends to."""
    item = minilm.encode(PAIR)

    def a_to_b(request=CaptureRequest()):
        blocks: dict[int, torch.Tensor] = {}
        minilm.run([item], lambda i, b: blocks.setdefault(b.layer, b.values.clone()), request)
        return blocks

    baseline, ablated = a_to_b(), a_to_b(CaptureRequest(zero_heads={2: list(range(12))}))
    one_head = a_to_b(CaptureRequest(zero_heads={2: [9]}))
    for layer in (0, 1, 2):
        torch.testing.assert_close(ablated[layer], baseline[layer])
    for layer in (3, 4, 5):
        assert (ablated[layer] - baseline[layer]).abs().max() > 0.05
    assert 0 < (one_head[3] - baseline[3]).abs().max() < (ablated[3] - baseline[3]).abs().max()


def model_rows(model, item, layer):
    """A's rows of layer ``layer`` by an independent eager run."""
    from transformers import AutoModel

    reference = AutoModel.from_pretrained(model.model.name_or_path, attn_implementation="eager").eval()
    inputs = {k: torch.tensor([v]) for k, v in item.inputs.items()}
    with torch.inference_mode():
        attentions = reference(**inputs, output_attentions=True).attentions
    return attentions[layer][0, :, item.a_positions, :].numpy()


def test_two_models_capture_independently(family_dirs):
    """The active capture is scoped: a model run inside another model's sink does not take its blocks."""
    bert = load_model(str(family_dirs["bert"]), device="cpu")
    gpt2 = load_model(str(family_dirs["gpt2"]), device="cpu")
    inner_blocks: list[int] = []
    outer_layers: list[int] = []

    def outer(index, block):
        outer_layers.append(block.layer)
        if block.layer == 0 and not inner_blocks:
            gpt2.run([gpt2.encode(PAIR)], lambda i, b: inner_blocks.append(b.layer))

    bert.run([bert.encode(PAIR)], outer)
    assert sorted(set(outer_layers)) == [0, 1] and len(outer_layers) == 4  # 2 layers x (a->b, b->a)
    assert inner_blocks == [0, 1]
    np.testing.assert_allclose(bert.features(PAIR).blocks.sum().item(), bert.features(PAIR).blocks.sum().item())


@pytest.mark.parametrize("model_type", DECODER)
def test_decoder_only_runs_each_a_window_once(model_type, family_dirs, monkeypatch):
    """``BOS A EOS`` comes before B and attends causally: its key/value states are computed once per A window and
    every B window runs on them; the features are those of whole passes, exactly."""
    import mia.models.prefix_cache as prefix_cache
    from mia.alignment.windowed import iter_window_features, plan_pair
    from mia.text.corpus import read_paragraphs

    model = load_model(str(family_dirs[model_type]), device="cpu")
    paragraphs = read_paragraphs()
    planned = plan_pair(model, Pair("long", " ".join(paragraphs[10:13]), " ".join(paragraphs[20:23])),
                        candidates="all")
    assert len(planned.a_windows) >= 2 and len(planned.b_windows) >= 2
    forward, states = type(model.model).forward, prefix_cache.cache_argument(model.model)
    passes = {"whole": 0, "on cached A": 0}

    def counting(self, *args, **kwargs):
        passes["whole" if kwargs.get(states) is None else "on cached A"] += 1
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model.model), "forward", counting)
    model.prefix_cache.clear()
    cached = [(i, j, features.blocks.clone()) for i, j, features in iter_window_features(planned, model)]
    assert passes == {"whole": len(planned.a_windows), "on cached A": len(planned.window_pairs)}
    monkeypatch.setattr(prefix_cache, "PREFIX_CACHE", 0)
    passes.update({"whole": 0, "on cached A": 0})
    plain = [(i, j, features.blocks.clone()) for i, j, features in iter_window_features(planned, model)]
    assert passes == {"whole": len(planned.window_pairs), "on cached A": 0}
    assert [(i, j) for i, j, _ in cached] == [(i, j) for i, j, _ in plain]
    for (_, _, with_cache), (_, _, without) in zip(cached, plain):
        assert torch.equal(with_cache, without)
