"""A text pair as model input, for each model architecture, from tokens made once per text.

A text is tokenised once (:func:`tokenize`: its token ids and character spans, no special tokens, special-token
strings in it treated as text). A pair's model input is then *assembled* from those ids by the model family's own
rule (:class:`Template`, read off the tokenizer once by probing it), never by tokenising again:

* encoder-only (``encoder``): A and B joined as one input pair (``[CLS] A [SEP] B [SEP]``, with the tokenizer's
  token types);
* encoder-decoder (``encoder-decoder``): B to the encoder, A to the decoder, each with its special tokens;
* decoder-only (``decoder``): one causal sequence ``[BOS] A SEP B``. The separator is the tokenizer's EOS token
  (GPT-2's ``<|endoftext|>``, Llama's ``</s>``), or a newline where the tokenizer has no EOS; BOS is prepended
  where the tokenizer defines one. A comes first, so B's tokens can attend to A's.

So a window of a long text is a range of its tokens (:meth:`TextTokens.part`), and whether a pair fits is known from
two lengths before anything is joined. Special tokens are never features. A pair longer than the model accepts
raises :class:`PairTooLong`: nothing is truncated.
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


@dataclass(frozen=True)
class TextTokens:
    """One text's tokens: ids int64 ``[n]`` and character spans ``[n, 2]`` into ``text`` (whitespace stripped)."""

    text: str
    ids: np.ndarray
    spans: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def part(self, start: int, end: int, char_start: int, char_end: int) -> TextTokens:
        """Tokens ``[start, end)`` as the tokens of the text ``text[char_start:char_end]`` (a window)."""
        return TextTokens(self.text[char_start:char_end], self.ids[start:end], self.spans[start:end] - char_start)


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


def unknown_cells(item: EncodedPair, unknown_id: int | None) -> np.ndarray | None:
    """Bool ``[n_a, n_b]``: the token pairs where a token is the tokenizer's unknown token and the two tokens' texts
    differ (None when neither text has one). Two different words that both became ``[UNK]`` are not the same text,
    whatever their attention says; the detector scores these cells 0."""
    if unknown_id is None:
        return None
    a_ids = np.asarray(item.inputs.get("decoder_input_ids", item.inputs["input_ids"]))[item.a_positions]
    b_ids = np.asarray(item.inputs["input_ids"])[item.b_positions]
    a_unknown, b_unknown = np.flatnonzero(a_ids == unknown_id), np.flatnonzero(b_ids == unknown_id)
    if not len(a_unknown) and not len(b_unknown):
        return None
    a_texts = np.array([item.pair.a[start:end] for start, end in item.a_spans.tolist()], dtype=object)
    b_texts = np.array([item.pair.b[start:end] for start, end in item.b_spans.tolist()], dtype=object)
    cells = np.zeros((len(a_texts), len(b_texts)), dtype=bool)
    for i in a_unknown:
        cells[i] |= b_texts != a_texts[i]
    for j in b_unknown:
        cells[:, j] |= a_texts != b_texts[j]
    return cells


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


def tokenize(tokenizer: Any, text: str) -> TextTokens:
    """The one tokenisation of a text: ids and spans, no special tokens. Text is text: a literal ``[SEP]``, ``<s>``
    or ``[PAD]`` in it is tokenised as characters, never as the special token (``split_special_tokens``)."""
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False, truncation=False, verbose=False,
                    split_special_tokens=True)
    return TextTokens(text, np.asarray(enc["input_ids"], dtype=np.int64).reshape(-1),
                      strip_spans(text, list(enc["offset_mapping"])))


def text_token_spans(tokenizer: Any, text: str) -> np.ndarray:
    """Character spans of the tokens of one text on its own (no special tokens), whitespace stripped: ``[n, 2]``."""
    return tokenize(tokenizer, text).spans


