"""The detector folder on disk: a validated, typed record, written safely, and the shipped detectors.

A detector folder holds two files that mia owns: ``detector.json`` (the record below, plus free metadata such as
metrics and the split) and ``weights.npz`` (plain float64 arrays ``mean``, ``scale``, ``coef`` of length F and
``intercept`` of length 1, loaded with ``allow_pickle=False``). Every other file in the folder is the user's and
is left alone.

Rules kept here:

* **Validation on load**, one place: the schema (types, required fields), a known format version, a known
  transform, a threshold in [0, 1], weights of the layout's length, finite numbers, positive scales, and (from
  format 2) the SHA-256 of ``weights.npz`` recorded in ``detector.json``. A damaged or tampered detector is a
  :class:`DetectorFileError` naming the file and the field, never a silent result.
* **Writing**: only into a new or empty folder, or a folder whose ``detector.json`` validates (a detector
  folder); there the two files are written beside and renamed into place, weights first, under an exclusive
  lock on the folder (readers take a shared one), so a crash or two concurrent writers never pair one run's
  metadata with another's weights. Nothing is ever deleted. Shipped detectors are read-only inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mia._version import __version__
from mia.errors import DetectorFileError, MiaError
from mia.io import check_writable_folder, jsonable, parse_json, write_bytes_atomic

METADATA_FILE = "detector.json"
WEIGHTS_FILE = "weights.npz"
FORMAT_VERSION = 3  # 3: offsets per axis [di, dj]; 2: weights_sha256; 1: the first
READABLE_FORMATS = (1, 2, 3)
FeatureTransform = Literal["log", "none"]
TRANSFORMS: tuple[FeatureTransform, ...] = ("log", "none")
DIRECTIONS = ("a->b", "b->a", "cross")
WEIGHT_ARRAYS = ("mean", "scale", "coef", "intercept")
DEFAULT_DETECTOR = "minilm-verbatim"
_MAX_METADATA_BYTES = 64 * 2**20


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
            metadata={k: v for k, v in data.items() if k not in known},
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


# --- reading and writing a folder ----------------------------------------------------------------------------


@contextlib.contextmanager
def folder_lock(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """An advisory lock on the folder itself (no lock file): exclusive to write, shared to read."""
    try:
        import fcntl
    except ImportError:  # no flock here (Windows): the weight hash still catches a mixed pair of files
        yield
        return
    import os

    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(handle)


def read_detector_folder(directory: str | Path) -> tuple[DetectorRecord, dict[str, np.ndarray]]:
    """Read and validate a detector folder (never unpickles)."""
    directory = Path(directory)
    meta_path, weights_path = directory / METADATA_FILE, directory / WEIGHTS_FILE
    if not meta_path.is_file() or not weights_path.is_file():
        raise DetectorFileError(
            f"{directory} is not a detector directory (it needs {METADATA_FILE} and {WEIGHTS_FILE}); "
            f"train one with `python -m mia train`, or pass --detector with a folder or a shipped name "
            f"({', '.join(shipped_detectors())})"
        )
    with folder_lock(directory, exclusive=False):
        meta_bytes = _read_bounded(meta_path)
        weights = weights_path.read_bytes()
    try:
        text = meta_bytes.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DetectorFileError(f"{meta_path}: not UTF-8 text (byte {error.start})") from None
    try:
        data = parse_json(text, str(meta_path))
    except DetectorFileError:
        raise
    except MiaError as error:
        raise DetectorFileError(str(error)) from None
    record = DetectorRecord.from_json(data, str(meta_path))
    return record, read_weights(weights, record, str(weights_path))


def _read_bounded(path: Path) -> bytes:
    if path.stat().st_size > _MAX_METADATA_BYTES:
        raise DetectorFileError(f"{path}: larger than {_MAX_METADATA_BYTES // 2**20} MB; not a detector file")
    return path.read_bytes()


def is_detector_folder(directory: Path) -> bool:
    """True when ``directory`` holds a ``detector.json`` that validates (its weights are not read)."""
    try:
        data = parse_json(_read_bounded(directory / METADATA_FILE).decode("utf-8"), str(directory))
        DetectorRecord.from_json(data, str(directory))
    except (OSError, UnicodeDecodeError, MiaError):
        return False
    return True


def folder_state(directory: Path) -> str | None:
    """A token of what the folder's ``detector.json`` holds now (its hash), ``None`` when there is none."""
    try:
        return hashlib.sha256((directory / METADATA_FILE).read_bytes()).hexdigest()
    except OSError:
        return None


