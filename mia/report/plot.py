"""The layer x head heatmap of a detector's weights (matplotlib without pyplot: a notebook's backend stays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mia.detector.detector import Detector
from mia.heads.ablation import AblationResult
from mia.models.layout import offset_label


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
        context = f", pair {offset_label(offset)}" if offset != (0, 0) else ""
        axis.set_title(f"{direction} attention{context}")
        axis.set_xlabel("head")
        axis.set_ylabel("layer")
        axis.set_xticks(range(layout.heads))
        axis.set_yticks(range(layout.layers))
    unsettled = _unsettled_heads(detector)
    for panel in range(len(panels)):
        axis = axes[panel // columns][panel % columns]
        for layer, head in unsettled:
            axis.text(head, layer, "×", ha="center", va="center", fontsize=8, color="0.35")
    fig.colorbar(image, ax=axes.ravel().tolist(),
                 label="standardised weight" + ("  (×: head's interval holds 0)" if unsettled else ""))
    fig.suptitle(f"mia detector heads: {detector.model_name} ({detector.card.relation})")
    return _save(fig, path)


def _save(fig: object, path: Path) -> Path:
    import io

    from mia.io import write_bytes_atomic

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=120, format=path.suffix.lower().lstrip("."))  # type: ignore[attr-defined]
    write_bytes_atomic(buffer.getvalue(), path)
    return path


def _unsettled_heads(detector: Detector) -> list[tuple[int, int]]:
    """(layer, head) of heads whose summed-weight bootstrap interval holds 0."""
    from mia.heads.ranking import head_summaries

    return [(h.layer, h.head) for h in head_summaries(detector) if h.weight_crosses_zero]


def plot_ablation(result: AblationResult, path: str | Path, *, title: str = "") -> Path:
    """Average precision against k for each ablation curve (random curves with their draws' range), the
    baselines as horizontal lines."""
    from matplotlib.figure import Figure

    path = check_plot_path(path)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    axis = fig.subplots()
    for name, values in result.curves.items():
        line, = axis.plot(result.ks, values, marker="o", label=name)
        draws = np.array(result.random_draws.get(name, []), float)
        if draws.size:
            finite = np.isfinite(draws).any(1)
            ks = np.array(result.ks)[finite]
            axis.fill_between(ks, draws[finite].min(1), draws[finite].max(1), color=line.get_color(), alpha=0.2)
    for (name, value), style in zip(result.baselines.items(), (":", "--", "-.")):
        axis.axhline(value, color="0.4", linestyle=style, label=f"baseline: {name}")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("k heads (detector's primary order)")
    axis.set_ylabel("average precision (eval pairs)")
    axis.legend(fontsize=8)
    axis.set_title(f"mia ablation {title}".strip())
    return _save(fig, path)
