"""Tokenising a text pair for each model architecture, with character spans of the content tokens.

* encoder-only (``encoder``): A and B joined as one input pair by the tokenizer (``[CLS] A [SEP] B [SEP]``);
* encoder-decoder (``encoder-decoder``): B to the encoder, A to the decoder, each with its special tokens;
* decoder-only (``decoder``): one causal sequence ``[BOS] A SEP B``. The separator is the tokenizer's EOS token
  (GPT-2's ``<|endoftext|>``, Llama's ``</s>``), or a newline where the tokenizer has no EOS; BOS is prepended
  where the tokenizer defines one. A comes first, so B's tokens can attend to A's.

Special tokens are never features. A pair longer than the model accepts raises :class:`PairTooLong`: nothing is
truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mia.errors import MiaError
from mia.text.pairs import Pair

Architecture = Literal["encoder", "encoder-decoder", "decoder"]


class PairTooLong(MiaError):
    """A pair that does not fit the model's length limit (it is never truncated)."""


@dataclass
class EncodedPair:
    """A pair tokenised for a model: checked to fit, ready to run.

    ``a_positions``/``b_positions``: where A's and B's content tokens sit in the model input (the decoder input for
    A and the encoder input for B in encoder-decoder models, else the one joined sequence). ``a_spans``
    ``[n_a, 2]`` and ``b_spans`` ``[n_b, 2]``: their character spans, whitespace stripped.
    """

    pair: Pair
    inputs: dict[str, list[int]]
    a_positions: slice
    b_positions: slice
    a_spans: np.ndarray
    b_spans: np.ndarray


def encode_pair(tokenizer: Any, architecture: Architecture, pair: Pair, *, max_length: int, name: str) -> EncodedPair:
    """Tokenise ``pair`` for a model of ``architecture``; raise :class:`PairTooLong` if it does not fit."""
    if architecture == "encoder":
        return _encode_joined(tokenizer, pair, max_length=max_length, name=name)
    if architecture == "encoder-decoder":
        return _encode_separate(tokenizer, pair, max_length=max_length, name=name)
    return _encode_causal(tokenizer, pair, max_length=max_length, name=name)


def _encode_joined(tokenizer: Any, pair: Pair, *, max_length: int, name: str) -> EncodedPair:
    enc = tokenizer(pair.a, pair.b, return_offsets_mapping=True, truncation=False, verbose=False)
    sequence_ids = enc.sequence_ids(0)
    a_pos = [i for i, s in enumerate(sequence_ids) if s == 0]
    b_pos = [i for i, s in enumerate(sequence_ids) if s == 1]
    if len(enc["input_ids"]) > max_length:
        raise too_long(pair, len(a_pos), len(b_pos), name=name, max_length=max_length, joined=len(enc["input_ids"]))
    offsets = enc["offset_mapping"]
    return EncodedPair(
        pair=pair,
        inputs={k: list(v) for k, v in enc.items() if k != "offset_mapping"},
        a_positions=contiguous(a_pos),
        b_positions=contiguous(b_pos),
        a_spans=strip_spans(pair.a, [offsets[i] for i in a_pos]),
        b_spans=strip_spans(pair.b, [offsets[i] for i in b_pos]),
    )


def _encode_one(tokenizer: Any, text: str, *, special: bool = True) -> Any:
    return tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True, truncation=False,
                     verbose=False, add_special_tokens=special)


def _encode_separate(tokenizer: Any, pair: Pair, *, max_length: int, name: str) -> EncodedPair:
    a_enc, b_enc = _encode_one(tokenizer, pair.a), _encode_one(tokenizer, pair.b)
    a_pos = [i for i, special in enumerate(a_enc["special_tokens_mask"]) if not special]
    b_pos = [i for i, special in enumerate(b_enc["special_tokens_mask"]) if not special]
    if max(len(a_enc["input_ids"]), len(b_enc["input_ids"])) > max_length:
        raise too_long(pair, len(a_pos), len(b_pos), name=name, max_length=max_length, joined=None)
    return EncodedPair(
        pair=pair,
        inputs={
            "input_ids": list(b_enc["input_ids"]),
            "attention_mask": list(b_enc["attention_mask"]),
            "decoder_input_ids": list(a_enc["input_ids"]),
            "decoder_attention_mask": list(a_enc["attention_mask"]),
        },
        a_positions=contiguous(a_pos),
        b_positions=contiguous(b_pos),
        a_spans=strip_spans(pair.a, [a_enc["offset_mapping"][i] for i in a_pos]),
        b_spans=strip_spans(pair.b, [b_enc["offset_mapping"][i] for i in b_pos]),
    )


