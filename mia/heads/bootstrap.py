"""How far to trust the per-head numbers: bootstrap over text pairs.

Token pairs of one text pair are not independent (a copied sentence gives many positives at once), so every
resample draws **text pairs** with replacement and a row counts as often as its text pair was drawn. Two
resamplings:

* :func:`bootstrap_coefficients`: the regression refitted on resamples of the training pairs (the scaler of the
  main fit kept, each refit started from the main fit's weights), each on at most ``max_rows`` of the resample's
  rows, thinned afresh per refit (so the thinning's noise widens the interval rather than shifting it). The
  spread of each weight over the refits is its interval. Both shortcuts were measured against refits that repeat
  the main fit exactly on every row of the resample, from zero (``from_zero``, ``max_rows`` above the rows;
  ``python benchmarks/weight_convergence.py``, see the README): lbfgs stops this barely penalised fit far short of
  its optimum, so where a fit stops depends on its start and its rows. Refits from the main fit's weights on
  50,000 rows spread about as the exact refits do; refits from zero on 50,000 rows spread about twice as wide.
* :func:`bootstrap_auc`: each column's own ROC AUC recomputed on resamples of the test pairs (no refit: a column's
  AUC does not depend on the regression). Columns are sorted once; each resample is a weighted count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mia.detector.record import FeatureTransform
from mia.detector.scoring import transform_features
from mia.errors import MiaError
from mia.evaluate.metrics import auc_of_tallies
from mia.models.layout import FeatureLayout

GATHER_ROWS = 8_192  # rows gathered per step into a refit's buffer (a temporary of one block)


def gather_rows(features: np.ndarray, index: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[k] = features[index[k]]`` (``features`` ``[N, F]`` float16 or float32, ``out`` float32
    ``[len(index), F]``), a block of rows at a time. Torch converts float16 about four times as fast as numpy here
    (0.11 s against 0.47 s for 50,000 of 168,000 rows x 1,296 columns), with the same values."""
    import torch

    source, target = torch.from_numpy(features), torch.from_numpy(out)
    for start in range(0, len(index), GATHER_ROWS):
        rows = torch.from_numpy(np.asarray(index[start : start + GATHER_ROWS], np.int64))
        target[start : start + len(rows)].copy_(torch.index_select(source, 0, rows))
    return out


