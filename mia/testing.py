"""For benchmarks and tests only (no command uses it): scoring a search against planted passages
(:mod:`mia.text.planted`), the rules of the planted-reuse benchmark.

* A gold passage is **found** when one output passage between its two documents covers at least half of it on
  both sides (the source span and the target span), whichever document the output names first.
* It **reached the detector** (candidate recall) when one scored window pair covers at least half of it on both
  sides.
* An output passage is **correct** (precision) when it overlaps a gold passage of its two documents on both sides,
  or the targets of two gold passages whose sources overlap (the same sentences planted into two documents are
  reuse between those two as well).
* A passage that is not correct is counted as **unplanted verbatim reuse** when its two texts share a run of at
  least ``RUN_WORDS`` equal words (lower-cased): text the documents had in common before anything was planted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mia.search.passages import Passage
from mia.text.planted import PlantedPassage
from mia.text.words import overlap

Span = tuple[str, int, int]  # (document id, first char, end char)
RUN_WORDS = 5


def covers(a: Span, b: Span, gold: PlantedPassage, share: float) -> bool:
    """Do spans ``a`` and ``b`` (in either order) overlap ``gold`` on both sides, each by at least ``share`` of it?"""
    for first, second in ((a, b), (b, a)):
        if first[0] == gold.source_id and second[0] == gold.target_id:
            source = overlap(first[1], first[2], gold.source_start, gold.source_end)
            target = overlap(second[1], second[2], gold.target_start, gold.target_end)
            if source > 0 and target > 0 and source >= share * (gold.source_end - gold.source_start) \
                    and target >= share * (gold.target_end - gold.target_start):
                return True
    return False


def covers_half(a: Span, b: Span, gold: PlantedPassage) -> bool:
    return covers(a, b, gold, 0.5)


def touches(a: Span, b: Span, gold: PlantedPassage) -> bool:
    return covers(a, b, gold, 0.0)


def _by_documents(gold: Sequence[PlantedPassage]) -> dict[frozenset[str], list[PlantedPassage]]:
    grouped: dict[frozenset[str], list[PlantedPassage]] = {}
    for passage in [*gold, *derived(gold)]:
        grouped.setdefault(frozenset((passage.source_id, passage.target_id)), []).append(passage)
    return grouped


def derived(gold: Sequence[PlantedPassage]) -> list[PlantedPassage]:
    """Reuse the planting made between two targets: two plants from overlapping spans of one source."""
    pairs = []
    for i, g in enumerate(gold):
        for h in gold[i + 1 :]:
            if g.source_id == h.source_id and g.target_id != h.target_id and \
                    overlap(g.source_start, g.source_end, h.source_start, h.source_end):
                pairs.append(PlantedPassage(g.target_id, g.target_start, g.target_end, h.target_id, h.target_start,
                                            h.target_end, g.noisy or h.noisy))
    return pairs


def found_gold(gold: Sequence[PlantedPassage], spans: Sequence[tuple[Span, Span]]) -> list[bool]:
    """For each gold passage, whether one of the span pairs covers half of it on both sides."""
    grouped: dict[frozenset[str], list[tuple[Span, Span]]] = {}
    for a, b in spans:
        grouped.setdefault(frozenset((a[0], b[0])), []).append((a, b))
    return [any(covers_half(a, b, g) for a, b in grouped.get(frozenset((g.source_id, g.target_id)), []))
            for g in gold]


def passage_spans(passages: Sequence[Passage]) -> list[tuple[Span, Span]]:
    return [((p.a_id, p.a_start, p.a_end), (p.b_id, p.b_start, p.b_end)) for p in passages]


def score_search(gold: Sequence[PlantedPassage], passages: Sequence[Passage],
                 scored_windows: Sequence[tuple[Span, Span]]) -> dict[str, Any]:
    """Candidate recall, passage recall and precision, overall and for verbatim and noisy plants."""
    reached = found_gold(gold, scored_windows)
    found = found_gold(gold, passage_spans(passages))
    grouped = _by_documents(gold)
    correct = [any(touches((p.a_id, p.a_start, p.a_end), (p.b_id, p.b_start, p.b_end), g)
                   for g in grouped.get(frozenset((p.a_id, p.b_id)), [])) for p in passages]

    def recall(flags: list[bool], noisy: bool | None) -> dict[str, Any]:
        chosen = [f for f, g in zip(flags, gold) if noisy is None or g.noisy == noisy]
        return {"gold": len(chosen), "found": sum(chosen), "recall": sum(chosen) / len(chosen) if chosen else None}

    # precision on verbatim plants: output passages that touch a noisy plant are left out of the count
    on_verbatim = [ok for ok, p in zip(correct, passages) if not _touches_noisy(p, grouped)]
    unplanted = sum(not ok and longest_common_run(p.a_text, p.b_text) >= RUN_WORDS for ok, p in zip(correct, passages))
    return {
        "candidate_recall": {kind: recall(reached, noisy) for kind, noisy in
                             (("all", None), ("verbatim", False), ("noisy", True))},
        "passage_recall": {kind: recall(found, noisy) for kind, noisy in
                           (("all", None), ("verbatim", False), ("noisy", True))},
        "passage_precision": {"passages": len(passages), "correct": sum(correct),
                              "precision": sum(correct) / len(passages) if passages else None,
                              "verbatim_passages": len(on_verbatim), "verbatim_correct": sum(on_verbatim),
                              "verbatim_precision": sum(on_verbatim) / len(on_verbatim) if on_verbatim else None,
                              f"not_correct_sharing_a_run_of_{RUN_WORDS}_words": unplanted},
    }


def longest_common_run(a: str, b: str) -> int:
    """The longest run of equal consecutive words (lower-cased) in ``a`` and ``b``."""
    wa, wb = re.findall(r"\w+", a.lower()), re.findall(r"\w+", b.lower())
    best, previous = 0, [0] * (len(wb) + 1)
    for x in wa:
        current = [0] * (len(wb) + 1)
        for j, y in enumerate(wb, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def _touches_noisy(p: Passage, grouped: dict[frozenset[str], list[PlantedPassage]]) -> bool:
    return any(g.noisy and touches((p.a_id, p.a_start, p.a_end), (p.b_id, p.b_start, p.b_end), g)
               for g in grouped.get(frozenset((p.a_id, p.b_id)), []))
