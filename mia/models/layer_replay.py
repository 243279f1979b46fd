"""Running a model from a middle layer: the outputs of its first layers taken from an earlier run instead of computed.

Patching a head of layer ``l`` changes nothing before layer ``l``, so a batch of runs that patch layers ``l`` and
above can take the outputs of the blocks before ``l`` from one run of the unpatched input (recorded by
:func:`recording`) and compute only the rest (:func:`replaying`). The blocks are the elements of the model's
``ModuleList`` that hold each captured attention module, found by what they hold, not by their names
(:func:`layer_blocks`); a model whose layers share one block (ALBERT) has none, and runs whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any


def layer_blocks(model: Any, attention_modules: Sequence[Any]) -> list[Any] | None:
    """The block (an element of a ``ModuleList``) that holds each layer's attention module, in layer order; None
    when a layer has no block of its own or two layers share one."""
    import torch

    wanted = {id(module): layer for layer, module in enumerate(attention_modules)}
    for module_list in model.modules():
        if not isinstance(module_list, torch.nn.ModuleList):
            continue
        found: dict[int, Any] = {}
        for block in module_list:
            for inner in block.modules():
                if id(inner) in wanted:
                    found.setdefault(wanted[id(inner)], block)
        if len(found) == len(attention_modules):
            blocks = [found[layer] for layer in range(len(attention_modules))]
            return blocks if len({id(b) for b in blocks}) == len(blocks) else None
    return None


def _map_tensors(value: Any, change: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return change(value)
    if isinstance(value, tuple):
        return type(value)(*(_map_tensors(v, change) for v in value)) if hasattr(value, "_fields") else \
            tuple(_map_tensors(v, change) for v in value)
    if isinstance(value, list):
        return [_map_tensors(v, change) for v in value]
    return value


@contextlib.contextmanager
def recording(blocks: Sequence[Any], into: list[Any]) -> Iterator[None]:
    """While the block runs, each block's output (of a batch of one) is copied into ``into``, in layer order."""
    handles = [block.register_forward_hook(
        lambda module, args, output: into.append(_map_tensors(output, lambda t: t.clone())))
        for block in blocks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def replaying(blocks: Sequence[Any], outputs: Sequence[Any], start: int, batch: int) -> Iterator[None]:
    """While the block runs, blocks ``[0, start)`` return their recorded ``outputs`` (a batch of one, repeated
    ``batch`` times) without computing; the blocks from ``start`` on run."""

    def repeat(tensor: Any) -> Any:
        if tensor.dim() and tensor.shape[0] == 1:
            return tensor.expand(batch, *tensor.shape[1:]).contiguous()
        return tensor

    replaced = []
    try:
        for block, output in zip(blocks[:start], outputs[:start]):
            given = _map_tensors(output, repeat)
            block.forward = lambda *args, _given=given, **kwargs: _given
            replaced.append(block)
        yield
    finally:
        for block in replaced:
            del block.forward
