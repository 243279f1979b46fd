"""Reports: head rankings, the layer x head heatmap, and readable detections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mia.detector import Detection, Detector
from mia.io import printable
from mia.metrics import metrics_table


@dataclass(frozen=True)
class HeadWeight:
    """One attention head's standardised weight in the detector and its own held-out ROC AUC."""

    rank: int
    direction: str
    layer: int
    head: int
    weight: float
    roc_auc: float | None
    offset: int = 0  # diagonal context: the head's attention at (i + offset, j + offset)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "direction": self.direction,
            "layer": self.layer,
            "head": self.head,
            "offset": self.offset,
            "weight": round(self.weight, 4),
            "roc_auc": self.roc_auc,
        }


def rank_heads(detector: Detector, *, top: int | None = None) -> list[HeadWeight]:
    """Heads ranked by standardised weight, largest (strongest evidence of a link) first."""
    aucs = detector.metadata.get("head_roc_auc") or [None] * detector.layout.n_features
    order = np.argsort(-detector.coef, kind="stable")
    ranked = []
    for rank, feature in enumerate(order[: top if top else None], start=1):
        direction, layer, head, offset = detector.layout.head_of(int(feature))
        auc = aucs[feature]
        ranked.append(HeadWeight(rank, direction, layer, head, float(detector.coef[feature]),
                                 None if auc is None else float(auc), offset))
    return ranked


def heads_table(heads: list[HeadWeight]) -> str:
    with_offset = any(h.offset for h in heads)
    offset_header = f"  {'offset':>6}" if with_offset else ""
    lines = [f"{'rank':>4}  {'direction':<9}  {'layer':>5}  {'head':>4}{offset_header}  {'weight':>8}  {'head AUC':>8}"]
    for h in heads:
        auc = "-" if h.roc_auc is None else f"{h.roc_auc:.3f}"
        offset = f"  {h.offset:>+6d}" if with_offset else ""
        lines.append(f"{h.rank:>4}  {h.direction:<9}  {h.layer:>5}  {h.head:>4}{offset}  {h.weight:>8.3f}  {auc:>8}")
    return "\n".join(lines)


def plot_formats() -> dict[str, str]:
    """File suffixes (without the dot) matplotlib can write, with their names."""
    from matplotlib.backend_bases import FigureCanvasBase

    return dict(FigureCanvasBase.get_supported_filetypes())


def check_plot_path(path: str | Path, flag: str = "--plot") -> Path:
    """Check a plot destination before any work: a file name with a suffix matplotlib writes, in a writable
    folder (see :func:`mia.io.check_output_file`)."""
    from mia.errors import MiaError
    from mia.io import check_output_file

    check_output_file(path, flag)
    target = Path(path)
    suffix = target.suffix.lower().lstrip(".")
    formats = plot_formats()
    if suffix not in formats:
        raise MiaError(
            f"{flag} {target}: the file name must end in one of .png, .svg, .pdf (or "
            f"{', '.join('.' + f for f in sorted(formats) if f not in ('png', 'svg', 'pdf'))})"
        )
    return target


def plot_heads(detector: Detector, path: str | Path) -> Path:
    """Write a heatmap of the standardised weights, layer x head, one panel per direction (and offset).

    The format follows the file's suffix (``.png``, ``.svg``, ``.pdf``, ...). pyplot is not used, so a notebook's
    matplotlib backend is left as it is.
    """
    from matplotlib.figure import Figure

    from mia.io import write_bytes_atomic

    path = check_plot_path(path)
    layout = detector.layout
    panels = [(offset, direction) for offset in layout.offsets for direction in layout.directions]
    weights = detector.coef.reshape(len(panels), layout.layers, layout.heads)
    limit = float(np.abs(weights).max()) or 1.0
    columns = len(layout.directions)
    fig = Figure(
        figsize=(1.5 + 0.45 * layout.heads * columns, 0.6 + (0.6 + 0.4 * layout.layers) * len(layout.offsets)),
        layout="constrained",
    )
    axes = fig.subplots(len(layout.offsets), columns, squeeze=False)
    for panel, (offset, direction) in enumerate(panels):
        axis = axes[panel // columns][panel % columns]
        image = axis.imshow(weights[panel], cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        context = f", pair (i{offset:+d}, j{offset:+d})" if offset else ""
        axis.set_title(f"{direction} attention{context}")
        axis.set_xlabel("head")
        axis.set_ylabel("layer")
        axis.set_xticks(range(layout.heads))
        axis.set_yticks(range(layout.layers))
    fig.colorbar(image, ax=axes.ravel().tolist(), label="standardised weight")
    fig.suptitle(f"mia detector heads: {detector.model_name} ({detector.metadata.get('relation', '')})")
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=120, format=path.suffix.lower().lstrip("."))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(buffer.getvalue(), path)
    return path


def training_report(detector: Detector) -> str:
    """The held-out metrics of a detector beside the baselines, as text."""
    metrics = detector.metadata.get("metrics", {})
    data = detector.metadata.get("data", {})
    split = detector.metadata.get("split", {})
    title = (
        f"held-out test: {split.get('test', '?')} pairs, {data.get('test_token_pairs', '?')} token pairs "
        f"({data.get('test_positives', '?')} linked); threshold {metrics.get('threshold', float('nan')):.3f}"
    )
    return metrics_table(metrics.get("scorers", {}), title=title)


def detection_text(detection: Detection) -> str:
    """Phrases of a detection, readable."""
    pair = detection.pair
    lines = [f"pair {printable(pair.id)}: {len(detection.phrases)} phrases, {len(detection.links)} linked token pairs"]
    for phrase in detection.phrases:
        lines.append(
            f"  [{phrase.score:.2f}, {phrase.tokens} tokens] A[{phrase.a_start}:{phrase.a_end}] "
            f"~ B[{phrase.b_start}:{phrase.b_end}]  {phrase.a_text!r}"
        )
        if phrase.b_text != phrase.a_text:
            lines.append(f"  {'':>{len(str(phrase.score)) + 14}}B: {phrase.b_text!r}")
    return "\n".join(lines)
