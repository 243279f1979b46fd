"""Shared fixtures: the packaged MiniLM, a tiny random BART built here, and a small trained detector."""

from __future__ import annotations

from pathlib import Path

import pytest

from mia.models.attention import AttentionModel, load_model
from mia.text.corpus import read_paragraphs
from mia.text.pairs import Pair, generate_pairs


@pytest.fixture(scope="session")
def minilm() -> AttentionModel:
    return load_model("minilm", device="cpu")


@pytest.fixture(scope="session")
def small_pairs() -> list[Pair]:
    """40 shuffled-copy pairs from the packaged corpus."""
    pairs, _ = generate_pairs(read_paragraphs(), seed=0, limit=40)
    return pairs


def build_tiny_bart(directory: Path, *, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BART with a byte-level BPE tokenizer trained on the packaged corpus."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import BartConfig, BartModel, PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(read_paragraphs()[:200], vocab_size=600, min_frequency=2, special_tokens=specials)
    bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")),
                                           trim_offsets=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        mask_token="<mask>", model_max_length=256,
    )
    config = BartConfig(
        vocab_size=bpe.get_vocab_size(), d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=256, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )
    torch.manual_seed(seed)
    BartModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_bart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bart(tmp_path_factory.mktemp("tiny-bart"))


@pytest.fixture(scope="session")
def tiny_bart(tiny_bart_dir: Path) -> AttentionModel:
    return load_model(str(tiny_bart_dir), device="cpu")


@pytest.fixture(scope="session")
def trained_detector_dir(tmp_path_factory: pytest.TempPathFactory, minilm: AttentionModel,
                         small_pairs: list[Pair]) -> Path:
    """A MiniLM detector trained on 40 packaged-corpus pairs, saved to a temporary directory."""
    from mia.detector.training import TrainOptions
    from mia.models.layout import PAIR_ONLY
    from mia.workflow import train_detector

    detector = train_detector(minilm, small_pairs, TrainOptions(seed=0, offsets=PAIR_ONLY))
    return detector.save(tmp_path_factory.mktemp("detector") / "minilm-test")
