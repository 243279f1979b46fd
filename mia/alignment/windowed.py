"""Texts of any length: a pair that fits the model runs whole; a longer one runs as window pairs.

:func:`plan_pair` gives a :class:`WindowedPair`: the pair whole when it fits (exactly today's single run), else
both texts cut into windows (:mod:`mia.text.windows`) of a fixed size per side from the model's limit, and the
window pairs to run: those of the sentence pairs the candidate families propose (``candidates="sentences"``,
:mod:`mia.alignment.candidate_windows`), or all of them (``"all"``, the exhaustive reference, and what training
uses). Each
window pair is an ordinary pair (the window texts, with the links clipped to them) scored by the unchanged
detector. A token pair's probability is the **maximum over the window pairs that
hold both tokens**: a copy is evidence wherever it is seen whole, and a window pair that misses the context of
a match should not outvote one that sees it.

Each text is tokenised once; a window is a range of its tokens, and a window pair's model input is assembled from
those ids (:meth:`~mia.models.attention.AttentionModel.assemble`), never by tokenising window texts again. Window
tokens are mapped back to the tokens of the whole text by character position. Combining is dense for
``evaluate`` and ``train`` (every token pair kept, exact) and sparse for documents (:class:`SparseScores`: only
token pairs at or above a small floor, so memory grows with what is found, not with n_a x n_b).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mia.alignment.candidate_windows import (
    CANDIDATES,
    Candidates,
    candidate_units,
    candidate_window_pairs,
    sentence_homes,
)
from mia.alignment.detection import SparseScores
from mia.alignment.sentence_candidates import CandidateOptions
from mia.errors import MiaError
from mia.io import printable
from mia.models.attention import AttentionModel
from mia.models.blocks import PairFeatures, SideReader
from mia.models.encoding import EncodedPair, PairTooLong, TextTokens
from mia.progress import Progress, no_progress
from mia.text.corpus import split_sentences
from mia.text.pairs import Link, Pair
from mia.text.windows import Window, most_central, plan_windows

COMBINE_RULE = "a token pair's probability is the maximum over the window pairs that hold both tokens"
DEFAULT_FLOOR = 0.1
MAX_KEPT = 5_000_000  # token pairs kept above the floor for one long pair (about 60 MB), at most
Spanned = EncodedPair | PairFeatures  # anything with the token spans a_spans, b_spans of a window pair
WindowScorer = Callable[[Sequence[EncodedPair]], list[np.ndarray]]  # probabilities [n_a_w, n_b_w] per window pair


@dataclass
class WindowedPair:
    """A pair planned for a model. ``a_spans``/``b_spans``: the whole texts' token spans; ``windows``: per side;
    ``window_pairs``: ``(a window, b window)`` indices to run; ``whole``: the encoded pair when it fits."""

    pair: Pair
    a_spans: np.ndarray
    b_spans: np.ndarray
    a_windows: list[Window]
    b_windows: list[Window]
    window_pairs: list[tuple[int, int]]
    whole: EncodedPair | None = None
    sizes: tuple[int, int] = (0, 0)
    candidates: str | None = None  # how the window pairs were chosen: "sentences" or "all" (None: whole)
    tokens: tuple[TextTokens, TextTokens] | None = None  # each text's tokens, made once (None: whole only)
    candidate_counts: dict[str, Any] = field(default_factory=dict)
    _homes: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.a_spans), len(self.b_spans)

    def settings(self) -> dict[str, Any]:
        """What JSON output records about the windows of this pair."""
        return {
            "rule": COMBINE_RULE,
            "whole": self.whole is not None,
            "window_tokens": list(self.sizes),
            "a_windows": len(self.a_windows),
            "b_windows": len(self.b_windows),
            "window_pairs_run": len(self.window_pairs),
            "window_pairs_all": len(self.a_windows) * len(self.b_windows),
            "candidates": self.candidates,
            **({"candidate_counts": self.candidate_counts} if self.candidate_counts else {}),
        }

    def sub_pair(self, a_index: int, b_index: int) -> Pair:
        """The window pair as an ordinary pair: the window texts and the links clipped to them."""
        wa, wb = self.a_windows[a_index], self.b_windows[b_index]
        links = tuple(clipped for link in self.pair.links
                      if (clipped := clip_link(self.pair, link, wa, wb)) is not None)
        return Pair(f"{self.pair.id}#{a_index}x{b_index}", self.pair.a[wa.char_start : wa.char_end],
                    self.pair.b[wb.char_start : wb.char_end], links)

    def window_tokens(self, a_index: int, b_index: int) -> tuple[TextTokens, TextTokens]:
        """The tokens of the two windows of a window pair (ranges of each text's tokens)."""
        if self.tokens is None:
            raise MiaError("this pair was planned from its model input alone; it has no windows")
        (a, b), wa, wb = self.tokens, self.a_windows[a_index], self.b_windows[b_index]
        return (a.part(wa.start, wa.end, wa.char_start, wa.char_end),
                b.part(wb.start, wb.end, wb.char_start, wb.char_end))

    def token_maps(self, a_index: int, b_index: int, item: Spanned) -> tuple[np.ndarray, np.ndarray]:
        """For each token of an encoded window pair, its index among the whole text's tokens: a window's tokens are
        the slice ``[start, end)`` of its text's (:meth:`window_tokens`), so the map is that range."""
        maps = []
        for window, spans in ((self.a_windows[a_index], item.a_spans), (self.b_windows[b_index], item.b_spans)):
            if len(spans) != window.end - window.start:
                raise ValueError(f"an encoded window pair of {len(spans)} tokens for a window of "
                                 f"{window.end - window.start}: encode window pairs with window_tokens")
            maps.append(np.arange(window.start, window.end, dtype=np.int64))
        return maps[0], maps[1]

    def homes(self) -> tuple[np.ndarray, np.ndarray]:
        """For each token of A and of B, the window where it sits most centrally (computed once per pair)."""
        if self._homes is None:
            self._homes = (most_central(self.a_windows, len(self.a_spans)),
                           most_central(self.b_windows, len(self.b_spans)))
        return self._homes


def plan_pair(model: AttentionModel, pair: Pair | EncodedPair, *, candidates: Candidates = "sentences",
              candidate_options: CandidateOptions = CandidateOptions()) -> WindowedPair:
    """Plan ``pair`` for ``model``: whole if it fits, else windows (see the module docstring). Each text is tokenised
    once here; a pair already encoded (a window pair a search worker received) is planned whole as it is."""
    if isinstance(pair, EncodedPair):
        return whole_plan(pair)
    if candidates not in CANDIDATES:
        raise MiaError(f"unknown candidates {candidates!r}: use one of {', '.join(CANDIDATES)}")
    a, b = model.tokens(pair.a), model.tokens(pair.b)
    if model.fits(len(a), len(b)):
        return whole_plan(model.assemble(pair, a, b))
    size_a, size_b = model.window_sizes()
    a_sentences, b_sentences = split_sentences(pair.a), split_sentences(pair.b)
    a_windows = plan_windows(a.spans, a_sentences, size_a)
    b_windows = plan_windows(b.spans, b_sentences, size_b)
    if not a_windows or not b_windows:
        raise MiaError(f"pair {pair.id!r}: text {'A' if not a_windows else 'B'} has no tokens")
    counts: dict[str, Any] = {}
    if candidates == "all":
        chosen = [(i, j) for i in range(len(a_windows)) for j in range(len(b_windows))]
    else:
        chosen, counts = candidate_window_pairs(
            model, a, b, sentence_homes(candidate_units(pair.a, a_sentences), a_windows),
            sentence_homes(candidate_units(pair.b, b_sentences), b_windows), candidate_options)
    return WindowedPair(pair, a.spans, b.spans, a_windows, b_windows, chosen, None, (size_a, size_b), candidates,
                        (a, b), counts)


def whole_plan(whole: EncodedPair) -> WindowedPair:
    """The plan of a pair that fits the model: one window pair, the pair itself."""
    pair = whole.pair
    a_window = Window(0, len(whole.a_spans), 0, len(pair.a))
    b_window = Window(0, len(whole.b_spans), 0, len(pair.b))
    return WindowedPair(pair, whole.a_spans, whole.b_spans, [a_window], [b_window], [(0, 0)], whole,
                        sizes=(len(whole.a_spans), len(whole.b_spans)))


def clip_link(pair: Pair, link: Link, wa: Window, wb: Window) -> Link | None:
    """``link`` restricted to the window texts, in their coordinates (None when nothing of it is inside both).

    A verbatim link (equal strings) is clipped as the character-by-character copy it is; any other link is
    clipped on each side.
    """
    la, ra, lb, rb = link
    if pair.a[la:ra] == pair.b[lb:rb]:
        shift = lb - la
        start = max(la, wa.char_start, wb.char_start - shift)
        end = min(ra, wa.char_end, wb.char_end - shift)
        if end <= start:
            return None
        return (start - wa.char_start, end - wa.char_start, start + shift - wb.char_start, end + shift - wb.char_start)
    a0, a1 = max(la, wa.char_start), min(ra, wa.char_end)
    b0, b1 = max(lb, wb.char_start), min(rb, wb.char_end)
    if a1 <= a0 or b1 <= b0:
        return None
    return (a0 - wa.char_start, a1 - wa.char_start, b0 - wb.char_start, b1 - wb.char_start)


def iter_window_batches(
    planned: WindowedPair, model: AttentionModel, batch_size: int = 1,
) -> Iterator[tuple[list[tuple[int, int]], list[EncodedPair]]]:
    """The window pairs to run, ``batch_size`` at a time: their ``(a window, b window)`` indices and encodings
    (the whole pair when it fits). Batches of more than one are made of window pairs of similar length (sorted by
    their tokens), so that little of a batch is padding."""
    if planned.whole is not None:
        yield [(0, 0)], [planned.whole]
        return
    order = planned.window_pairs
    if batch_size > 1:
        order = sorted(order, key=lambda ij: planned.a_windows[ij[0]].tokens + planned.b_windows[ij[1]].tokens)
    for first in range(0, len(order), batch_size):
        indices = order[first : first + batch_size]
        yield indices, [model.assemble(planned.sub_pair(i, j), *planned.window_tokens(i, j)) for i, j in indices]


def iter_window_scores(
    planned: WindowedPair, model: AttentionModel, scorer: WindowScorer, *, batch_size: int = 1,
    progress: Progress = no_progress,
) -> Iterator[tuple[int, int, EncodedPair, np.ndarray]]:
    """``(a window, b window, encoded window pair, probabilities)`` for every window pair to run; ``progress`` is
    told of each batch of a pair run as window pairs (one long pair can take minutes)."""
    batches: Iterable[tuple[list[tuple[int, int]], list[EncodedPair]]] = iter_window_batches(planned, model,
                                                                                             batch_size)
    if planned.whole is None:
        total = -(-len(planned.window_pairs) // batch_size)
        batches = progress(batches, f"pair {printable(planned.pair.id)}: window pairs"
                           + (f" ({batch_size} a batch)" if batch_size > 1 else ""), total)
    for indices, items in batches:
        for (i, j), item, probabilities in zip(indices, items, scorer(items)):
            yield i, j, item, probabilities


def dense_scores(
    planned: WindowedPair, model: AttentionModel, scorer: WindowScorer, *, batch_size: int = 1,
    progress: Progress = no_progress,
) -> np.ndarray:
    """Every token pair's probability, float32 ``[n_a, n_b]`` (exact: for evaluation and training)."""
    if planned.whole is not None:
        return scorer([planned.whole])[0]
    combined = np.zeros(planned.shape, dtype=np.float32)
    for i, j, item, probabilities in iter_window_scores(planned, model, scorer, batch_size=batch_size,
                                                        progress=progress):
        combine_max(combined, planned, i, j, item, probabilities)
    return combined


def combine_max(combined: np.ndarray, planned: WindowedPair, a_index: int, b_index: int, item: Spanned,
                probabilities: np.ndarray) -> None:
    """``combined[i, j] = max(combined[i, j], p)`` for each token pair of one window pair, in whole-text indices."""
    rows, cols = planned.token_maps(a_index, b_index, item)
    keep_r, keep_c = rows >= 0, cols >= 0
    np.maximum.at(combined, (rows[keep_r][:, None], cols[keep_c][None, :]), probabilities[keep_r][:, keep_c])


def iter_window_features(
    planned: WindowedPair, model: AttentionModel, *, batch_size: int = 1, also: SideReader | None = None
) -> Iterator[tuple[int, int, PairFeatures]]:
    """``(a window, b window, features)`` of every window pair to run (the whole pair when it fits); ``also``: a
    second reader of the same forward passes (:meth:`AttentionModel.iter_features`)."""
    for indices, items in iter_window_batches(planned, model, batch_size):
        for (i, j), features in zip(indices, model.iter_features(items, batch_size=batch_size, also=also)):
            yield i, j, features


def sparse_scores(planned: WindowedPair, model: AttentionModel, scorer: WindowScorer, *, floor: float = DEFAULT_FLOOR,
                  batch_size: int = 1, max_kept: int | None = None, progress: Progress = no_progress) -> SparseScores:
    """Token pairs at or above ``floor`` with their maximum probability (for documents: memory grows with what
    is found, and more than ``max_kept`` of them is an error for this pair, not gigabytes)."""
    keys, values = [], []
    kept, max_kept = 0, MAX_KEPT if max_kept is None else max_kept
    n_b = planned.shape[1]
    for i, j, item, probabilities in iter_window_scores(planned, model, scorer, batch_size=batch_size,
                                                        progress=progress):
        rows, cols = planned.token_maps(i, j, item)
        r, c = np.nonzero(probabilities >= floor)
        ok = (rows[r] >= 0) & (cols[c] >= 0)
        kept += int(ok.sum())
        if kept > max_kept:
            raise MiaError(f"pair {planned.pair.id!r}: more than {max_kept:,} token pairs score at or above "
                           f"{floor:g}; a threshold this low links nearly everything in long texts: raise --threshold")
        keys.append(rows[r[ok]] * n_b + cols[c[ok]])
        values.append(probabilities[r[ok], c[ok]])
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    value = np.concatenate(values) if values else np.zeros(0, np.float32)
    order = np.lexsort((-value, key))  # by key, highest value first: the first of each key is its maximum
    key, value = key[order], value[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    key, value = key[first], value[first]
    return SparseScores(planned.shape, key // max(n_b, 1), key % max(n_b, 1), value.astype(np.float32), floor)


def home_masks(planned: WindowedPair, a_index: int, b_index: int, item: Spanned) -> tuple[np.ndarray, np.ndarray]:
    """bool masks over an encoded window pair's tokens: the tokens whose most central window is this one.

    Training and held-out sampling take a token pair only from the window pair of both tokens' homes, so each
    token pair is counted once however the windows overlap.
    """
    if planned.whole is not None:
        return np.ones(len(item.a_spans), bool), np.ones(len(item.b_spans), bool)
    home_a, home_b = planned.homes()
    rows, cols = planned.token_maps(a_index, b_index, item)
    a_mask = (rows >= 0) & (home_a[np.maximum(rows, 0)] == a_index)
    b_mask = (cols >= 0) & (home_b[np.maximum(cols, 0)] == b_index)
    return a_mask, b_mask


def encode_pairs_that_fit(model: AttentionModel, pairs: Sequence[Pair]) -> tuple[list[EncodedPair], list[str]]:
    """The pairs that fit the model's length, encoded, and the ids of those too long (skipped, never truncated)."""
    kept, too_long = [], []
    for pair in pairs:
        try:
            kept.append(model.encode(pair))
        except PairTooLong:
            too_long.append(pair.id)
    return kept, too_long
