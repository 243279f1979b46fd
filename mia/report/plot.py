"""The layer x head heatmap of a detector's weights (matplotlib without pyplot: a notebook's backend stays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mia.detector.detector import Detector
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
        context = f", pair {offset_label(offset)}" if offset != (0, 0) else ""
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
