"""PAN's measures of text alignment: passages of reuse found between document pairs, scored at character level.

From Potthast, Stein, Barrón-Cedeño and Rosso, "An Evaluation Framework for Plagiarism Detection" (COLING 2010),
as PAN's text-alignment evaluator computes them. A *case* ``s`` (gold) and a *detection* ``r`` are each a passage of
a suspicious document and a passage of a source document, taken as sets of character positions in both
(``|s| = |s_susp| + |s_src|``). ``r`` **detects** ``s`` when they share characters in the suspicious document *and*
in the source document. With ``s ⊓ r = s ∩ r`` when ``r`` detects ``s`` (else empty), over all cases ``S`` and all
detections ``R`` of a corpus:

* macro recall ``rec = 1/|S| * sum_s |∪_{r in R} (s ⊓ r)| / |s|``;
* macro precision ``prec = 1/|R| * sum_r |∪_{s in S} (s ⊓ r)| / |r|``;
* granularity ``gran = 1/|S_R| * sum_{s in S_R} |R_s|``, ``S_R`` the cases detected at all, ``R_s`` their detections;
* ``plagdet = F1(prec, rec) / log2(1 + gran)``.

Precision is 0 when nothing is detected (PAN counts it so), recall 0 when nothing is to be found; granularity is 1
when no case is detected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from mia.evaluate.metrics import f1_score
from mia.text.words import overlap

# a passage pair of one document pair: (pair id, a_start, a_end, b_start, b_end), A the suspicious document
Case = tuple[str, int, int, int, int]


def _overlap(start: int, end: int, other_start: int, other_end: int) -> tuple[int, int] | None:
    """The characters two spans share, as a span (None: none)."""
    return (max(start, other_start), min(end, other_end)) if overlap(start, end, other_start, other_end) else None


def _union_length(spans: list[tuple[int, int]]) -> int:
    """Characters covered by a set of spans (overlaps counted once)."""
    total, reach = 0, None
    for start, end in sorted(spans):
        if reach is None or start >= reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def detects(case: Case, detection: Case) -> bool:
    """Whether ``detection`` shares characters with ``case`` in both documents of the same pair."""
    return (case[0] == detection[0] and _overlap(case[1], case[2], detection[1], detection[2]) is not None
            and _overlap(case[3], case[4], detection[3], detection[4]) is not None)


def _covered(target: Case, others: Sequence[Case]) -> float:
    """The share of ``target``'s characters (both documents) inside the ``others`` that detect it / it detects."""
    a_spans, b_spans = [], []
    for other in others:
        if detects(target, other):
            a_spans.append(_overlap(target[1], target[2], other[1], other[2]))
            b_spans.append(_overlap(target[3], target[4], other[3], other[4]))
    size = (target[2] - target[1]) + (target[4] - target[3])
    if size <= 0:
        return 0.0
    return (_union_length([s for s in a_spans if s]) + _union_length([s for s in b_spans if s])) / size


@dataclass
class PanScores:
    """PAN's measures of detections against cases (module docstring), with the counts behind them."""

    recall: float
    precision: float
    granularity: float
    plagdet: float
    cases: int
    detections: int
    detected_cases: int
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, float | int]:
        return {"plagdet": self.plagdet, "recall": self.recall, "precision": self.precision,
                "granularity": self.granularity, "cases": self.cases, "detections": self.detections,
                "detected_cases": self.detected_cases, **self.extra}


def pan_scores(cases: Sequence[Case], detections: Sequence[Case]) -> PanScores:
    """Macro recall, macro precision, granularity and plagdet of ``detections`` against ``cases`` (module docstring).
    Cases and detections of several document pairs are told apart by their pair id."""
    by_pair_cases: dict[str, list[Case]] = {}
    by_pair_detections: dict[str, list[Case]] = {}
    for case in cases:
        by_pair_cases.setdefault(case[0], []).append(case)
    for detection in detections:
        by_pair_detections.setdefault(detection[0], []).append(detection)
    recall = sum(_covered(s, by_pair_detections.get(s[0], [])) for s in cases) / len(cases) if cases else 0.0
    precision = (sum(_covered(r, by_pair_cases.get(r[0], [])) for r in detections) / len(detections)
                 if detections else 0.0)
    found = [sum(detects(s, r) for r in by_pair_detections.get(s[0], [])) for s in cases]
    detected = [n for n in found if n > 0]
    granularity = sum(detected) / len(detected) if detected else 1.0
    plagdet = f1_score(precision, recall) / math.log2(1 + granularity)
    return PanScores(recall, precision, granularity, plagdet, len(cases), len(detections), len(detected))
