"""Capturing attention while a model runs: mia's own attention function, scoped to one forward pass.

mia registers an attention implementation (``mia_capture``) with transformers' ``AttentionInterface``. It computes
eager attention (the scores, the softmax, the weighted values) exactly as transformers' eager code does, and
while a :class:`LayerCapture` is active (a ``contextvars.ContextVar``, set by :func:`run_captured` and always
reset, so two models or two threads never share a sink) it:

* hands each captured layer's weights ``[batch, heads, queries, keys]`` to ``on_layer``, and the scores before
  the softmax when ``want_scores`` is set;
* zeroes the outputs of chosen heads (``zero_heads``: ablation), so later layers run without them;
* lets an intervention (``intervene``: activation patching) replace, per layer, the values ``[batch, heads, k, dim]``,
  the weights (the pattern) ``[batch, heads, q, k]`` or the heads' outputs ``[batch, heads, q, dim]`` (each head's
  slice of the attention output, before the output projection); the weights handed to ``on_layer`` are the
  patched ones, as later layers see them;
* stops the forward pass after ``stop_after`` (:class:`StopForward`): nothing after the last layer read is computed;
* writes the scores and the weights into storage the model keeps (:class:`AttentionBuffers`), not into new tensors.

Outside a capture the function is plain eager attention that returns no weights. Which modules are "layers" is
found by what they do, not by their names: :func:`discover_calls` runs one forward pass and records every call
of the attention function in order, with its module and its query and key lengths.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

CAPTURE_IMPLEMENTATION = "mia_capture"
LayerSink = Callable[[int, Any, Any], None]  # (layer, weights [batch, heads, q, k], scores or None)
HeadPart = Literal["value", "pattern", "output"]
# (layer, part, tensor) -> the tensor to use instead (or the same one); it may write into ``tensor``, which this
# pass made and alone holds
Intervention = Callable[[int, HeadPart, Any], Any]


class StopForward(Exception):
    """Raised inside the last captured layer: nothing after it is needed."""


@dataclass
class LayerCapture:
    """What one forward pass should capture.

    ``layers_of`` maps ``id(module)`` to the layers it computes, in call order: one layer for most models,
    several where layers share one module (ALBERT). A capture serves one forward pass.
    """

    layers_of: dict[int, tuple[int, ...]]
    on_layer: LayerSink
    want_scores: bool = False
    zero_heads: dict[int, Any] = field(default_factory=dict)  # layer -> float tensor [heads]: 0 = head ablated
    stop_after: int | None = None
    intervene: Intervention | None = None  # activation patching (module docstring)
    buffers: AttentionBuffers | None = None  # storage reused for the scores and the weights (CPU, float32)
    calls: dict[int, int] = field(default_factory=dict)  # calls seen per module in this pass

    def layer_for(self, module: Any) -> int | None:
        """The layer this call of ``module`` computes, or None when it is not captured."""
        layers = self.layers_of.get(id(module))
        if layers is None:
            return None
        seen = self.calls.get(id(module), 0)
        self.calls[id(module)] = seen + 1
        return layers[seen] if seen < len(layers) else None


BUFFER_MB = 32  # largest attention temporary (MB) kept for reuse; larger ones are allocated per call


class AttentionBuffers:
    """Storage for eager attention's two big temporaries, the scores and the weights (each ``[batch, heads, q, k]``),
    kept by a model and reused by every layer of every pass instead of allocated per layer: an array of that size
    (9 MB for MiniLM's 12 heads on 441 tokens) comes back from the allocator as fresh pages, and faulting them in
    cost about as much as the softmax (``python benchmarks/detect_bound.py``). Each slot grows to the largest
    attention it has held, up to :data:`BUFFER_MB`. One pass at a time: :meth:`claimed` gives None to a second
    one (another thread), which allocates as before. A sink must not keep a block past its call: the next layer
    overwrites it."""

    def __init__(self) -> None:
        import threading

        self.slots: list[Any] = [None, None]
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def claimed(self) -> Iterator[AttentionBuffers | None]:
        """These buffers for one forward pass, or None while another pass holds them."""
        if not self.lock.acquire(blocking=False):
            yield None
            return
        try:
            yield self
        finally:
            self.lock.release()

    def release(self) -> None:
        """Free the storage (the next pass makes it again)."""
        self.slots = [None, None]

    def get(self, slot: int, shape: tuple[int, ...], like: Any) -> Any:
        """A tensor of ``shape`` (dtype and device of ``like``) on slot ``slot``'s storage (a new tensor when it
        would exceed :data:`BUFFER_MB`); its values are left from earlier use."""
        import math

        import torch

        size = math.prod(shape)
        if size * like.element_size() > BUFFER_MB * 2**20:
            return torch.empty(shape, dtype=like.dtype, device=like.device)
        storage = self.slots[slot]
        if storage is None or storage.numel() < size or storage.dtype != like.dtype or storage.device != like.device:
            storage = self.slots[slot] = None  # the old storage is freed before the new one is made
            storage = self.slots[slot] = torch.empty(size, dtype=like.dtype, device=like.device)
        return storage[:size].view(shape)


@dataclass
class AttentionCall:
    """One call of the attention function seen by :func:`discover_calls`."""

    module: Any
    queries: int
    keys: int


@dataclass
class _Discovery:
    calls: list[AttentionCall] = field(default_factory=list)


_ACTIVE: ContextVar[LayerCapture | _Discovery | None] = ContextVar("mia_capture", default=None)
_registered = False


def register() -> None:
    """Register ``mia_capture`` with transformers (once per process)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(CAPTURE_IMPLEMENTATION, capturing_attention)
    AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, capture_mask)
    _registered = True


