"""Attention features: for every token pair (a_i, b_j) of a text pair, the attention weight of every head.

:class:`AttentionModel` encodes pairs (:mod:`mia.models.encoding`) and streams, for each pair of a batch, the
feature blocks of every layer to a sink while the model runs (:mod:`mia.models.capture`): the A->B and B->A
blocks of encoder-only models, the cross-attention block of encoder-decoder models, the B->A block of
decoder-only models (:mod:`mia.models.layout`). A sink may also ask (:class:`CaptureRequest`) for within-text
blocks, whole attention rows, the scores before the softmax, or for chosen heads' outputs to be zeroed.
What a sink does with the blocks (copy them into features, add a detector's weighted sums) is not this
module's business.

Where a family's transformers code does not call the attention interface (MPNet computes its own softmax), or
the fast path does not match eager attention on a probe pair, mia reads ``output_attentions`` instead (slower,
and without scores or ablation) and says so once.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from mia.errors import MiaError
from mia.models import capture
from mia.models.blocks import FEATURES, Block, BlockKind, BlockSink, CaptureRequest, PairFeatures, SideReader
from mia.models.embedding_cache import EmbeddingCache
from mia.models.encoding import (
    Architecture,
    EncodedPair,
    SingleTemplate,
    TextTokens,
    assemble,
    pad_inputs,
    single_template,
    template_of,
    tokenize,
    window_sizes,
)
from mia.models.layout import FeatureLayout
from mia.models.loading import (
    DEFAULT_MODEL,
    architecture_of,
    fingerprint,
    layers_and_heads,
    load_pretrained,
    max_length,
)
from mia.models.prefix_cache import PrefixCache, cut_back
from mia.text.pairs import Pair

ENCODER_CACHE = 64  # encoder states kept (per distinct B input); bart-large: about 1 MB per 256 tokens
DIRECTIONS_OF: dict[str, tuple[str, ...]] = {
    "encoder": ("a->b", "b->a"), "encoder-decoder": ("cross",), "decoder": ("b->a",),
}


class SlowPathNotice(UserWarning):
    """A model family runs on the slow ``output_attentions`` path (said once per model type)."""


class AttentionModel:
    """A Hugging Face model loaded for attention features. Use :func:`load_model` to make one.

    ``fast`` tells whether attention is captured while the model runs (True for every family whose code calls
    transformers' attention interface) or read from ``output_attentions``.

    **mia takes the model over**: a model handed in here has its attention implementation switched to mia's
    capture (or to eager attention on the slow path) and keeps it; it is not restored. Hand in a model you use only
    through mia, or load one with :func:`load_model`.
    """

    def __init__(self, name: str, model: Any, tokenizer: Any, *, device: str, capture_attention: bool = True) -> None:
        config = model.config
        self.model_type: str = getattr(config, "model_type", "?")
        self.architecture: Architecture = architecture_of(self.model_type, name)
        if not getattr(tokenizer, "is_fast", False):
            raise MiaError(
                f"{name}: mia needs a fast tokenizer (tokenizer.json) for character offsets, and this model has "
                "only a slow one (as real Marian checkpoints do); convert it with transformers and save it"
            )
        layers, heads = layers_and_heads(config, self.architecture)
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.layout = FeatureLayout(layers=layers, heads=heads, directions=DIRECTIONS_OF[self.architecture])
        self.revision: str | None = getattr(config, "_commit_hash", None)
        self.max_length = max_length(model, tokenizer)
        self.template = template_of(tokenizer, self.architecture)  # where the special tokens go, probed once
        self.single: SingleTemplate = single_template(tokenizer)  # around one text alone (embeddings)
        self.sentence_embeddings = EmbeddingCache()  # a document compared with several others is embedded once
        self.encoder_cache: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # encoder-decoder: B inputs encoded
        # decoder-only: BOS A EOS run once per A input (mia.models.prefix_cache)
        self.prefix_cache = PrefixCache(model, device) if self.architecture == "decoder" else None
        self.attention_buffers = capture.AttentionBuffers()  # eager attention's temporaries, reused by every pass
        self.fingerprint = fingerprint(model)
        self._layer_of: dict[int, tuple[int, ...]] | None = self._find_attention_layers() if capture_attention else None
        if self._layer_of is None:
            model.set_attn_implementation("eager")

    def attention_modules(self) -> list[Any]:
        """The attention module of each captured layer, in layer order (empty on the slow path)."""
        if self._layer_of is None:
            return []
        by_layer: dict[int, Any] = {}
        for module in self.model.modules():
            for layer in self._layer_of.get(id(module), ()):
                by_layer[layer] = module
        return [by_layer[layer] for layer in sorted(by_layer)]

    @property
    def fast(self) -> bool:
        return self._layer_of is not None

    def __repr__(self) -> str:
        return (
            f"AttentionModel({self.name!r}, {self.architecture}, {self.layout.layers} layers x "
            f"{self.layout.heads} heads, {self.layout.n_features} features, device={self.device!r}, "
            f"{'fast' if self.fast else 'slow'} path)"
        )

    # --- finding the attention modules -------------------------------------------------------------------

    def _find_attention_layers(self) -> dict[int, tuple[int, ...]] | None:
        """Map the modules whose attention is read to their layer, by the calls they make on a probe pair, and
        check the fast path against eager attention on it; None (slow path, with a notice) otherwise."""
        capture.register()
        probe = Pair("probe", "The cat sat.", "A cat sat down on the mat in the sun today.")
        item = self.encode(probe)
        self.model.set_attn_implementation(capture.CAPTURE_IMPLEMENTATION)
        calls = capture.discover_calls(self.model, self._inputs([item]))
        if self.architecture == "encoder-decoder":
            n_a, n_b = len(item.inputs["decoder_input_ids"]), len(item.inputs["input_ids"])
            calls = [c for c in calls if (c.queries, c.keys) == (n_a, n_b)]
        layers_of: dict[int, tuple[int, ...]] = {}
        for layer, call in enumerate(calls):  # a module shared by several layers (ALBERT) gets each in turn
            layers_of[id(call.module)] = (*layers_of.get(id(call.module), ()), layer)
        reason = None
        if len(calls) != self.layout.layers:
            reason = "its code does not call transformers' attention interface for every layer"
        else:
            self._layer_of = layers_of
            fast = next(self.iter_features([item])).blocks
            self._layer_of = None
            self.model.set_attn_implementation("eager")
            slow = next(self.iter_features([item])).blocks
            if fast.shape != slow.shape or (fast - slow).abs().max().item() > 1e-4:
                reason = "the fast path does not match eager attention on a probe pair"
        if reason is not None:
            self.model.set_attn_implementation("eager")
            notice_slow_path(self.model_type, reason)
            return None
        self.model.set_attn_implementation(capture.CAPTURE_IMPLEMENTATION)
        return layers_of

    # --- encoding -----------------------------------------------------------------------------------------

    def tokens(self, text: str) -> TextTokens:
        """The one tokenisation of a text (ids and character spans, no special tokens)."""
        return tokenize(self.tokenizer, text)

    def fits(self, n_a: int, n_b: int) -> bool:
        """Whether a pair of ``n_a`` and ``n_b`` tokens fits the model whole."""
        return self.template.length(n_a, n_b) <= self.max_length

    def window_sizes(self) -> tuple[int, int]:
        """Tokens per window of A and of B for texts longer than the model (:mod:`mia.text.windows`)."""
        return window_sizes(self.template, self.max_length)

    def assemble(self, pair: Pair, a: TextTokens, b: TextTokens) -> EncodedPair:
        """The model input of ``pair`` from its texts' tokens, with no tokenising; raise
        :class:`~mia.models.encoding.PairTooLong` if it does not fit."""
        return assemble(self.template, pair, a, b, max_length=self.max_length, name=self.name)

    def encode(self, pair: Pair) -> EncodedPair:
        """Tokenise a pair (each text once); raise :class:`~mia.models.encoding.PairTooLong` if it does not fit."""
        return self.assemble(pair, self.tokens(pair.a), self.tokens(pair.b))

    def _inputs(self, batch: Sequence[EncodedPair]) -> dict[str, Any]:
        """Keyword arguments of one forward pass: the padded inputs on the device (and no key/value cache)."""
        inputs: dict[str, Any] = {
            k: v.to(self.device) for k, v in pad_inputs([item.inputs for item in batch], self._pad_id).items()
        }
        if self.architecture != "encoder":
            inputs["use_cache"] = False
        if self.architecture == "encoder-decoder" and len(batch) == 1:
            inputs["encoder_outputs"] = (self._encoder_states(inputs["input_ids"], inputs["attention_mask"]),)
            del inputs["input_ids"]
        return inputs

    def _encoder_states(self, input_ids: Any, attention_mask: Any) -> Any:
        """The encoder's last hidden states of one input, computed once per distinct input (an encoder-decoder
        model reads B in the encoder: each B window is encoded once however many A windows it meets)."""
        import torch

        key = tuple(input_ids[0].tolist())
        cached = self.encoder_cache.get(key)
        if cached is not None:
            self.encoder_cache.move_to_end(key)
            return cached
        with torch.no_grad():  # not inference mode: the states may meet a pass that runs outside it (the probe)
            states = self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask,
                                              return_dict=True).last_hidden_state
        self.encoder_cache[key] = states
        while len(self.encoder_cache) > ENCODER_CACHE:
            self.encoder_cache.popitem(last=False)
        return states

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        if pad is None:  # GPT-2 style tokenizers have none; padded positions are masked anyway
            pad = self.tokenizer.eos_token_id
        return int(pad or 0)

    # --- streaming blocks ---------------------------------------------------------------------------------

    def batches(self, pairs: Sequence[Pair | EncodedPair], batch_size: int = 1) -> Iterator[list[EncodedPair]]:
        """The pairs encoded (unless they already are), ``batch_size`` at a time."""
        if batch_size < 1:
            raise MiaError("batch size must be at least 1")
        batch: list[EncodedPair] = []
        for item in pairs:
            batch.append(item if isinstance(item, EncodedPair) else self.encode(item))
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def run(self, batch: Sequence[EncodedPair], sink: BlockSink, request: CaptureRequest = FEATURES) -> None:
        """One padded forward pass; every requested block of every layer goes to ``sink`` while it runs."""
        import torch

        layers = self.layout.layers
        wanted = capture.CAPTURE_IMPLEMENTATION if self._layer_of is not None else "eager"
        if self.model.config._attn_implementation != wanted:  # another AttentionModel on the same weights set it
            self.model.set_attn_implementation(wanted)
        prefixed = (self.prefix_cache.inputs(batch[0], request)
                    if self.prefix_cache is not None and self._layer_of is not None and len(batch) == 1
                    and request.intervene is None else None)
        inputs = self._inputs(batch) if prefixed is None else prefixed[0]
        # on cached A states the queries are B's tokens only: B's rows of the attention start at 0
        read = batch if prefixed is None else [replace(batch[0], b_positions=slice(0, len(inputs["input_ids"][0])))]
        with torch.inference_mode():
            if self._layer_of is not None:
                zero = {layer: _head_mask(heads, self.layout.heads, self.device)
                        for layer, heads in request.zero_heads.items()}

                def on_layer(layer: int, weights: Any, scores: Any) -> None:
                    values = weights if scores is None else scores
                    for index, item in enumerate(read):
                        for block in self._blocks(values[index], item, layer, request.blocks):
                            sink(index, block)

                try:
                    with self.attention_buffers.claimed() as buffers:
                        capture.run_captured(self.model, inputs, capture.LayerCapture(
                            self._layer_of, on_layer, want_scores=request.scores, zero_heads=zero,
                            stop_after=layers - 1, intervene=request.intervene, buffers=buffers,
                        ))
                finally:
                    if prefixed is not None:  # B's states are dropped: the cache holds A's again
                        cut_back(prefixed[1], prefixed[2])
                return
            if request.scores or request.zero_heads or request.intervene is not None:
                raise MiaError(f"{self.name}: scores before the softmax, head ablation and patching need the fast "
                               f"path, which model type {self.model_type!r} does not take")
            output = self.model(**inputs, output_attentions=True, return_dict=True)
            attentions = output.cross_attentions if self.architecture == "encoder-decoder" else output.attentions
            for layer, weights in enumerate(attentions):
                for index, item in enumerate(batch):
                    for block in self._blocks(weights[index], item, layer, request.blocks):
                        sink(index, block)

    def _blocks(self, weights: Any, item: EncodedPair, layer: int, kinds: Sequence[BlockKind]) -> Iterator[Block]:
        """The requested blocks of one layer's attention ``[heads, queries, keys]`` of one pair."""
        a, b = item.a_positions, item.b_positions
        per_direction = self.layout.layers * self.layout.heads
        start = layer * self.layout.heads
        for kind in kinds:
            if kind == "pair":
                if self.architecture == "decoder":
                    yield Block("pair", layer, start, weights[:, b, a], transposed=True)
                    continue
                yield Block("pair", layer, start, weights[:, a, b])
                if self.architecture == "encoder":
                    yield Block("pair", layer, per_direction + start, weights[:, b, a], transposed=True)
            elif kind in ("a->a", "b->b"):
                if self.architecture == "encoder-decoder":
                    raise MiaError("within-text blocks are not read from encoder-decoder cross-attention")
                span = a if kind == "a->a" else b
                yield Block(kind, layer, start, weights[:, span, span])
            else:
                yield Block(kind, layer, start, weights[:, a if kind == "a-rows" else b, :])

    def iter_features(
        self, pairs: Sequence[Pair | EncodedPair], *, batch_size: int = 1,
        zero_heads: Mapping[int, Sequence[int]] | None = None, also: SideReader | None = None,
    ) -> Iterator[PairFeatures]:
        """Attention features of each pair, in order (pairs already encoded are not tokenised again).

        ``zero_heads``: layer -> heads whose outputs are zeroed while the model runs (causal ablation: their own
        attention is still read, later layers see the model without them). ``also``: a second reader served by the
        same forward passes (the blocks it asks for go to its sink for each pair)."""
        import torch

        side_kinds = also.blocks if also is not None else ()
        request = CaptureRequest(blocks=("pair", *(kind for kind in side_kinds if kind != "pair")),
                                 zero_heads=dict(zero_heads or {}))
        for batch in self.batches(pairs, batch_size):
            blocks = [torch.empty((self.layout.n_features, len(item.a_spans), len(item.b_spans)), device=self.device)
                      for item in batch]
            others = [also.sink_for(item) if also is not None else None for item in batch]

            def copy(index: int, block: Block) -> None:
                other = others[index]
                if other is not None and block.kind in side_kinds:
                    other(index, block)
                if block.kind != "pair":
                    return
                values = block.values.transpose(-1, -2) if block.transposed else block.values
                blocks[index][block.column : block.column + len(values)] = values

            self.run(batch, copy, request)
            if also is not None and also.finish is not None:
                for item in batch:
                    also.finish(item)
            for index, item in enumerate(batch):
                yield PairFeatures(
                    pair=item.pair, a_spans=item.a_spans, b_spans=item.b_spans,
                    a_tokens=[item.pair.a[s:e] for s, e in item.a_spans],
                    b_tokens=[item.pair.b[s:e] for s, e in item.b_spans],
                    blocks=blocks[index],
                )

    def features(self, pair: Pair) -> PairFeatures:
        """Attention features of one pair."""
        return next(iter(self.iter_features([pair])))


def _head_mask(heads: Sequence[int], n_heads: int, device: str) -> Any:
    import torch

    mask = torch.ones(n_heads, device=device)
    mask[list(heads)] = 0.0
    return mask


def notice_slow_path(model_type: str, reason: str) -> None:
    """Say that a model type runs on the slow ``output_attentions`` path, and why: a warning, which Python's own
    registry shows once per model type and place (no state of mia's)."""
    warnings.warn(f"model type {model_type!r} runs on the slower output_attentions path: {reason}",
                  SlowPathNotice, stacklevel=3)


def load_model(name: str | None = None, *, device: str = "auto") -> AttentionModel:
    """Load a model for attention features: an alias (``minilm``, ``bart``, ``gpt2``), a hub id or a local directory.

    The model is loaded as the base model without a task head, in evaluation mode, with no code from the model
    folder (``trust_remote_code=False``) and weights only from safetensors.
    """
    stored, model, tokenizer, device = load_pretrained(DEFAULT_MODEL if name is None else name, device=device)
    return AttentionModel(stored, model, tokenizer, device=device)
