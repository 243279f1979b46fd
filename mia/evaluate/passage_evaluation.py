"""Evaluating a detector on documents with passage gold (a pair file whose links are passages, as ``import-pan``
writes): PAN's measures (:mod:`mia.evaluate.pan_measures`) of the detector's passages, exactly those ``detect``
prints (and
``detect --format pan`` writes), beside the document baselines (:mod:`mia.evaluate.document_baselines`) on the same
pairs, with the window pairs the detector scored and the time it took.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mia.alignment.candidate_windows import Candidates
from mia.alignment.detection import DetectionError
from mia.alignment.passages import PassageRule
from mia.detector.detector import Detector
from mia.errors import MiaError
from mia.evaluate.document_baselines import DOCUMENT_BASELINES
from mia.evaluate.pan_measures import Case, pan_scores
from mia.models.attention import AttentionModel
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair

PAN_COLUMNS = (("plagdet", "plagdet"), ("recall", "R"), ("precision", "P"), ("granularity", "gran"))
PAN_HEADLINE = ("PAN's plagdet of the detector's passages (what detect prints) on the document pairs, beside "
                "string baselines on the same pairs")


@dataclass
class PassageEvaluation:
    """PAN's measures per scorer, the counts behind them, and what the detector's run cost."""

    pairs: int
    cases: int
    scorers: dict[str, dict[str, float]]
    window_pairs_run: int
    window_pairs_all: int
    seconds: dict[str, float]
    failed: list[str] = field(default_factory=list)
    rule: dict[str, Any] = field(default_factory=dict)

    def headline(self) -> str:
        mine = self.scorers["detector"]
        others = ", ".join(f"{name} {row['plagdet']:.3f}" for name, row in self.scorers.items() if name != "detector")
        return (f"plagdet {mine['plagdet']:.3f} (R {mine['recall']:.3f}, P {mine['precision']:.3f}, granularity "
                f"{mine['granularity']:.2f}): the detector's passages on {self.pairs} document pairs ({self.cases} "
                f"gold passages); same pairs: {others}")

    def to_dict(self) -> dict[str, Any]:
        return {"headline": PAN_HEADLINE, "pairs": self.pairs, "cases": self.cases, "scorers": self.scorers,
                "window_pairs_run": self.window_pairs_run, "window_pairs_all": self.window_pairs_all,
                "seconds": self.seconds, "failed_pairs": self.failed, "passage_rule": self.rule}


def check_gold_passages(pairs: Sequence[Pair]) -> None:
    """Raise :class:`MiaError` (before any work) unless the pairs hold gold passages, each with characters on both
    sides: an empty or one-sided passage can be neither found nor missed, and PAN's recall would count it missed."""
    if not any(pair.links for pair in pairs):
        raise MiaError("the pairs hold no gold passage: there is nothing to measure against (give a pair file from "
                       "import-pan, or pairs whose links are passages)")
    for pair in pairs:
        for link in pair.links:
            if link[0] == link[1] or link[2] == link[3]:
                raise MiaError(f"pair {pair.id!r}: the gold passage {list(link)} is empty in "
                               f"{'A' if link[0] == link[1] else 'B'}; a passage needs characters in both texts "
                               "(fix or remove it)")


def evaluate_passages(
    detector: Detector, model: AttentionModel, pairs: Sequence[Pair], *, threshold: float | None = None,
    candidates: Candidates = "sentences", rule: PassageRule | None = None, batch_size: int = 1,
    progress: Progress = no_progress,
) -> PassageEvaluation:
    """PAN's measures of the detector's passages and of the document baselines against the pairs' links (taken as
    gold passages, A the suspicious document)."""
    check_gold_passages(pairs)
    rule = detector.passage_rule if rule is None else rule
    cases: list[Case] = [(pair.id, *link) for pair in pairs for link in pair.links]
    found: dict[str, list[Case]] = {"detector": []}
    run = total = 0
    failed: list[str] = []
    started = time.perf_counter()
    for detection in progress(detector.iter_detect(model, pairs, threshold=threshold, candidates=candidates,
                                                   passages=rule, batch_size=batch_size, progress=progress),
                                 "documents", len(pairs)):
        if isinstance(detection, DetectionError):
            failed.append(detection.pair.id)
            continue
        windows = detection.windows or {}
        run += int(windows.get("window_pairs_run", 1))
        total += int(windows.get("window_pairs_all", 1))
        found["detector"].extend((detection.pair.id, p.a_start, p.a_end, p.b_start, p.b_end)
                                 for p in detection.passages)
    seconds = {"detector": time.perf_counter() - started}
    for name, baseline in DOCUMENT_BASELINES.items():
        started = time.perf_counter()
        found[name] = [(pair.id, *span) for pair in pairs for span in baseline(pair.a, pair.b)]
        seconds[name] = time.perf_counter() - started
    scorers = {name: pan_scores(cases, detections).to_dict() for name, detections in found.items()}
    return PassageEvaluation(len(pairs), len(cases), scorers, run, total,
                             {k: round(v, 1) for k, v in seconds.items()}, failed, rule.to_dict())
