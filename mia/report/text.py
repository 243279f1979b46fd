"""Reports as text: the head table, the held-out metrics beside the baselines, readable detections."""

from __future__ import annotations

from mia.detector.detection import Detection
from mia.detector.detector import Detector
from mia.evaluate.metrics import metrics_table
from mia.heads.ranking import HeadWeight
from mia.io import printable
from mia.models.layout import offset_label


def heads_table(heads: list[HeadWeight]) -> str:
    with_offset = any(h.offset != (0, 0) for h in heads)
    offset_header = f"  {'offset':<10}" if with_offset else ""
    lines = [f"{'rank':>4}  {'direction':<9}  {'layer':>5}  {'head':>4}{offset_header}  {'weight':>8}  {'head AUC':>8}"]
    for h in heads:
        auc = "-" if h.roc_auc is None else f"{h.roc_auc:.3f}"
        offset = f"  {offset_label(h.offset):<10}" if with_offset else ""
        lines.append(f"{h.rank:>4}  {h.direction:<9}  {h.layer:>5}  {h.head:>4}{offset}  {h.weight:>8.3f}  {auc:>8}")
    return "\n".join(lines)


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