def causal_separator(tokenizer: Any) -> list[int]:
    """Token ids between A and B in a decoder-only sequence: EOS, else a newline."""
    if tokenizer.eos_token_id is not None:
        return [int(tokenizer.eos_token_id)]
    return list(tokenizer("\n", add_special_tokens=False)["input_ids"])


def _encode_causal(tokenizer: Any, pair: Pair, *, max_length: int, name: str) -> EncodedPair:
    a_enc = _encode_one(tokenizer, pair.a, special=False)
    b_enc = _encode_one(tokenizer, pair.b, special=False)
    bos = [int(tokenizer.bos_token_id)] if tokenizer.bos_token_id is not None else []
    separator = causal_separator(tokenizer)
    a_ids, b_ids = list(a_enc["input_ids"]), list(b_enc["input_ids"])
    ids = bos + a_ids + separator + b_ids
    if len(ids) > max_length:
        raise too_long(pair, len(a_ids), len(b_ids), name=name, max_length=max_length, joined=len(ids))
    a_start = len(bos)
    b_start = a_start + len(a_ids) + len(separator)
    return EncodedPair(
        pair=pair,
        inputs={"input_ids": ids, "attention_mask": [1] * len(ids)},
        a_positions=slice(a_start, a_start + len(a_ids)),
        b_positions=slice(b_start, b_start + len(b_ids)),
        a_spans=strip_spans(pair.a, list(a_enc["offset_mapping"])),
        b_spans=strip_spans(pair.b, list(b_enc["offset_mapping"])),
    )


def too_long(pair: Pair, n_a: int, n_b: int, *, name: str, max_length: int, joined: int | None) -> PairTooLong:
    if joined is None:
        what = f"each text may have at most {max_length} tokens with special tokens"
    else:
        what = f"{joined} tokens joined with special tokens, the limit is {max_length}"
    return PairTooLong(
        f"pair {pair.id!r} is too long for {name}: A has {n_a} tokens and B has {n_b} tokens ({what}); split the "
        "texts into shorter pieces"
    )


def contiguous(positions: list[int]) -> slice:
    if not positions:
        return slice(0, 0)
    if positions[-1] - positions[0] + 1 != len(positions):
        raise MiaError("the tokenizer interleaves the two texts; mia needs each text as one run of tokens")
    return slice(positions[0], positions[-1] + 1)


def strip_spans(text: str, offsets: Sequence[Sequence[int]]) -> np.ndarray:
    """Character spans with leading/trailing whitespace removed, int ``[n, 2]``."""
    spans = np.zeros((len(offsets), 2), dtype=np.int64)
    for index, (start, end) in enumerate(offsets):
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        spans[index] = (start, end)
    return spans


def pad_inputs(items: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch of model inputs to one length; returns long tensors."""
    import torch

    padded = {}
    for key in items[0]:
        length = max(len(item[key]) for item in items)
        fill = pad_id if key.endswith("input_ids") else 0
        rows = [item[key] + [fill] * (length - len(item[key])) for item in items]
        padded[key] = torch.tensor(rows, dtype=torch.long)
    return padded


def text_token_spans(tokenizer: Any, text: str) -> np.ndarray:
    """Character spans of the tokens of one text on its own (no special tokens), whitespace stripped: ``[n, 2]``."""
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False, truncation=False, verbose=False)
    return strip_spans(text, list(enc["offset_mapping"]))


def window_sizes(tokenizer: Any, architecture: Architecture, max_length: int) -> tuple[int, int]:
    """Tokens per window of A and of B, from the model's limit alone.

    Encoder-only and decoder-only models share one sequence between the two windows (less the special tokens and
    the separator), split evenly; encoder-decoder models have the limit on each side (less its special tokens).
    """
    if architecture == "encoder-decoder":
        side = max_length - tokenizer.num_special_tokens_to_add(pair=False)
        return side, side
    if architecture == "encoder":
        shared = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    else:
        shared = max_length - len(causal_separator(tokenizer)) - (tokenizer.bos_token_id is not None)
    if shared < 2:
        raise MiaError(f"the model's limit of {max_length} tokens leaves no room for two windows")
    return shared // 2, shared - shared // 2
