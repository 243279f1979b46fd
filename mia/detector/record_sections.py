"""The free sections of ``detector.json``, validated: ``decode``, ``metrics``, ``data``, ``split``, ``heads``,
``head_roc_auc`` and ``training_seconds``.

Each is optional (detectors of earlier versions lack some), but what is there must have the type and length the
readers of a detector expect (``heads``, ``report``, ``evaluate``, ``ablate``): a hand-edited or damaged section is a
:class:`DetectorFileError` naming the field, never a traceback or a silently shorter table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mia.alignment.decoding import DECODERS
from mia.errors import DetectorFileError

COPIES = ("shuffled", "noisy", "mixed")
PER_HEAD_NUMBERS = ("auc", "weight", "auc_top10_share", "weight_top10_share")
PER_HEAD_INTERVALS = ("auc_interval", "weight_interval", "weight_interval_percentile")


def check_sections(metadata: dict[str, Any], *, layers: int, heads: int, features: int, where: str) -> None:
    """Raise :class:`DetectorFileError` unless every section present in ``metadata`` is well formed."""
    decode = metadata.get("decode")
    if decode is not None and decode not in DECODERS:
        raise DetectorFileError(f"{where}: field 'decode' is {decode!r}; known decodings: {', '.join(DECODERS)}")
    seconds = metadata.get("training_seconds")
    if seconds is not None and not (_number(seconds) and seconds >= 0):
        raise DetectorFileError(f"{where}: field 'training_seconds' must be a number from 0, got {seconds!r}")
    for key in ("relation", "trained_with", "threshold_rule"):
        if metadata.get(key) is not None and not isinstance(metadata[key], str):
            raise DetectorFileError(f"{where}: field '{key}' must be a string")
    for key in ("options", "imbalance", "command"):
        if metadata.get(key) is not None and not isinstance(metadata[key], dict):
            raise DetectorFileError(f"{where}: field '{key}' must be an object")
    if "metrics" in metadata:
        _metrics(metadata["metrics"], Field(where, "metrics"))
    if "data" in metadata:
        _data(metadata["data"], Field(where, "data"))
    if "split" in metadata:
        _split(metadata["split"], Field(where, "split"))
    if "head_roc_auc" in metadata:
        _numbers(metadata["head_roc_auc"], features, Field(where, "head_roc_auc"), low=0.0, high=1.0)
    if "heads" in metadata:
        _heads(metadata["heads"], layers, heads, Field(where, "heads"))
    if "documents" in metadata:
        section = _object(metadata["documents"], Field(where, "documents"))
        passages = _object(section.get("passages", {}), Field(where, "documents") / "passages")
        for key in ("gap_chars", "min_words", "min_longest_phrase", "min_phrase_words", "min_outside_phrase_words"):
            value = passages.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise DetectorFileError(f"{Field(where, 'documents') / 'passages' / key} must be a whole number "
                                        f"from 0, got {value!r}")
        floor = section.get("argmax_floor")
        if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float))
                                  or not 0 < floor <= 1):
            raise DetectorFileError(f"{Field(where, 'documents') / 'argmax_floor'} must be a number in (0, 1], "
                                    f"got {floor!r}")


@dataclass(frozen=True)
class Field:
    """A field of the file ``where``, named in messages as ``<file>: field 'a.b'``; ``field / "c"`` is ``a.b.c``."""

    where: str
    name: str

    def __str__(self) -> str:
        return f"{self.where}: field '{self.name}'"

    def __truediv__(self, key: str) -> Field:
        return Field(self.where, f"{self.name}.{key}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _object(value: Any, where: Field) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DetectorFileError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _numbers(value: Any, length: int, where: Field, *, low: float | None = None, high: float | None = None) -> None:
    """A list of ``length`` numbers (or null for "not measured"), each within ``[low, high]`` when given."""
    if not isinstance(value, list) or len(value) != length:
        raise DetectorFileError(f"{where} must be a list of {length} numbers, got "
                                f"{len(value) if isinstance(value, list) else type(value).__name__}")
    for item in value:
        if item is None:
            continue
        if not _number(item) or (low is not None and item < low) or (high is not None and item > high):
            raise DetectorFileError(f"{where} holds {item!r}, not a number" + (
                f" in [{low:g}, {high:g}]" if low is not None and high is not None else ""))


def _metrics(value: Any, where: Field) -> None:
    """``metrics``: a threshold, and tables (``word_level``, ``token_level``; ``scorers`` in older detectors) of
    scorer name -> measure -> number (or null)."""
    metrics = _object(value, where)
    if metrics.get("threshold") is not None and not _number(metrics["threshold"]):
        raise DetectorFileError(f"{where / 'threshold'} must be a number")
    for level in ("scorers", "word_level", "token_level", "phrase_level"):
        if level not in metrics:
            continue
        for name, row in _object(metrics[level], where / level).items():
            row = _object(row, where / level / name)
            for key, number in row.items():
                if number is not None and not _number(number):
                    raise DetectorFileError(f"{where / level / name / key} must be a number, got {number!r}")
            if level in ("word_level", "phrase_level"):  # what the headline and the card read
                for key in ("precision", "recall", "f1"):
                    if not _number(row.get(key)) or not 0.0 <= row[key] <= 1.0:
                        raise DetectorFileError(f"{where / level / name / key} must be a number in [0, 1]")


def _data(value: Any, where: Field) -> None:
    data = _object(value, where)
    for key in ("seed", "pairs", "windowed_pairs", "train_token_pairs", "train_positives", "train_sampled_rows",
                "validation_token_pairs", "test_token_pairs", "test_positives"):
        item = data.get(key)
        if item is not None and (not isinstance(item, int) or isinstance(item, bool) or item < 0):
            raise DetectorFileError(f"{where / key} must be a whole number from 0, got {item!r}")
    for key in ("source", "corpus", "pairs_file"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise DetectorFileError(f"{where / key} must be a string")
    if data.get("copies") is not None and data["copies"] not in COPIES:
        raise DetectorFileError(f"{where / 'copies'} must be one of {', '.join(COPIES)}, got {data['copies']!r}")
    if "generation" in data:
        pairs = _object(data["generation"], where / "generation").get("pairs")
        if pairs is not None and (not isinstance(pairs, int) or isinstance(pairs, bool) or pairs < 0):
            raise DetectorFileError(f"{where / 'generation' / 'pairs'} must be a whole number from 0")
    if "noise" in data:
        from mia.text.noise import Noise

        noise = _object(data["noise"], where / "noise")
        known = set(Noise.__dataclass_fields__)
        for key, rate in noise.items():
            if key not in known or not _number(rate) or not 0.0 <= rate <= 1.0:
                raise DetectorFileError(f"{where / 'noise' / key} must be a known rate in [0, 1], got {rate!r}")


def _split(value: Any, where: Field) -> None:
    split = _object(value, where)
    for key in ("test_ids", "validation_ids", "fit_or_tuned_on_hashes"):
        items = split.get(key)
        if items is not None and (not isinstance(items, list) or not all(isinstance(i, str) for i in items)):
            raise DetectorFileError(f"{where / key} must be a list of strings")
    for key in ("train", "validation", "test"):
        item = split.get(key)
        if item is not None and (not isinstance(item, int) or isinstance(item, bool) or item < 0):
            raise DetectorFileError(f"{where / key} must be a whole number from 0")


def _heads(value: Any, layers: int, heads: int, where: Field) -> None:
    section = _object(value, where)
    count = layers * heads
    for key in PER_HEAD_NUMBERS:
        if key in section:
            bounds = (0.0, 1.0) if key != "weight" else (None, None)
            _numbers(section[key], count, where / key, low=bounds[0], high=bounds[1])
    for key in PER_HEAD_INTERVALS:
        if key not in section:
            continue
        intervals = section[key]
        if not isinstance(intervals, list) or len(intervals) != count:
            raise DetectorFileError(f"{where / key} must be a list of {count} [low, high] pairs")
        for pair in intervals:
            if pair is None:
                continue
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(v is None or _number(v) for v in pair)
                    or (pair[0] is not None and pair[1] is not None and pair[0] > pair[1])):
                raise DetectorFileError(f"{where / key} holds {pair!r}, not a [low, high] pair")
    draws = section.get("auc_draws")
    if draws is not None:
        if not isinstance(draws, list):
            raise DetectorFileError(f"{where / 'auc_draws'} must be a list of resamples, each {count} AUCs")
        for index, row in enumerate(draws):
            _numbers(row, count, where / "auc_draws" / str(index), low=0.0, high=1.0)
    if "types" in section:
        scores = _object(_object(section["types"], where / "types").get("scores", {}), where / "types" / "scores")
        for direction, patterns in scores.items():
            for pattern, grid in _object(patterns, where / "types" / "scores" / direction).items():
                name = where / "types" / "scores" / direction / pattern
                if not isinstance(grid, list) or len(grid) != layers:
                    raise DetectorFileError(f"{name} must be {layers} rows of {heads} scores")
                for row in grid:
                    _numbers(row, heads, name)