_UNCHECKED = "unchecked"


def check_detector_destination(directory: str | Path, flag: str = "--out") -> str | None:
    """Check, before any work, that a detector may be written to ``directory``; returns :func:`folder_state`.

    Allowed: a new folder (its parent writable), an empty folder, or a detector folder (its two files are
    replaced, every other file stays). Refused, with a message: an empty name, a file, a folder holding other
    things, a read-only folder, a shipped detector.
    """
    if not str(directory).strip():
        raise MiaError(f"{flag} is empty; give a folder for the detector")
    directory = Path(directory)
    if is_shipped(directory):
        raise MiaError(
            f"{flag} {directory} is a detector shipped with mia, a read-only input; give another folder"
        )
    if directory.is_symlink() and not directory.exists():
        raise MiaError(f"{flag} {directory} is a broken symbolic link")
    if directory.exists():
        if not directory.is_dir():
            raise MiaError(f"{flag} {directory} is a file, not a folder")
        if any(directory.iterdir()) and not is_detector_folder(directory):
            raise MiaError(
                f"{flag} {directory} holds files and is not a detector folder; mia writes a detector only into a "
                "new or empty folder or over a detector; choose another folder"
            )
        check_writable_folder(directory, flag=flag, target=directory)
    else:
        check_writable_folder(directory.parent, flag=flag, target=directory)
    return folder_state(directory)


def write_detector_folder(
    directory: str | Path, record: DetectorRecord, arrays: dict[str, np.ndarray], *,
    expected_state: str | None | Literal["unchecked"] = _UNCHECKED,
) -> Path:
    """Write ``weights.npz`` and ``detector.json`` into ``directory`` (see the module docstring); returns it.

    ``expected_state`` (from :func:`check_detector_destination` before training): if the folder's detector
    changed since then (another run wrote it), nothing is overwritten and :class:`MiaError` says so.
    """
    directory = Path(directory)
    check_detector_destination(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = weights_bytes(arrays)
    digest = hashlib.sha256(data).hexdigest()
    meta = json.dumps(record.to_json(digest), indent=2, ensure_ascii=False) + "\n"
    with folder_lock(directory, exclusive=True):
        if expected_state != _UNCHECKED and folder_state(directory) != expected_state:
            raise DetectorConflict(directory)
        write_bytes_atomic(data, directory / WEIGHTS_FILE)
        write_bytes_atomic(meta.encode("utf-8"), directory / METADATA_FILE)
    return directory


class DetectorConflict(MiaError):
    """Another run wrote a detector into the folder after this run checked it: it is not overwritten."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"{directory} was written by another run while this one was training; not overwritten")
        self.directory = directory


NEW_DETECTORS = Path("models")  # where a detector goes when no folder is named (relative to the working folder)


def default_detector_folder(model_name: str, data_name: str) -> Path:
    """A new folder ``models/<model>-<data>`` (numbered when taken) for a detector trained without ``--out``."""
    return new_folder(NEW_DETECTORS / f"{_slug(model_name)}-{_slug(data_name)}")


def _slug(name: str) -> str:
    tail = Path(name).name if Path(name).exists() else name.split("/")[-1]
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in tail).strip("-.") or "model"


def new_folder(base: Path) -> Path:
    """``base`` if nothing is there yet, else the first free ``base-2``, ``base-3``, ...: a folder never used."""
    candidate, number = base, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


# --- shipped detectors ---------------------------------------------------------------------------------------


def shipped_folder() -> Path:
    """Where the detectors that ship with mia live (inside the package: found in any install)."""
    return Path(str(resources.files("mia") / "data" / "detectors"))


def shipped_detectors() -> list[str]:
    """Names of the shipped detectors (``--detector NAME``)."""
    folder = shipped_folder()
    return sorted(p.name for p in folder.iterdir() if (p / METADATA_FILE).is_file()) if folder.is_dir() else []


def is_shipped(directory: Path) -> bool:
    """True when ``directory`` is (or lies inside) the shipped detectors' folder."""
    try:
        target, shipped = directory.resolve(), shipped_folder().resolve()
    except OSError:
        return False
    return target == shipped or shipped in target.parents


def resolve_detector(name: str | Path | None) -> Path:
    """A detector folder from ``--detector``: a folder path, or the name of a shipped detector (default
    ``minilm-verbatim``)."""
    if name is None or not str(name).strip():
        name = DEFAULT_DETECTOR
    path = Path(name)
    if path.exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    shipped = shipped_folder() / str(name)
    return shipped if shipped.is_dir() else path
