"""Tiny randomly initialised models of every family mia reads, with tokenizers trained here (no download).

``build(model_type, folder)`` saves a 2-layer model and a fast tokenizer to ``folder``, loadable like any local
model. Sizes are small enough that each builds and loads in well under a second.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from mia.text.corpus import read_paragraphs

SPECIALS_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SPECIALS_BPE = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
WORDPIECE = ("bert", "distilbert", "electra", "albert", "mpnet")
ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert")
ENCODER_DECODER = ("bart", "mbart", "pegasus", "marian")
DECODER = ("gpt2", "llama", "qwen2", "gpt_neox")
ALL_TYPES = WORDPIECE + ROBERTA_LIKE + ENCODER_DECODER + DECODER


@lru_cache(maxsize=None)
def _texts() -> tuple[str, ...]:
    return tuple(read_paragraphs()[:150])


def _wordpiece() -> Any:
    from tokenizers import BertWordPieceTokenizer
    from tokenizers.processors import BertProcessing

    tokenizer = BertWordPieceTokenizer(lowercase=True)
    tokenizer.train_from_iterator(_texts(), vocab_size=500, min_frequency=2, special_tokens=SPECIALS_BERT)
    tokenizer.post_processor = BertProcessing(("[SEP]", tokenizer.token_to_id("[SEP]")),
                                              ("[CLS]", tokenizer.token_to_id("[CLS]")))
    return tokenizer


def _byte_bpe(processing: bool) -> Any:
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(_texts(), vocab_size=600, min_frequency=2, special_tokens=SPECIALS_BPE)
    if processing:
        tokenizer.post_processor = RobertaProcessing(("</s>", tokenizer.token_to_id("</s>")),
                                                     ("<s>", tokenizer.token_to_id("<s>")), trim_offsets=True)
    return tokenizer


def _tokenizer(model_type: str) -> tuple[Any, int]:
    from transformers import PreTrainedTokenizerFast

    if model_type in WORDPIECE:
        raw = _wordpiece()
        names = ["input_ids", "attention_mask"] if model_type == "distilbert" else \
            ["input_ids", "token_type_ids", "attention_mask"]
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]",
                                            cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                            model_input_names=names, model_max_length=128)
    else:
        raw = _byte_bpe(processing=model_type not in DECODER)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>",
                                            pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
                                            model_input_names=["input_ids", "attention_mask"], model_max_length=128)
    return tokenizer, raw.get_vocab_size()


def _config(model_type: str, vocab: int) -> Any:
    import transformers as tf

    encoder = {"vocab_size": vocab, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
               "intermediate_size": 64, "max_position_embeddings": 130}
    seq2seq = {"vocab_size": vocab, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
               "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64,
               "decoder_ffn_dim": 64, "max_position_embeddings": 128, "pad_token_id": 1, "bos_token_id": 0,
               "eos_token_id": 2, "decoder_start_token_id": 2}
    decoder = {"vocab_size": vocab, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
               "intermediate_size": 64, "max_position_embeddings": 128, "bos_token_id": 0, "eos_token_id": 2,
               "pad_token_id": 1}
    configs = {
        "bert": lambda: tf.BertConfig(**encoder),
        "electra": lambda: tf.ElectraConfig(**encoder, embedding_size=16),
        "albert": lambda: tf.AlbertConfig(**encoder, embedding_size=16),
        "mpnet": lambda: tf.MPNetConfig(**encoder),
        "distilbert": lambda: tf.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                                  max_position_embeddings=128),
        "roberta": lambda: tf.RobertaConfig(**encoder, pad_token_id=1, type_vocab_size=1),
        "xlm-roberta": lambda: tf.XLMRobertaConfig(**encoder, pad_token_id=1, type_vocab_size=1),
        "camembert": lambda: tf.CamembertConfig(**encoder, pad_token_id=1, type_vocab_size=1),
        "bart": lambda: tf.BartConfig(**seq2seq),
        "mbart": lambda: tf.MBartConfig(**seq2seq),
        "pegasus": lambda: tf.PegasusConfig(**seq2seq),
        "marian": lambda: tf.MarianConfig(**seq2seq),
        "gpt2": lambda: tf.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                      bos_token_id=0, eos_token_id=2),
        "llama": lambda: tf.LlamaConfig(**decoder, num_key_value_heads=2),  # grouped-query attention
        "qwen2": lambda: tf.Qwen2Config(**decoder, num_key_value_heads=2),
        "gpt_neox": lambda: tf.GPTNeoXConfig(**decoder),
    }
    return configs[model_type]()


def build(model_type: str, folder: Path, *, seed: int = 0) -> Path:
    """Save a tiny random ``model_type`` model and its tokenizer to ``folder``; returns ``folder``."""
    import torch
    from transformers import AutoModel

    tokenizer, vocab = _tokenizer(model_type)
    torch.manual_seed(seed)
    AutoModel.from_config(_config(model_type, vocab)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
