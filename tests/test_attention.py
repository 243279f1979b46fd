import numpy as np
import pytest
import torch

from mia.errors import MiaError
from mia.models.attention import load_model
from mia.models.loading import resolve_model_name
from mia.text.pairs import Pair


def eager_reference(path):
    """The same weights loaded independently, with transformers' own eager attention."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(path, attn_implementation="eager").eval()


PAIR = Pair("x", "The dog ran home. A cat sat on the mat.", "A cat sat on the mat. The dog ran home.")


def test_encoder_features_match_output_attentions(minilm):
    features = minilm.features(PAIR)
    enc = minilm.tokenizer(PAIR.a, PAIR.b, return_tensors="pt")
    with torch.inference_mode():
        attentions = eager_reference(resolve_model_name("minilm"))(**enc, output_attentions=True).attentions
    seq = enc.sequence_ids(0)
    a_pos = [i for i, s in enumerate(seq) if s == 0]
    b_pos = [i for i, s in enumerate(seq) if s == 1]
    layout = minilm.layout
    assert features.features.shape == (len(a_pos), len(b_pos), 144)
    assert features.features.dtype == np.float16
    rng = np.random.default_rng(0)
    for _ in range(20):
        i, j = rng.integers(len(a_pos)), rng.integers(len(b_pos))
        layer, head = rng.integers(layout.layers), rng.integers(layout.heads)
        a_to_b = attentions[layer][0, head, a_pos[i], b_pos[j]].item()
        b_to_a = attentions[layer][0, head, b_pos[j], a_pos[i]].item()
        k = layer * layout.heads + head
        assert features.features[i, j, k] == pytest.approx(a_to_b, abs=1e-3)
        assert features.features[i, j, layout.layers * layout.heads + k] == pytest.approx(b_to_a, abs=1e-3)
        assert layout.head_of(k) == ("a->b", layer, head, (0, 0))


def test_special_tokens_are_left_out(minilm):
    item = minilm.encode(PAIR)
    ids = item.inputs["input_ids"]
    tokenizer = minilm.tokenizer
    alone_a = tokenizer(PAIR.a, add_special_tokens=False)["input_ids"]
    alone_b = tokenizer(PAIR.b, add_special_tokens=False)["input_ids"]
    # [CLS] A [SEP] B [SEP]: the content positions hold exactly each text's own tokens, no special token
    assert ids[item.a_positions] == alone_a and ids[item.b_positions] == alone_b
    assert len(ids) == len(alone_a) + len(alone_b) + 3
    specials = set(tokenizer.all_special_ids)
    assert not specials & set(ids[item.a_positions] + ids[item.b_positions])
    assert [ids[0], ids[item.a_positions.stop], ids[-1]] == [tokenizer.cls_token_id, tokenizer.sep_token_id,
                                                             tokenizer.sep_token_id]
    features = minilm.features(PAIR)
    assert features.shape == (len(alone_a), len(alone_b))


def test_batched_features_equal_single(minilm):
    short = Pair("s", "A cat.", "The cat sat down on the mat today.")
    single = [minilm.features(p).features for p in (PAIR, short)]
    batched = [f.features for f in minilm.iter_features([PAIR, short], batch_size=2)]
    for one, many in zip(single, batched):
        assert one.shape == many.shape
        np.testing.assert_allclose(one.astype(np.float32), many.astype(np.float32), atol=2e-3)


def test_reused_attention_buffers_give_the_same_values(minilm, tiny_bart):
    """Eager attention written into a model's reused buffers gives the features and the scores before the softmax
    of fresh tensors, bit for bit (pairs of two lengths, one at a time and as a padded batch; encoder-only and
    cross-attention); the storage is kept from pass to pass; a pass that finds the buffers held allocates."""
    from mia.models.blocks import CaptureRequest

    pairs = [PAIR, Pair("s", "A cat.", "The cat sat down on the mat today.")]

    def read(model, batch_size):
        features = [f.blocks.clone() for f in model.iter_features(pairs, batch_size=batch_size)]
        scores = []
        model.run([model.encode(PAIR)], lambda index, block: scores.append(block.values.clone()),
                  CaptureRequest(scores=True))
        return features + scores

    for model in (minilm, tiny_bart):
        for batch_size in (1, 2):
            reused = read(model, batch_size)
            storage = model.attention_buffers.slots[1]
            assert storage is not None
            kept = storage.data_ptr()
            read(model, batch_size)
            assert model.attention_buffers.slots[1].data_ptr() == kept
            with model.attention_buffers.claimed() as held:  # held here: the passes below allocate as before
                assert held is not None
                fresh = read(model, batch_size)
            assert len(fresh) == len(reused) > len(pairs)
            for one, other in zip(reused, fresh):
                assert torch.equal(one, other)


def test_fast_capture_is_used_and_equals_the_generic_path(minilm, tiny_bart):
    from mia.models.attention import AttentionModel

    for model in (minilm, tiny_bart):
        assert model.fast
        generic = AttentionModel(model.name, model.model, model.tokenizer, device="cpu", capture_attention=False)
        assert not generic.fast and model.model.config._attn_implementation == "eager"
        slow = generic.features(PAIR).blocks
        fast = model.features(PAIR).blocks  # takes its own implementation back
        assert model.model.config._attn_implementation == "mia_capture"
        torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)


def test_too_long_pair_names_lengths_and_limit(minilm):
    long_text = "word " * 400
    with pytest.raises(MiaError, match=r"A has 400 tokens and B has 400 tokens .*limit is 512"):
        minilm.features(Pair("long", long_text, long_text))


def test_bart_cross_attention_features(tiny_bart, tiny_bart_dir):
    features = tiny_bart.features(PAIR)
    tok = tiny_bart.tokenizer
    dec, enc = tok(PAIR.a, return_tensors="pt"), tok(PAIR.b, return_tensors="pt")
    with torch.inference_mode():
        out = eager_reference(tiny_bart_dir)(input_ids=enc["input_ids"], decoder_input_ids=dec["input_ids"],
                                             output_attentions=True)
    assert tiny_bart.architecture == "encoder-decoder"
    n_a, n_b = dec["input_ids"].shape[1] - 2, enc["input_ids"].shape[1] - 2  # <s> ... </s> left out
    assert features.features.shape == (n_a, n_b, 2 * 4)
    for layer in range(2):
        for head in range(4):
            expected = out.cross_attentions[layer][0, head, 1:-1, 1:-1].numpy()
            np.testing.assert_allclose(features.features[:, :, layer * 4 + head], expected, atol=1e-3)


def test_unsupported_architecture_is_refused(tmp_path):
    from transformers import T5Config, T5Model

    T5Model(T5Config(num_layers=1, num_heads=2, d_model=8, d_kv=4, d_ff=8, vocab_size=50)).save_pretrained(tmp_path)
    with pytest.raises(MiaError, match=r"'t5' .*not supported.*bart.*bert.*gpt2"):
        load_model(str(tmp_path), device="cpu")


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(MiaError, match="could not load model"):
        load_model(str(tmp_path / "missing"), device="cpu")