def pair_counts(pair_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How often each row's text pair is drawn in one resample of the pairs (with replacement): float32 ``[N]``."""
    pairs = np.unique(pair_index)
    drawn = rng.choice(pairs, size=len(pairs), replace=True)
    counts = np.zeros(int(pair_index.max()) + 1 if len(pair_index) else 0, np.float32)
    np.add.at(counts, drawn, 1.0)
    return counts[pair_index]


def bootstrap_coefficients(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, pair_index: np.ndarray, pipeline: Any, *,
    transform: FeatureTransform, refits: int, rng: np.random.Generator, max_rows: int = 50_000,
    standardised: bool = False, from_zero: bool = False,
) -> np.ndarray:
    """Standardised weights of ``refits`` regressions fitted on resamples of the text pairs: float64 ``[refits, F]``.

    ``features`` ``[N, F]``, ``labels``, ``weights``, ``pair_index`` ``[N]``: the training rows, float16 attention
    weights, or (``standardised``) the main fit's own standardised inputs (float32, or rounded to float16 as training
    keeps them), read as they are;
    ``pipeline``: the main fit (its scaler standardises every refit's rows; its regression's ``C`` and weights are
    the start of every refit, or only its ``C`` with ``from_zero``, which starts each refit from zero as the main
    fit started).
    """
    from sklearn.base import clone

    if refits < 1:
        return np.zeros((0, features.shape[1]))
    if len(np.unique(pair_index)) < 2:
        raise MiaError("bootstrap intervals need rows from at least 2 training pairs")
    scaler, regression = pipeline[0], pipeline[-1]
    draws = np.zeros((refits, features.shape[1]))
    buffer: np.ndarray | None = None
    for refit in range(refits):
        for _ in range(100):  # a resample holding one class only is drawn again
            counts = pair_counts(pair_index, rng)
            drawn = np.flatnonzero(counts > 0)
            if labels[drawn].any() and not labels[drawn].all():
                break
        else:
            raise MiaError("bootstrap resamples of the training pairs hold one class only; give more pairs")
        scale = 1.0
        if len(drawn) > max_rows:  # a fresh uniform thinning per refit, weights scaled: its noise is in the interval
            scale = len(drawn) / max_rows
            drawn = np.sort(rng.choice(drawn, size=max_rows, replace=False))
        if standardised:  # gathered (as float32) into one buffer reused by every refit, a block at a time
            if buffer is None:
                buffer = np.empty((min(max_rows, len(features)), features.shape[1]), np.float32)
            x = gather_rows(features, drawn, buffer[: len(drawn)])
        else:
            x = scaler.transform(transform_features(features[drawn], transform)).astype(np.float32)
        model = clone(regression)  # unfitted: from zero unless started at the main fit's weights
        if not from_zero:
            model.set_params(warm_start=True)
            model.coef_, model.intercept_ = regression.coef_.copy(), regression.intercept_.copy()
        model.fit(x, labels[drawn], sample_weight=weights[drawn] * counts[drawn] * np.float32(scale))
        draws[refit] = model.coef_[0]
        del x, model  # the next refit's rows are gathered without these alive
    return draws


def bootstrap_auc(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, pair_index: np.ndarray, *,
    draws: int, rng: np.random.Generator,
) -> np.ndarray:
    """Each column's weighted ROC AUC on ``draws`` resamples of the text pairs: float64 ``[draws, F]``."""
    resamples = np.stack([pair_counts(pair_index, rng) for _ in range(draws)]) if draws else np.zeros((0, len(labels)))
    return column_auc(features, labels, weights, resamples)


def column_auc(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each column of ``features`` ``[N, F]`` as a score: its weighted ROC AUC under each row of ``counts``
    ``[D, N]`` (how often each row counts; ones for the plain AUC): float64 ``[D, F]``, NaN where a class is absent.

    Each column's rows are grouped by distinct value once (float16 columns by their bit pattern, without a sort)
    and every count vector is a weighted tally over those values. Ties count one half, as in scikit-learn's
    ``roc_auc_score``.
    """
    result = np.full((len(counts), features.shape[1]), np.nan)
    labels = labels.astype(bool)
    counted = np.asarray(counts, np.float64) * weights  # [D, N]: each row's weight in each draw
    positive_weight, negative_weight = counted * labels, counted * ~labels
    block = 64  # columns copied out together: reading strided columns one by one took half of the time
    for column in range(features.shape[1]):
        if column % block == 0:
            columns = np.ascontiguousarray(features[:, column : column + block].T)  # [block, N]
        n_values, group = value_ranks(columns[column % block])
        for draw in range(len(counts)):
            positive = np.bincount(group, weights=positive_weight[draw], minlength=n_values)
            negative = np.bincount(group, weights=negative_weight[draw], minlength=n_values)
            result[draw, column] = auc_of_tallies(positive, negative)
    return result


def value_ranks(column: np.ndarray) -> tuple[int, np.ndarray]:
    """The number of distinct values of ``column`` ``[N]`` and each row's rank among them, int ``[N]`` (equal values,
    -0 and +0 too, share a rank), as ``np.unique(column, return_inverse=True)`` gives it.

    A float16 column is ranked by its bit pattern mapped to an order-preserving 16-bit key (one tally over 65,536
    keys, no sort); other dtypes by ``np.unique``. NaN is not expected (attention weights and their transforms are
    finite)."""
    if column.dtype != np.float16:
        values, group = np.unique(column.astype(np.float32), return_inverse=True)
        return len(values), group.reshape(-1)
    bits = (column + np.float16(0.0)).view(np.uint16).astype(np.int32)  # + 0 turns -0 into +0
    magnitude = bits & 0x7FFF
    key = np.where(bits & 0x8000, 0x7FFF - magnitude, 0x8000 + magnitude)  # negatives reversed, below positives
    present = np.bincount(key, minlength=0x10000) > 0
    rank = np.cumsum(present) - 1
    return int(present.sum()), rank[key]


def interval(draws: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Percentile interval of each column over the draws: float64 ``[F, 2]`` (NaN where there are no draws)."""
    if len(draws) == 0:
        return np.full((draws.shape[1], 2), np.nan)
    tail = (1 - level) / 2 * 100
    return np.nanpercentile(draws, [tail, 100 - tail], axis=0).T


def centred_interval(estimate: np.ndarray, draws: np.ndarray, level: float = 0.95) -> np.ndarray:
    """The draws' spread around their median, placed around ``estimate``: float64 ``[F, 2]``.

    Refits on fewer distinct rows than the main fit (a resample holds about 63% of the pairs, thinned to
    ``max_rows``) were measured to inflate strong weights (likely logistic regression's small-sample bias away from
    0, large where copies are nearly separable; not verified), which shifts the whole percentile interval; its
    width is what the resampling says.
    """
    if len(draws) == 0:
        return np.full((draws.shape[1], 2), np.nan)
    return estimate[:, None] + (interval(draws, level) - np.nanmedian(draws, axis=0)[:, None])


def top_share(draws: np.ndarray, k: int = 10) -> np.ndarray:
    """How often each column is among the ``k`` largest over the draws: float64 ``[F]``."""
    if len(draws) == 0:
        return np.full(draws.shape[1], np.nan)
    top = np.argsort(-np.nan_to_num(draws, nan=-np.inf), axis=1, kind="stable")[:, :k]
    counts = np.zeros(draws.shape[1])
    np.add.at(counts, top.reshape(-1), 1.0)
    return counts / len(draws)


def head_summary(
    layout: FeatureLayout, coef: np.ndarray, coef_draws: np.ndarray, auc: np.ndarray, auc_draws: np.ndarray,
    *, top: int = 10,
) -> dict[str, Any]:
    """One entry per attention head (``layer * heads + head``), its columns combined: the ranking ``heads`` leads
    with (own held-out ROC AUC at ``(i, j)``, mean over directions) and the summed standardised weight, each with
    its bootstrap interval and how often the head is in the top ``top``."""
    def weight_of(values: np.ndarray) -> np.ndarray:
        return layout.by_head(values).sum((-3, -2))

    def auc_of(values: np.ndarray) -> np.ndarray:
        return layout.by_head(values)[..., 0, :, :].mean(-2)

    weight_draws, head_auc_draws = weight_of(coef_draws), auc_of(auc_draws)

    def rounded(values: np.ndarray) -> list[Any]:
        return np.round(values, 4).tolist()

    return {
        "unit": "attention head (layer, head): index layer * heads + head",
        "ranking": "own held-out ROC AUC at (i, j), mean over directions (stable across corpora; see README)",
        "auc": rounded(auc_of(auc)),
        "auc_interval": rounded(interval(head_auc_draws)),
        f"auc_top{top}_share": rounded(top_share(head_auc_draws, top)),
        "auc_draws": rounded(head_auc_draws),  # [draws, heads]: the resampled rankings, for compare-heads' intervals
        "weight": rounded(weight_of(coef)),
        "weight_combined": "sum of the head's standardised weights over its columns (directions and offsets)",
        "weight_interval": rounded(centred_interval(weight_of(coef), weight_draws)),
        "weight_interval_percentile": rounded(interval(weight_draws)),
        "weight_interval_rule": "the refits' 2.5th-97.5th percentile spread around their median, placed around "
                                "the weight (refits on fewer rows inflate strong weights: see mia.heads.bootstrap)",
        f"weight_top{top}_share": rounded(top_share(weight_draws, top)),
    }
