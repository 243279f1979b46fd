"""The typed record of a detector: what ``detector.json`` and ``weights.npz`` must hold, validated in one place.

Validation on load: the schema (types, required fields), a known format version, a known transform, a threshold
in [0, 1], weights of the layout's length, finite numbers, positive scales, (from format 2) the SHA-256 of
``weights.npz`` recorded in ``detector.json``, and the free sections (decoding, metrics, data, split, heads:
:mod:`mia.detector.record_sections`). A damaged or tampered detector is a :class:`DetectorFileError`
naming the file and the field, never a silent result.

Formats: 1 (the first), 2 (adds ``weights_sha256``), 3 (offsets per axis ``[di, dj]``). All three are read.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mia._version import __version__
from mia.detector.record_sections import check_sections
from mia.errors import DetectorFileError
from mia.io import jsonable

METADATA_FILE = "detector.json"
WEIGHTS_FILE = "weights.npz"
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)
FeatureTransform = Literal["log", "none"]
TRANSFORMS: tuple[FeatureTransform, ...] = ("log", "none")
DIRECTIONS = ("a->b", "b->a", "cross")
WEIGHT_ARRAYS = ("mean", "scale", "coef", "intercept")


# --- the typed record -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRecord:
    """Which model a detector reads: name (alias, hub id or folder), type, revision and weight fingerprint."""

    name: str
    type: str
    fingerprint: str
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "revision": self.revision, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class LayoutRecord:
    """The feature layout as recorded: ``layers`` x ``heads`` per direction, per offset ``(di, dj)``."""

    layers: int
    heads: int
    directions: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...] = ((0, 0),)

    @property
    def n_features(self) -> int:
        return len(self.offsets) * len(self.directions) * self.layers * self.heads


@dataclass(frozen=True)
class DetectorRecord:
    """What ``detector.json`` must hold, validated; ``metadata`` is everything else (metrics, split, data...)."""

    format: int
    model: ModelRecord
    layout: LayoutRecord
    transform: FeatureTransform
    threshold: float
    weights_sha256: str | None = None
    mia_version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str) -> DetectorRecord:
        """Validate a parsed ``detector.json``; errors name ``where`` and the field."""
        if not isinstance(data, dict):
            raise DetectorFileError(f"{where}: expected a JSON object")
        version: Any = data.get("format")
        if not _is_int(version) or version not in READABLE_FORMATS:
            raise DetectorFileError(
                f"{where}: field 'format' is {version!r}; this mia reads detector formats "
                f"{', '.join(map(str, READABLE_FORMATS))} (a newer mia may read it)"
            )
        model = _object(data, "model", where)
        features = _object(data, "features", where)
        layout = LayoutRecord(
            layers=_positive_int(features, "layers", f"{where}: features"),
            heads=_positive_int(features, "heads", f"{where}: features"),
            directions=_directions(features, where),
            offsets=_offsets(features, where),
        )
        transform = features.get("transform")
        if transform not in TRANSFORMS:
            raise DetectorFileError(
                f"{where}: field 'features.transform' is {transform!r}; known transforms: {', '.join(TRANSFORMS)}"
            )
        threshold: Any = data.get("threshold")
        if not _is_number(threshold) or not 0.0 <= float(threshold) <= 1.0:
            raise DetectorFileError(f"{where}: field 'threshold' is {threshold!r}; it must be a number in [0, 1]")
        count = features.get("count", layout.n_features)
        if count != layout.n_features:
            raise DetectorFileError(
                f"{where}: field 'features.count' is {count!r} but the layout has {layout.n_features} features"
            )
        digest = data.get("weights_sha256")
        if version >= 2 and not (isinstance(digest, str) and len(digest) == 64):
            raise DetectorFileError(f"{where}: field 'weights_sha256' must be the SHA-256 of {WEIGHTS_FILE}")
        known = {"format", "mia_version", "model", "features", "threshold", "weights_sha256"}
        version_text = data.get("mia_version")
        metadata = {k: v for k, v in data.items() if k not in known}
        check_sections(metadata, layers=layout.layers, heads=layout.heads, features=layout.n_features, where=where)
        return cls(
            format=int(version),
            model=ModelRecord(
                name=_string(model, "name", f"{where}: model"),
                type=_string(model, "type", f"{where}: model"),
                fingerprint=_string(model, "fingerprint", f"{where}: model"),
                revision=_optional_string(model, "revision", f"{where}: model"),
            ),
            layout=layout,
            transform=transform,
            threshold=float(threshold),
            weights_sha256=digest if isinstance(digest, str) else None,
            mia_version=version_text if isinstance(version_text, str) else None,
            metadata=metadata,
        )

    def to_json(self, weights_sha256: str) -> dict[str, Any]:
        """The ``detector.json`` object (current format), with the hash of the weights it goes with."""
        transform_text = "log(w + 1e-4)" if self.transform == "log" else "w"
        return {
            "format": FORMAT_VERSION,
            "mia_version": __version__,
            "model": self.model.to_dict(),
            "features": {
                "layers": self.layout.layers,
                "heads": self.layout.heads,
                "directions": list(self.layout.directions),
                "offsets": [list(offset) for offset in self.layout.offsets],
                "count": self.layout.n_features,
                "order": "offset, direction, layer, head (feature k: offset k // (directions*layers*heads), "
                "then direction, layer, head within it); offset [di, dj]: the head's attention at (i + di, j + dj)",
                "dtype": "float16 attention weights",
                "transform": self.transform,
                "pipeline": f"{transform_text}, standardise (weights.npz mean, scale), logistic regression "
                "(coef, intercept)",
            },
            "threshold": self.threshold,
            "weights_sha256": weights_sha256,
            **jsonable(self.metadata),
        }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _object(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise DetectorFileError(f"{where}: field '{key}' must be an object, got {type(value).__name__}")
    return value


def _string(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise DetectorFileError(f"{where}: field '{key}' must be a non-empty string, got {value!r}")
    return value


def _optional_string(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise DetectorFileError(f"{where}: field '{key}' must be a string or null, got {value!r}")
    return value


def _positive_int(data: dict[str, Any], key: str, where: str) -> int:
    value: Any = data.get(key)
    if not _is_int(value) or not 0 < value <= 4096:
        raise DetectorFileError(f"{where}: field '{key}' must be a whole number from 1 to 4096, got {value!r}")
    return int(value)


def _directions(features: dict[str, Any], where: str) -> tuple[str, ...]:
    value: Any = features.get("directions")
    if (not isinstance(value, list) or not value or len(set(map(str, value))) != len(value)
            or not all(d in DIRECTIONS for d in value)):
        raise DetectorFileError(
            f"{where}: field 'features.directions' must be a list of distinct directions from "
            f"{', '.join(DIRECTIONS)}, got {value!r}"
        )
    return tuple(value)


def _offsets(features: dict[str, Any], where: str) -> tuple[tuple[int, int], ...]:
    """Offsets as ``(di, dj)``: format 3 writes pairs, formats 1 and 2 wrote a diagonal ``o`` for ``(o, o)``."""
    value: Any = features.get("offsets", [[0, 0]])

    def as_pair(offset: Any) -> tuple[int, int] | None:
        if _is_int(offset):
            offset = [offset, offset]
        if isinstance(offset, list) and len(offset) == 2 and all(_is_int(o) and abs(o) <= 64 for o in offset):
            return int(offset[0]), int(offset[1])
        return None

    pairs = [as_pair(o) for o in value] if isinstance(value, list) else [None]
    if not pairs or None in pairs or pairs[0] != (0, 0) or len(set(pairs)) != len(pairs):
        raise DetectorFileError(
            f"{where}: field 'features.offsets' must be distinct [di, dj] pairs starting with [0, 0], got {value!r}"
        )
    return tuple(p for p in pairs if p is not None)


# --- weights -------------------------------------------------------------------------------------------------


def weights_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """``weights.npz`` as bytes (float64 arrays, no pickle)."""
    buffer = io.BytesIO()
    named: dict[str, Any] = {key: np.asarray(arrays[key], dtype=np.float64) for key in WEIGHT_ARRAYS}
    np.savez(buffer, **named)
    return buffer.getvalue()


def read_weights(data: bytes, record: DetectorRecord, where: str) -> dict[str, np.ndarray]:
    """Validate and read ``weights.npz``: the four arrays, their lengths, finite values, positive scales."""
    if record.weights_sha256 is not None and hashlib.sha256(data).hexdigest() != record.weights_sha256:
        raise DetectorFileError(
            f"{where}: its SHA-256 does not match 'weights_sha256' in {METADATA_FILE}: the two files are not from "
            "the same training run (damaged, edited, or written by two runs); retrain the detector"
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            missing = [key for key in WEIGHT_ARRAYS if key not in npz.files]
            if missing:
                raise DetectorFileError(f"{where}: array(s) {', '.join(missing)} missing")
            arrays = {key: np.asarray(npz[key]) for key in WEIGHT_ARRAYS}
    except DetectorFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise DetectorFileError(f"{where}: unreadable detector weights ({type(error).__name__}: {error})") from None
    expected = {"mean": record.layout.n_features, "scale": record.layout.n_features,
                "coef": record.layout.n_features, "intercept": 1}
    for key, length in expected.items():
        array = arrays[key]
        if array.dtype.kind not in "fiu" or array.shape != (length,):
            raise DetectorFileError(
                f"{where}: array '{key}' must hold {length} numbers (shape ({length},)), got shape "
                f"{array.shape} of {array.dtype}; the weights do not match the feature layout in {METADATA_FILE}"
            )
        arrays[key] = array.astype(np.float64)
        if not np.isfinite(arrays[key]).all():
            raise DetectorFileError(f"{where}: array '{key}' holds NaN or infinite values")
    if not (arrays["scale"] > 0).all():
        raise DetectorFileError(f"{where}: array 'scale' must be positive")
    return arrays
