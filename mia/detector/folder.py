"""The detector folder on disk: a validated, typed record, written safely, and the shipped detectors.

A detector folder holds two files that mia owns: ``detector.json`` (the record below, plus free metadata such as
metrics and the split) and ``weights.npz`` (plain float64 arrays ``mean``, ``scale``, ``coef`` of length F and
``intercept`` of length 1, loaded with ``allow_pickle=False``). Every other file in the folder is the user's and
is left alone.

Rules kept here:

* **Validation on load**, in one place: :mod:`mia.detector.record`.
* **Writing**: only into a new or empty folder, or a folder whose ``detector.json`` validates (a detector
  folder); there the two files are written beside and renamed into place, weights first, under an exclusive
  lock on the folder (readers take a shared one), so a crash or two concurrent writers never pair one run's
  metadata with another's weights. Nothing is ever deleted. Shipped detectors are read-only inputs.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from mia.detector.record import METADATA_FILE, WEIGHTS_FILE, DetectorRecord, read_weights, weights_bytes
from mia.errors import DetectorFileError, MiaError
from mia.io import check_writable_folder, folder_lock, parse_json, write_bytes_atomic

DEFAULT_DETECTOR = "minilm-reuse"
_MAX_METADATA_BYTES = 64 * 2**20


# --- reading and writing a folder ----------------------------------------------------------------------------


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
    ``minilm-reuse``)."""
    if name is None or not str(name).strip():
        name = DEFAULT_DETECTOR
    path = Path(name)
    if path.exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    shipped = shipped_folder() / str(name)
    return shipped if shipped.is_dir() else path