def capture_mask(*args: Any, **kwargs: Any) -> Any:
    """The attention mask ``capturing_attention`` receives: transformers' boolean SDPA mask (True: attend), which is
    None for a bidirectional input without padding (nothing to add to the scores); a causal mask is always made,
    since this attention function does not know causality by itself."""
    from transformers.masking_utils import sdpa_mask

    kwargs["allow_is_causal_skip"] = False
    return sdpa_mask(*args, **kwargs)


def capturing_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
    dropout: float = 0.0, **kwargs: Any,
) -> tuple[Any, None]:
    """Eager attention (``query`` ``[batch, heads, q, dim]``, ``key``/``value`` ``[batch, kv_heads, k, dim]``) that
    serves the active capture; returns the attention output ``[batch, q, heads, dim]`` and no weights."""
    import torch

    if key.shape[1] != query.shape[1]:  # grouped-query attention: each key/value head serves several heads
        groups = query.shape[1] // key.shape[1]
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    capture = _ACTIVE.get()
    buffers = (capture.buffers if isinstance(capture, LayerCapture) and query.dtype == torch.float32
               and query.device.type == "cpu" else None)
    shape = (*query.shape[:-1], key.shape[-2])
    # the scores (scaling the smaller query: the same up to rounding) and the softmax as torch.matmul and
    # torch.softmax make them, written into the reused buffers when there are some: the same values
    scores = torch.matmul(query * scaling, key.transpose(-1, -2),
                          out=None if buffers is None else buffers.get(0, shape, query))
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores.masked_fill_(~attention_mask, float("-inf"))
        else:
            scores += attention_mask[..., : key.shape[-2]]
    if buffers is not None:
        weights = torch.ops.aten._softmax.out(scores, -1, False, out=buffers.get(1, shape, query))
    elif scores.dtype == torch.float32:
        weights = torch.softmax(scores, dim=-1)
    else:  # half precision: the softmax in float32, as transformers' eager code does
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    layer = None
    if isinstance(capture, _Discovery):
        capture.calls.append(AttentionCall(module, query.shape[-2], key.shape[-2]))
    elif capture is not None and (layer := capture.layer_for(module)) is not None:
        intervene = capture.intervene
        if intervene is not None:
            value = intervene(layer, "value", value)
            weights = intervene(layer, "pattern", weights)
        capture.on_layer(layer, weights, scores if capture.want_scores else None)
        mask = capture.zero_heads.get(layer)
        if mask is not None:
            weights = weights * mask.to(weights.dtype)[None, :, None, None]
        heads = None if intervene is None else intervene(layer, "output", torch.matmul(weights, value))
        if layer == capture.stop_after:
            raise StopForward
        if heads is not None:
            return heads.transpose(1, 2).contiguous(), None
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, None


@contextlib.contextmanager
def capturing(capture: LayerCapture | _Discovery) -> Iterator[None]:
    """Make ``capture`` the active one for the calls inside the block (and only them)."""
    token = _ACTIVE.set(capture)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def run_captured(model: Any, inputs: dict[str, Any], capture: LayerCapture) -> None:
    """One forward pass of ``model`` (using ``mia_capture``) with ``capture`` active; ``inputs`` hold every
    keyword argument of the forward call."""
    with capturing(capture):
        try:
            model(**inputs, return_dict=True)
        except StopForward:
            return
    if capture.stop_after is not None:
        raise RuntimeError("mia: the attention capture did not reach the last layer it reads")


def discover_calls(model: Any, inputs: dict[str, Any]) -> list[AttentionCall]:
    """Every call of the attention function in one forward pass, in order (empty when the model's code computes
    attention itself instead of calling the interface)."""
    discovery = _Discovery()
    with capturing(discovery):
        model(**inputs, return_dict=True)
    return discovery.calls
