"""Decoder-only pairs on cached states of A: the part before B run once per A input.

A decoder-only model reads one causal sequence ``BOS A EOS B`` and mia reads B's attention to A. Causal attention
means the key/value states of ``BOS A EOS`` do not depend on B, so for window pairs that share an A window (every
B window against one A window) they are computed once and each B window runs on them: B's queries then attend to
the same keys with the same values, and the features equal those of whole passes (a test compares them exactly on
four families). After each pass the cache is cut back, layer by layer, to A's states.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from typing import Any

from mia.models.blocks import CaptureRequest
from mia.models.encoding import EncodedPair

PREFIX_CACHE = 8  # distinct A inputs whose states are kept (window pairs come A window by A window)


def cache_argument(model: Any) -> str:
    """The name under which ``model``'s forward takes key/value states: ``cache`` (transformers 5.2x) or
    ``past_key_values`` (earlier)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class PrefixCache:
    """The key/value states of the last :data:`PREFIX_CACHE` distinct ``BOS A EOS`` inputs of one model."""

    def __init__(self, model: Any, device: str) -> None:
        self.model, self.device = model, device
        self.argument = cache_argument(model)
        self.items: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.usable: bool | None = None  # whether this model's states can be cut back (known after one run)

    def clear(self) -> None:
        self.items.clear()

    def inputs(self, item: EncodedPair, request: CaptureRequest) -> tuple[dict[str, Any], Any, int] | None:
        """The inputs of B's pass on A's cached states, the cache, and the length it is cut back to after the pass
        (:func:`cut_back`); None where this does not apply: other blocks than B->A, ablation, scores, inputs
        beside ids and mask, or a cache of other layers than plain growing ones (sliding windows)."""
        import torch

        if (PREFIX_CACHE < 1 or request.blocks != ("pair",) or request.zero_heads or request.scores
                or set(item.inputs) - {"input_ids", "attention_mask"} or self.usable is False):
            return None
        ids, start = item.inputs["input_ids"], item.b_positions.start
        key = tuple(ids[:start])
        cache = self.items.get(key)
        if cache is None:
            with torch.no_grad():  # as the encoder cache: outside inference mode
                prefix = torch.tensor([key], device=self.device)
                output = self.model(input_ids=prefix, attention_mask=torch.ones_like(prefix), use_cache=True,
                                    return_dict=True)
            cache = output["cache"] if "cache" in output else output.get("past_key_values")
            self.usable = all(type(layer).__name__ == "DynamicLayer" for layer in getattr(cache, "layers", [None]))
            if not self.usable:
                return None
            self.items[key] = cache
            while len(self.items) > PREFIX_CACHE:
                self.items.popitem(last=False)
        self.items.move_to_end(key)
        inputs = {"input_ids": torch.tensor([ids[start:]], device=self.device),
                  "attention_mask": torch.ones((1, len(ids)), dtype=torch.long, device=self.device),
                  self.argument: cache, "use_cache": True}
        return inputs, cache, start


def cut_back(cache: Any, length: int) -> None:
    """Drop what a pass added to ``cache`` (each layer it reached): every layer holds ``length`` positions again."""
    for layer in cache.layers:
        if layer.get_seq_length() > length:
            layer.crop(length - layer.get_seq_length())
