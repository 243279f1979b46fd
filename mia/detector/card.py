"""A detector's card: what it records beyond its weights, as one typed view of ``detector.json``'s sections.

The sections are validated when the detector is read (:func:`mia.detector.record_sections.check_sections`); this is
the one place that knows their JSON keys and their defaults for detectors that record none. Every reader of a
detector's record (its decoding, its passage rule, its split, its heads' summaries, its measures) goes through
:attr:`mia.detector.detector.Detector.card`; the training writes the sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mia.alignment.decoding import ARGMAX_FLOOR, DECODERS, Decode
from mia.alignment.passages import PASSAGE_KEYS, PassageRule
from mia.errors import MiaError


@dataclass(frozen=True)
class DetectorCard:
    """The sections of a detector's record, typed.

    ``decode``: the word decoding it recommends; ``relation``: what its links mean; ``passage_rule`` and
    ``document_floor``: chosen for it on documents (else mia's defaults); ``test_ids``, ``validation_ids`` and
    ``fitted_hashes``: its split (pairs it was fit or tuned on, by content hash); ``data``: how its training pairs
    were made; ``heads``: its heads' summaries (AUCs, weights, intervals, types); ``head_roc_auc``: each feature
    column's own held-out AUC; ``metrics``: its held-out card; ``trained_with``, ``training_seconds``: how."""

    decode: Decode = "threshold"
    relation: str = ""
    passage_rule: PassageRule = PassageRule()
    document_floor: float = ARGMAX_FLOOR
    test_ids: tuple[str, ...] = ()
    validation_ids: tuple[str, ...] = ()
    fitted_hashes: frozenset[str] = frozenset()
    data: Mapping[str, Any] = field(default_factory=dict)
    heads: Mapping[str, Any] = field(default_factory=dict)
    head_roc_auc: tuple[float | None, ...] | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    split: Mapping[str, Any] = field(default_factory=dict)  # the whole split section (sizes, ids, hashes)
    trained_with: Any = None
    training_seconds: float | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> DetectorCard:
        decode = metadata.get("decode", "threshold")
        if decode not in DECODERS:
            raise MiaError(f"the detector records an unknown decoding {decode!r}; use one of {', '.join(DECODERS)}")
        documents = metadata.get("documents") or {}
        split = metadata.get("split") or {}
        aucs = metadata.get("head_roc_auc")
        return cls(
            decode=decode, relation=str(metadata.get("relation") or ""),
            passage_rule=passage_rule(documents.get("passages") or {}),
            document_floor=float(documents.get("argmax_floor", ARGMAX_FLOOR)),
            test_ids=tuple(split.get("test_ids") or ()), validation_ids=tuple(split.get("validation_ids") or ()),
            fitted_hashes=frozenset(split.get("fit_or_tuned_on_hashes") or ()),
            data=metadata.get("data") or {}, heads=metadata.get("heads") or {},
            head_roc_auc=None if aucs is None else tuple(aucs), metrics=metadata.get("metrics") or {},
            split=split, trained_with=metadata.get("trained_with"), training_seconds=metadata.get("training_seconds"),
        )


def passage_rule(recorded: Mapping[str, Any]) -> PassageRule:
    """The passage rule of a record's ``documents.passages`` (its JSON keys:
    :data:`mia.alignment.passages.PASSAGE_KEYS`); mia's default for each setting it does not hold."""
    default = PassageRule()
    return PassageRule(**{name: recorded.get(key, getattr(default, name)) for name, (key, _) in PASSAGE_KEYS.items()})