def causal_separator(tokenizer: Any) -> list[int]:
    """Token ids between A and B in a decoder-only sequence: EOS, else a newline."""
    if tokenizer.eos_token_id is not None:
        return [int(tokenizer.eos_token_id)]
    return list(tokenizer("\n", add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class Template:
    """Where a model family puts its special tokens (read off its tokenizer once by :func:`template_of`).

    Encoder-only: ``prefix A middle B suffix``, with a token type per part (``types``: prefix, A, middle, B, suffix;
    None when the tokenizer makes no token types). Encoder-decoder: ``prefix text suffix`` on each side. Decoder-only:
    ``prefix A middle B`` (prefix: BOS or nothing, middle: the separator)."""

    architecture: Architecture
    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    types: tuple[int, int, int, int, int] | None = None

    @property
    def special(self) -> int:
        """Special tokens the input adds: on the one sequence, or on each side for encoder-decoder models."""
        if self.architecture == "encoder-decoder":
            return len(self.prefix) + len(self.suffix)
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def length(self, n_a: int, n_b: int) -> int:
        """The input length of a pair of ``n_a`` and ``n_b`` tokens (the longer side for encoder-decoder models)."""
        if self.architecture == "encoder-decoder":
            return max(n_a, n_b) + self.special
        return n_a + n_b + self.special


def template_of(tokenizer: Any, architecture: Architecture) -> Template:
    """Probe the tokenizer once for where its special tokens go (content tokens are those it marks as not special)."""
    if architecture == "decoder":
        bos = () if tokenizer.bos_token_id is None else (int(tokenizer.bos_token_id),)
        return Template(architecture, bos, tuple(causal_separator(tokenizer)), ())
    if architecture == "encoder-decoder":
        enc = tokenizer("probe", return_special_tokens_mask=True, truncation=False, verbose=False)
        ids, special = list(enc["input_ids"]), list(enc["special_tokens_mask"])
        content = [i for i, flag in enumerate(special) if not flag]
        if not content:
            raise MiaError("the tokenizer marks every token of a probe text as special; mia cannot place a text in it")
        return Template(architecture, tuple(ids[: content[0]]), (), tuple(ids[content[-1] + 1 :]))
    enc = tokenizer("probe", "probe", truncation=False, verbose=False)
    ids, sequence = list(enc["input_ids"]), enc.sequence_ids(0)
    a = [i for i, s in enumerate(sequence) if s == 0]
    b = [i for i, s in enumerate(sequence) if s == 1]
    if not a or not b or a[-1] - a[0] + 1 != len(a) or b[-1] - b[0] + 1 != len(b) or a[-1] > b[0]:
        raise MiaError("the tokenizer interleaves the two texts; mia needs each text as one run of tokens")
    types: tuple[int, int, int, int, int] | None = None
    if "token_type_ids" in enc:
        tt = list(enc["token_type_ids"])
        parts = [tt[: a[0]], tt[a[0] : a[-1] + 1], tt[a[-1] + 1 : b[0]], tt[b[0] : b[-1] + 1], tt[b[-1] + 1 :]]
        if any(len(set(part)) > 1 for part in parts):
            raise MiaError("the tokenizer gives one part of a pair several token types; mia cannot assemble it")
        first = [int(part[0]) if part else int(tt[0]) for part in parts]
        types = (first[0], first[1], first[2], first[3], first[4])
    return Template(architecture, tuple(ids[: a[0]]), tuple(ids[a[-1] + 1 : b[0]]), tuple(ids[b[-1] + 1 :]), types)


def assemble(template: Template, pair: Pair, a: TextTokens, b: TextTokens, *, max_length: int,
             name: str) -> EncodedPair:
    """The model input of ``pair`` from its texts' tokens ``a`` and ``b`` (no tokenising); :class:`PairTooLong` if
    it does not fit."""
    n_a, n_b = len(a), len(b)
    if template.length(n_a, n_b) > max_length:
        raise too_long(pair, n_a, n_b, name=name, max_length=max_length,
                       joined=None if template.architecture == "encoder-decoder" else template.length(n_a, n_b))
    a_ids, b_ids = a.ids.tolist(), b.ids.tolist()
    pre, mid, suf = list(template.prefix), list(template.middle), list(template.suffix)
    if template.architecture == "encoder-decoder":
        encoder, decoder = pre + b_ids + suf, pre + a_ids + suf
        inputs = {"input_ids": encoder, "attention_mask": [1] * len(encoder), "decoder_input_ids": decoder,
                  "decoder_attention_mask": [1] * len(decoder)}
        a_positions, b_positions = slice(len(pre), len(pre) + n_a), slice(len(pre), len(pre) + n_b)
    else:
        ids = pre + a_ids + mid + b_ids + suf
        inputs = {"input_ids": ids}
        if template.types is not None:
            sizes = (len(pre), n_a, len(mid), n_b, len(suf))
            inputs["token_type_ids"] = [t for t, size in zip(template.types, sizes) for _ in range(size)]
        inputs["attention_mask"] = [1] * len(ids)
        b_start = len(pre) + n_a + len(mid)
        a_positions, b_positions = slice(len(pre), len(pre) + n_a), slice(b_start, b_start + n_b)
    return EncodedPair(pair=pair, inputs=inputs, a_positions=a_positions, b_positions=b_positions,
                       a_spans=a.spans, b_spans=b.spans)


@dataclass(frozen=True)
class SingleTemplate:
    """The special tokens a tokenizer puts around one text alone: ``prefix + ids + suffix`` (for embeddings)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    def wrap(self, ids: Sequence[int]) -> list[int]:
        return [*self.prefix, *ids, *self.suffix]


def single_template(tokenizer: Any) -> SingleTemplate:
    """Read the tokenizer's special tokens for one text off a probe."""
    enc = tokenizer("probe", return_special_tokens_mask=True, truncation=False, verbose=False)
    ids, special = list(enc["input_ids"]), list(enc["special_tokens_mask"])
    content = [i for i, flag in enumerate(special) if not flag]
    if not content:
        raise MiaError("the tokenizer marks every token of a probe text as special; mia cannot place a text in it")
    return SingleTemplate(tuple(ids[: content[0]]), tuple(ids[content[-1] + 1 :]))


def too_long(pair: Pair, n_a: int, n_b: int, *, name: str, max_length: int, joined: int | None) -> PairTooLong:
    if joined is None:
        what = f"each text may have at most {max_length} tokens with special tokens"
    else:
        what = f"{joined} tokens joined with special tokens, the limit is {max_length}"
    return PairTooLong(
        f"pair {pair.id!r} is too long for {name}: A has {n_a} tokens and B has {n_b} tokens ({what}); split the "
        "texts into shorter pieces"
    )


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


def window_sizes(template: Template, max_length: int) -> tuple[int, int]:
    """Tokens per window of A and of B, from the model's limit alone.

    Encoder-only and decoder-only models share one sequence between the two windows (less the special tokens and
    the separator), split evenly; encoder-decoder models have the limit on each side (less its special tokens).
    """
    room = max_length - template.special
    if template.architecture == "encoder-decoder":
        return room, room
    if room < 2:
        raise MiaError(f"the model's limit of {max_length} tokens leaves no room for two windows")
    return room // 2, room - room // 2
