"""Passages: the phrases found between two texts, merged when they lie close together on both sides.

Phrases of fewer than ``min_phrase`` linked words take no part (a word linked to the same word nearby would widen
a passage past its copy). The gap rule: two phrases belong to one passage when the text between them is at most
``gap`` characters **in A and in B** (overlapping phrases have a gap of 0; the order on the two sides does not
matter, so a block of shuffled sentences comes out as one passage). Passages are the connected groups of that
relation; a passage's span on each side runs from its first phrase's start to its last phrase's end. A passage is
kept when its phrases hold at least ``min_words`` linked words in all and its longest phrase at least
``min_longest`` (common short phrases, "said Gatsby", "I don't know", recur between unrelated texts). ``detect``,
``evaluate`` and ``search`` apply this one rule.

For a pair that runs as window pairs (longer than the model), the links and phrases printed are those inside a kept
passage and, outside every passage, those of phrases of at least ``min_outside`` linked words (1: every link): most
window pairs of two documents hold no copy, and their best partners come out as one- and two-word links.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

DEFAULT_GAP = 300
DEFAULT_MIN_WORDS = 14  # 15 tokens before phrases counted decoded word links (0.95 regex words per MiniLM token)
DEFAULT_MIN_LONGEST = 8
# a passage setting's name in code (PassageRule), in records (detector.json's documents.passages, results), and on
# the command line (None: not an option)
PASSAGE_KEYS: dict[str, tuple[str, str | None]] = {
    "gap": ("gap_chars", "--gap"), "min_words": ("min_words", "--min-passage-words"),
    "min_longest": ("min_longest_phrase", "--min-longest-phrase"), "min_phrase": ("min_phrase_words", None),
    "min_outside": ("min_outside_phrase_words", "--min-outside-phrase")}


class PhraseSpan(NamedTuple):
    """A phrase as the rule reads it: its character spans in A and B, its linked words and its score (a plain
    6-tuple in this order is read the same)."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    words: int
    score: float


@dataclass(frozen=True)
class PassageRule:
    """The gap rule and the filter (recorded with every result)."""

    gap: int = DEFAULT_GAP
    min_words: int = DEFAULT_MIN_WORDS
    min_longest: int = DEFAULT_MIN_LONGEST
    min_phrase: int = 1
    min_outside: int = 1  # window pairs: links outside passages are printed in phrases of at least this many words

    def outside_for(self, *, windowed: bool) -> int:
        """The ``min_outside`` a pair is decoded with: this rule's when it runs as window pairs; 1 (every link) when
        it fits the model."""
        return self.min_outside if windowed else 1

    @staticmethod
    def outside_note(min_outside: int) -> str:
        """How output records which links outside passages a window pair prints (``min_outside`` > 1)."""
        return f"links in phrases of >= {min_outside} linked words"

    def to_dict(self, *, links: bool = True) -> dict[str, int]:
        """The rule as recorded; ``links=False`` leaves out the links filter (``min_outside``), for output that
        holds passages only (``mia search``)."""
        record = {key: getattr(self, name) for name, (key, _) in PASSAGE_KEYS.items()}
        if not links:
            del record[PASSAGE_KEYS["min_outside"][0]]
        return record


@dataclass(frozen=True)
class Passage:
    """A passage of reuse: character spans in A and B, the mean link probability of its phrases weighted by their
    linked words, its linked words, phrases, and the linked words of its longest phrase."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    score: float
    words: int
    phrases: int
    longest: int

    def to_dict(self, a_text: str, b_text: str) -> dict[str, Any]:
        return {"a": [self.a_start, self.a_end], "b": [self.b_start, self.b_end],
                "a_text": a_text[self.a_start : self.a_end], "b_text": b_text[self.b_start : self.b_end],
                "score": round(self.score, 4), "words": self.words, "phrases": self.phrases}


def gap(start: int, end: int, other_start: int, other_end: int) -> int:
    """Characters between two spans (0 when they overlap or touch)."""
    return max(0, max(start, other_start) - min(end, other_end))


def group_phrases(phrases: Sequence[PhraseSpan | tuple[int, int, int, int, int, float]], max_gap: int
                  ) -> list[list[PhraseSpan]]:
    """The connected groups of phrases under the gap rule (module docstring), each in A order. A sweep along A: only
    phrases within ``max_gap`` of each other in A are compared in B."""
    unique = sorted({PhraseSpan(*p) for p in phrases})
    parent = list(range(len(unique)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    active: list[int] = []  # phrases whose A end is within reach of the next A start
    for i, p in enumerate(unique):
        active = [j for j in active if unique[j].a_end + max_gap >= p.a_start]
        for j in active:
            q = unique[j]
            if (gap(p.a_start, p.a_end, q.a_start, q.a_end) <= max_gap
                    and gap(p.b_start, p.b_end, q.b_start, q.b_end) <= max_gap):
                parent[root(j)] = root(i)
        active.append(i)
    groups: dict[int, list[PhraseSpan]] = {}
    for i, p in enumerate(unique):
        groups.setdefault(root(i), []).append(p)
    return list(groups.values())


def merge_passages(phrases: Sequence[PhraseSpan | tuple[int, int, int, int, int, float]],
                   rule: PassageRule = PassageRule()) -> list[Passage]:
    """The passages the phrases of two texts form under ``rule``, in A order."""
    passages = []
    for group in group_phrases([p for p in map(PhraseSpan._make, phrases) if p.words >= rule.min_phrase], rule.gap):
        words, longest = sum(p.words for p in group), max(p.words for p in group)
        if words < rule.min_words or longest < rule.min_longest:
            continue
        score = sum(p.words * p.score for p in group) / max(words, 1)
        passages.append(Passage(min(p.a_start for p in group), max(p.a_end for p in group),
                                min(p.b_start for p in group), max(p.b_end for p in group), float(score), words,
                                len(group), longest))
    return sorted(passages, key=lambda p: (p.a_start, p.b_start))


def passage_shortfall(phrases: Sequence[PhraseSpan | tuple[int, int, int, int, int, float]], rule: PassageRule
                      ) -> str | None:
    """Why phrases formed no passage under ``rule``: the best group's linked words and longest phrase beside what the
    rule needs, and the options that lower it (None when no phrase takes part)."""
    groups = group_phrases([p for p in map(PhraseSpan._make, phrases) if p.words >= rule.min_phrase], rule.gap)
    if not groups:
        return None
    best = max(groups, key=lambda group: (sum(p.words for p in group), max(p.words for p in group)))
    words, longest = sum(p.words for p in best), max(p.words for p in best)
    return (f"no passage: the most linked words in phrases within {rule.gap} characters of each other are {words} "
            f"(a passage needs {rule.min_words}, --min-passage-words) with a longest phrase of {longest} "
            f"(needs {rule.min_longest}, --min-longest-phrase)")
