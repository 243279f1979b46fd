"""Reading a ``mia patch --format json`` file back, for ``heads --causal`` and ``report --patch``: per head of a
detector its causal numbers and role, checked against the detector's model and heads. No model and no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mia.detector.detector import Detector
from mia.errors import MiaError

Head = tuple[int, int]  # (layer, head)

CAUSAL_KEYS = ("necessity", "sufficiency", "pattern_necessity", "pattern_sufficiency", "value_necessity",
               "value_sufficiency")


@dataclass(frozen=True)
class PatchFile:
    """What :func:`read_patch_file` takes from a patch file: per head (layer, head) its causal numbers (the keys of
    :data:`CAUSAL_KEYS`, NaN where absent; ``necessity_interval`` and ``sufficiency_interval`` or None) and its
    ``role``; the pairs used, the corruption's rule and the role rule, as the file says them."""

    heads: dict[Head, dict[str, Any]]
    pairs: int | None
    corruption: str
    rule: str


def _number(entry: dict[str, Any], key: str, where: str) -> float:
    value = entry.get(key)
    if value is None:
        return float("nan")
    if type(value) not in (int, float) or value != value:
        raise MiaError(f"{where}: {key} of L{entry.get('layer')}H{entry.get('head')} is not a number")
    return float(value)


def _interval(value: Any) -> tuple[float, float] | None:
    if (isinstance(value, list) and len(value) == 2
            and all(type(v) in (int, float) and v == v for v in value)):
        return float(value[0]), float(value[1])
    return None


def read_patch_file(path: str, detector: Detector) -> PatchFile:
    """The causal columns of a ``mia patch --format json`` file for ``detector``'s heads. A file of another model,
    or whose heads are not the detector's, is an error naming the file; keys it does not know are left alone."""
    from mia.io import parse_json, read_text

    data = parse_json(read_text(path, "patch file"), path)
    where = f"{path}: not a patch file of this detector (mia patch --format json writes one)"
    if not isinstance(data, dict) or not isinstance(data.get("heads"), list):
        raise MiaError(f"{where}: it has no list of heads")
    if data.get("model") not in (None, detector.model_name):
        raise MiaError(f"{path}: patched on model {data.get('model')!r}, but the detector reads "
                       f"{detector.model_name!r}")
    layers, heads = detector.layout.layers, detector.layout.heads
    columns: dict[Head, dict[str, Any]] = {}
    for entry in data["heads"]:
        if not isinstance(entry, dict):
            raise MiaError(f"{where}: a head entry is not an object")
        layer, head = entry.get("layer"), entry.get("head")
        if not (type(layer) is int and type(head) is int and 0 <= layer < layers and 0 <= head < heads):
            raise MiaError(f"{where}: layer {layer!r}, head {head!r} is not one of the detector's {layers} x {heads}")
        if (layer, head) in columns:
            raise MiaError(f"{where}: head L{layer}H{head} is listed twice")
        row: dict[str, Any] = {key: _number(entry, key, where) for key in CAUSAL_KEYS}
        row.update({"necessity_interval": _interval(entry.get("necessity_interval")),
                    "sufficiency_interval": _interval(entry.get("sufficiency_interval")),
                    "role": entry["role"] if isinstance(entry.get("role"), str) else ""})
        columns[(layer, head)] = row
    pairs = data["pairs"].get("used") if isinstance(data.get("pairs"), dict) else None
    corruption = data["corruption"].get("rule") if isinstance(data.get("corruption"), dict) else None
    return PatchFile(columns, pairs if type(pairs) is int else None, str(corruption or ""),
                     str(data.get("roles") or ""))
