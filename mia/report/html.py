"""One self-contained HTML page per detector and its detections: inline CSS and JS, no network, one JSON blob.

The data (:func:`mia.report.report_data.report_data`) go into the page once, as JSON inside
``<script type="application/json">`` with ``<``, ``>``, ``&`` and the line separators escaped, so no text can close
the script element. The page's script reads it with ``JSON.parse`` and writes every text with ``textContent``
(never as HTML). Views are built for what is shown: the texts are cut only at phrase boundaries (no
n_a x n_b table), the attention and query-key rows of one token at a time.

:func:`render_html` returns an :class:`HtmlReport`: ``str()`` is the page, and in Jupyter it displays inline (in
an isolated frame).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>``, no ``<!--``, no raw line separators."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return "".join(ESCAPES.get(ch, ch) for ch in text)


def _asset(name: str) -> str:
    return resources.files("mia.report").joinpath("assets", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class HtmlReport:
    """A rendered report page. ``str(report)`` is the HTML; Jupyter shows it inline."""

    page: str
    data: dict[str, Any]

    def __str__(self) -> str:
        return self.page

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.page, quote=True)}" style="width:100%;height:720px;border:0" '
                'sandbox="allow-scripts"></iframe>')

    def save(self, path: str | Path) -> Path:
        """Write the page atomically to ``path``."""
        from mia.io import write_atomic

        write_atomic([self.page], path)
        return Path(path)


def report_page(detector: Any, model: Any = None, pairs: Any = (), **options: Any) -> HtmlReport:
    """Detect in ``pairs`` with ``detector`` (:func:`~mia.report.report_data.detector_report`; ``options`` go there)
    and render the page, in one call for a notebook::

        report_page(Detector.load("minilm-reuse"), pairs=[Pair("0", a, b)])  # displays inline in Jupyter
    """
    from mia.report.report_data import detector_report

    return render_html(detector_report(detector, model, pairs, **options))


def render_html(data: dict[str, Any]) -> HtmlReport:
    """The page for report data (:func:`~mia.report.report_data.report_data`, or ``mia report --format json``)."""
    title = f"mia report: {data['detector'].get('name') or data['detector']['model']}"
    page = (_asset("report.html")
            .replace("{{TITLE}}", html.escape(title))
            .replace("{{CSS}}", _asset("report.css"))
            .replace("{{JS}}", _asset("report.js"))
            .replace("{{DATA}}", script_json(data)))
    return HtmlReport(page, data)
