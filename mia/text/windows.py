"""Windows over a long text: runs of whole sentences that fit a token budget, overlapping by a sentence.

A text's tokens (their character spans, from the model's tokenizer) and its sentences (character spans, from the
same spaCy splitter as ``generate``) give *units*: a sentence's tokens, or, for a sentence longer than a window,
pieces of it cut at token boundaries (``size`` tokens each, overlapping by a quarter window). A window is a
maximal run of consecutive units whose tokens fit ``size``; the next window starts at the last unit of the one
before (one sentence of overlap, as long as that leaves the window at least half new), so:

* every sentence of at most ``size`` tokens lies whole inside at least one window;
* a window's extent depends only on the text and ``size``, never on the text it is compared with.

Nothing here knows a model: the caller passes token spans and the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """Tokens ``[start, end)`` of a text, and the characters ``[char_start, char_end)`` they cover."""

    start: int
    end: int
    char_start: int
    char_end: int

    @property
    def tokens(self) -> int:
        return self.end - self.start

    def to_dict(self) -> dict[str, list[int]]:
        return {"tokens": [self.start, self.end], "chars": [self.char_start, self.char_end]}


def sentence_units(
    token_spans: np.ndarray, sentence_spans: Sequence[tuple[int, int]], size: int
) -> list[tuple[int, int]]:
    """Token ranges ``[start, end)`` of the units: each sentence's tokens, long sentences cut into pieces.

    ``token_spans`` ``[n, 2]``: character spans of the text's tokens, in order. Tokens outside every sentence
    (whitespace-only tokens, text the splitter dropped) join the unit after them.
    """
    if size < 1:
        raise ValueError("a window holds at least one token")
    n = len(token_spans)
    if n == 0:
        return []
    starts = token_spans[:, 0]
    boundaries = sorted({0, *(int(np.searchsorted(starts, start, side="left")) for start, _ in sentence_spans)})
    boundaries = [b for b in boundaries if b < n] + [n]
    units: list[tuple[int, int]] = []
    for first, last in zip(boundaries[:-1], boundaries[1:]):
        if last - first <= size:
            units.append((first, last))
            continue
        stride = max(1, size - size // 4)  # a long sentence: pieces of `size` tokens overlapping by a quarter
        piece = first
        while True:
            units.append((piece, min(piece + size, last)))
            if piece + size >= last:
                break
            piece += stride
    return units


def plan_windows(token_spans: np.ndarray, sentence_spans: Sequence[tuple[int, int]], size: int) -> list[Window]:
    """The windows of a text of ``len(token_spans)`` tokens for a budget of ``size`` tokens (module docstring)."""
    units = sentence_units(token_spans, sentence_spans, size)
    windows: list[Window] = []
    first = 0
    while first < len(units):
        last = first
        while last + 1 < len(units) and units[last + 1][1] - units[first][0] <= size:
            last += 1
        start, end = units[first][0], units[last][1]
        windows.append(Window(start, end, int(token_spans[start, 0]), int(token_spans[end - 1, 1])))
        if last + 1 >= len(units):
            break
        overlap = units[last][1] - units[last][0]
        # next window starts at the last unit (one sentence of overlap) unless that would leave it mostly old
        first = last if last > first and overlap <= size // 2 else last + 1
    return windows


def most_central(windows: Sequence[Window], n_tokens: int) -> np.ndarray:
    """For each token, the window where it sits most centrally (the largest distance to an edge): int ``[n]``.

    Each token pair is then taken from exactly one window pair (training labels, sampled rows), so overlaps do
    not count a token pair twice.
    """
    home = np.full(n_tokens, -1, dtype=np.int64)
    best = np.full(n_tokens, -1, dtype=np.int64)
    for index, window in enumerate(windows):
        positions = np.arange(window.start, window.end)
        margin = np.minimum(positions - window.start, window.end - 1 - positions)
        better = margin > best[window.start : window.end]
        home[window.start : window.end][better] = index
        best[window.start : window.end][better] = margin[better]
    return home
