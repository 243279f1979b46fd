"""Reports as text: the head table, the held-out metrics beside the baselines, readable detections."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from mia.alignment.detection import Detection, DetectionError
from mia.detector.detector import Detector
from mia.evaluate.evaluation import DETECTOR_ROW, PHRASE_MIN_WORDS, WORD_COLUMNS, Evaluation, headline_text
from mia.evaluate.metrics import metrics_table
from mia.evaluate.passage_evaluation import PAN_COLUMNS, PassageEvaluation
from mia.heads.ablation import AblationResult
from mia.heads.corruption import CORRUPTIONS
from mia.heads.examples import HeadExamples
from mia.heads.patching import CLASS_RULE, PatchResult
from mia.heads.ranking import HeadSummary, HeadWeight
from mia.io import printable
from mia.models.layout import offset_label
from mia.text import words


def heads_table(heads: list[HeadWeight]) -> str:
    with_offset = any(h.offset != (0, 0) for h in heads)
    offset_header = f"  {'offset':<10}" if with_offset else ""
    lines = [f"{'rank':>4}  {'direction':<9}  {'layer':>5}  {'head':>4}{offset_header}  {'weight':>8}  {'head AUC':>8}"]
    for h in heads:
        auc = "-" if h.roc_auc is None else f"{h.roc_auc:.3f}"
        offset = f"  {offset_label(h.offset):<10}" if with_offset else ""
        lines.append(f"{h.rank:>4}  {h.direction:<9}  {h.layer:>5}  {h.head:>4}{offset}  {h.weight:>8.3f}  {auc:>8}")
    return "\n".join(lines)


def _interval(pair: tuple[float, float] | None) -> str:
    return "" if pair is None else f"[{pair[0]:.2f}, {pair[1]:.2f}]"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return sum(finite) / len(finite) if finite else float("nan")


def summaries_table(heads: list[HeadSummary], causal: dict[tuple[int, int], dict[str, Any]] | None = None) -> str:
    """Heads with their AUC, weight (intervals, top-10 share over the bootstrap) and head types (mean over
    directions of copy, duplicate, retrieval, previous-token and sink scores; the dominant type per direction);
    with ``causal`` (:func:`mia.heads.patch_file.read_patch_file`), each head's output necessity and sufficiency and
    its role after them."""
    lines = [f"{'rank':>4}  {'head':<6}  {'AUC':>5} {'interval':<14} {'top10':>5}  {'weight':>7} {'interval':<15} "
             f"{'top10':>5}  {'copy':>5} {'dup':>5} {'retr':>5} {'prev':>5} {'sink':>5}  dominant type"
             + (f"  |  {'necessity':>9} {'sufficiency':>11}  role" if causal is not None else "")]
    for h in heads:
        types = {p: _mean([d.get(p, float("nan")) for d in h.types.values()])
                 for p in ("copy", "duplicate", "retrieval", "previous token", "sink")}
        dominant = " / ".join(dict.fromkeys(h.dominant.values())) or "-"
        zero = " 0" if h.weight_crosses_zero else "  "
        lines.append(
            f"{h.rank:>4}  {h.name:<6}  {h.auc:>5.3f} {_interval(h.auc_interval):<14} {_share(h.auc_top10_share):>5}  "
            f"{h.weight:>7.2f} {_interval(h.weight_interval):<13}{zero} {_share(h.weight_top10_share):>5}  "
            + " ".join(f"{types[p]:>5.2f}" if types[p] == types[p] else f"{'-':>5}" for p in types) + f"  {dominant}"
        )
        if causal is not None:
            row = causal.get((h.layer, h.head), {})
            necessity, sufficiency = row.get("necessity", float("nan")), row.get("sufficiency", float("nan"))
            lines[-1] += f"  |  {necessity:>+9.3f} {sufficiency:>+11.3f}  {row.get('role') or '-'}"
    return "\n".join(lines)


def ablation_table(result: AblationResult) -> str:
    """AP per k for each ablation curve, with the unablated detector and the baselines on the same rows."""
    pairs = result.pairs
    names = list(result.curves)
    lines = [f"ablation on {pairs['eval']} eval pairs ({pairs['eval_rows']} sampled token pairs, "
             f"{pairs['eval_positives']} linked); refits on {pairs['fit']} other pairs; heads in the detector's "
             "primary order (own held-out AUC)",
             f"average precision: detector as trained {result.detector:.4f}, refit on all heads "
             f"{result.full_refit:.4f}; " + ", ".join(f"{n} {v:.4f}" for n, v in result.baselines.items()),
             f"{'k':>4}  " + "  ".join(f"{name:>15}" for name in names)]
    for row, k in enumerate(result.ks):
        cells = [result.curves[name][row] for name in names]
        lines.append(f"{k:>4}  " + "  ".join(f"{'-':>15}" if v != v else f"{v:>15.4f}" for v in cells))
    lines.append(f"top heads: {', '.join(result.order[:8])}; random curves: mean of "
                 f"{result.options.get('draws')} draws; causal: heads' outputs zeroed, detector not refitted")
    return "\n".join(lines)


def patch_table(result: PatchResult, top: int = 20) -> str:
    """Heads by output necessity with intervals, the other parts, the readout weight and the role; then the top-k
    check."""
    pairs, signal, check = result.pairs, result.signal, result.top_k
    parts = result.options["parts"]

    def cell(value: float, interval: tuple[float, float] | None = None) -> str:
        text = f"{value:+.3f}"
        return text if interval is None else f"{text} [{interval[0]:+.3f}, {interval[1]:+.3f}]"

    lines = [printable(f"{result.model}: activation patching on {pairs['used']} pairs ({result.relation}); "
                       f"corruption: {CORRUPTIONS[result.options['corruption']]}"),
             f"match signal (the detector's mean log-odds on the gold token pairs): clean {signal['clean']:.2f}, "
             f"corrupted {signal['corrupted']:.2f}; necessity: share lost when a head's part comes from the "
             "corrupted run; sufficiency: share recovered the other way; 95% intervals over pairs",
             f"{'head':<7}  {'necessity (output)':<26}  {'sufficiency (output)':<26}"
             + "".join(f"  {part + ' N':>10}  {part + ' S':>10}" for part in parts if part != "output")
             + f"  {'weight':>7}  {'role':<8}  type"]
    for effect in result.heads[:top]:
        row = (f"{effect.name:<7}  {cell(effect.necessity['output'], effect.necessity_interval['output']):<26}  "
               f"{cell(effect.sufficiency['output'], effect.sufficiency_interval['output']):<26}")
        row += "".join(f"  {cell(effect.necessity[part]):>10}  {cell(effect.sufficiency[part]):>10}"
                       for part in parts if part != "output")
        types = ", ".join(sorted(set(effect.types.values()))) or "-"
        lines.append(f"{row}  {effect.readout_weight:>+7.2f}  {effect.role:<8}  {types}")
    lines.append(f"roles: {CLASS_RULE}")
    if check.get("ratio") is not None or check.get("top") is not None:
        lines.append(
            f"top {check['k']} by necessity (ranked on {check['ranked_on_pairs']} pairs, tested on "
            f"{check['tested_on_pairs']} others), noised together: {check['top']:.3f} of the signal lost (sum of "
            f"their single effects {check['sum_of_single']:.3f}); {check['random_draws']} random sets of "
            f"{check['k']}: median "
            f"{check['random_median']:.3f} [{check['random_interval'][0]:.3f}, {check['random_interval'][1]:.3f}]"
            + (f"; ratio {check['ratio']:.1f}" if check.get("ratio") is not None else "")
            + (f"; every head at once: {check['all_heads']:.3f}" if check.get("all_heads") is not None else ""))
    left = {k: v for k, v in pairs.items() if k not in ("given", "used") and v}
    if left:
        lines.append("pairs left out: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in left.items()))
    return "\n".join(lines)


def examples_text(examples: HeadExamples) -> str:
    """A head's top and random token pairs with context."""
    def block(title: str, rows: list) -> list[str]:
        out = [title]
        for e in rows:
            link = "linked" if e.linked else "      "
            out.append(printable(f"  {e.weight:.3f} x{e.multiple:>5.1f} {link}  A: {e.a_context}"))
            out.append(printable(f"  {'':>5} {'':>6} {'':>6}  B: {e.b_context}"))
        return out

    lines = [printable(f"{examples.model} head L{examples.layer}H{examples.head} ({examples.direction}) on "
                       f"{examples.pairs} pairs, {examples.token_pairs} token pairs"
                       + (f" ({examples.skipped_too_long} pairs too long, skipped)" if examples.skipped_too_long
                          else "")),
             "weight, multiple of the uniform share, gold link; the tokens in [[ ]]"]
    lines += block("highest attention:", examples.top) + block("random token pairs:", examples.random)
    if examples.description:
        lines += ["description (from the chat endpoint):", printable(examples.description)]
    return "\n".join(lines)


def training_report(detector: Detector) -> str:
    """The held-out measures of a detector beside the baselines, as text: the headline (word level, its decoded
    links), then the token level."""
    metrics = detector.card.metrics
    word = {DETECTOR_ROW.format(decode=metrics.get("decode", detector.decode)) if name == "detector" else name: row
            for name, row in (metrics.get("word_level") or {}).items()}
    token = metrics.get("token_level") or metrics.get("scorers") or {}
    parts = [headline_text(metrics)]
    if word:
        parts += ["", metrics_table(word, title=f"word level ({metrics.get('words', 'regex')} words), held out",
                                    columns=WORD_COLUMNS)]
    if token:
        threshold = metrics.get("threshold", detector.threshold)
        parts += ["", metrics_table(token, title=f"token level (secondary), threshold {threshold:.3f}")]
    return "\n".join(parts)


def detection_text(detection: Detection | DetectionError, *, context: int = 30) -> str:
    """Phrases of a detection, readable: one line per phrase with its character spans (and line numbers where a
    text has several lines); for documents (texts run as windows, or of several lines) each phrase's text in a
    little context. Control characters are escaped."""
    pair = detection.pair
    if isinstance(detection, DetectionError):
        return f"pair {printable(pair.id)}: error: {printable(detection.error)}"
    lines = [f"pair {printable(pair.id)}: {counted(len(detection.phrases), 'phrase')}, "
             f"{counted(len(detection.links), 'linked word')} ({detection.decode}, {detection.words} words)"]
    windows = detection.windows
    if windows and not windows.get("whole", True):
        lines[0] += (f" (run as {windows['window_pairs_run']} of {windows['window_pairs_all']} window pairs: "
                     f"{windows['a_windows']} x {windows['b_windows']} windows)")
        if detection.min_outside > 1:
            lines[0] += (f"; {len(detection.passages)} passages, outside them only phrases of >= "
                         f"{detection.min_outside} linked words")
    a_lines, b_lines = LineIndex(pair.a), LineIndex(pair.b)
    document = bool(windows and not windows.get("whole", True)) or a_lines.many or b_lines.many
    for phrase in detection.phrases:
        where_a = a_lines.label(phrase.a_start, phrase.a_end)
        where_b = b_lines.label(phrase.b_start, phrase.b_end)
        lines.append(
            f"  [{phrase.score:.2f}, {counted(phrase.words, 'word')}] A[{phrase.a_start}:{phrase.a_end}]{where_a} "
            f"~ B[{phrase.b_start}:{phrase.b_end}]{where_b}  {printable(repr(phrase.a_text))}"
        )
        if document:
            lines.append(f"      A: {in_context(pair.a, phrase.a_start, phrase.a_end, context)}")
            lines.append(f"      B: {in_context(pair.b, phrase.b_start, phrase.b_end, context)}")
        elif phrase.b_text != phrase.a_text:
            lines.append(f"  {'':>{len(str(phrase.score)) + 14}}B: {printable(repr(phrase.b_text))}")
    if detection.no_passage is not None:
        lines.append(f"  {detection.no_passage}")
    return "\n".join(lines)


def counted(number: int, noun: str) -> str:
    """``1 word``, ``2 words``: a count with its noun in the right number."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


class LineIndex:
    """Line numbers (from 1) of character offsets in a text."""

    def __init__(self, text: str) -> None:

        self.newlines = np.array([match.start() for match in re.finditer("\n", text)], dtype=np.int64)
        self.many = bool(len(self.newlines)) and len(text.rstrip("\n")) > int(self.newlines[0])

    def line(self, offset: int) -> int:

        return int(np.searchsorted(self.newlines, offset, side="right")) + 1

    def label(self, start: int, end: int) -> str:
        if not self.many:
            return ""
        first, last = self.line(start), self.line(max(start, end - 1))
        return f" line {first}" if first == last else f" lines {first}-{last}"


def in_context(text: str, start: int, end: int, context: int) -> str:
    """``…before[phrase]after…`` on one line, control characters escaped."""
    return printable(words.in_context(text, start, end, context))


def evaluation_text(evaluation: Evaluation) -> str:
    """An evaluation as text: the headline, then word, per-pair, phrase and token level."""
    e = evaluation
    words = {DETECTOR_ROW.format(decode=e.decode) if k == "detector" else k: v for k, v in e.word.items()}
    return "\n".join([
        e.headline(),
        f"{e.pairs} pairs evaluated ({e.excluded_trained} left out: the detector was fit or tuned on them; "
        f"{e.windowed} longer than the model, run as window pairs); threshold {e.threshold:.3f}",
        *not_measured_lines(e.not_measured),
        "",
        metrics_table(words, title=f"word level ({e.word_scheme} words): {e.word_pairs} word pairs, {e.word_positives} "
                      "linked; the detector's links as detect prints them",
                      columns=WORD_COLUMNS + ((("aer", "AER"),) if e.with_aer else ())),
        "",
        metrics_table(e.word_per_pair, title="word level, per pair averaged (gold: sure + possible)",
                      columns=WORD_COLUMNS),
        "",
        metrics_table(e.phrase, title=f"phrase level: {e.phrase_counts.get('gold', 0)} gold phrases (found: covered >= "
                      f"90% on both sides by one phrase of >= {PHRASE_MIN_WORDS} words)", columns=WORD_COLUMNS),
        "",
        metrics_table(e.token, title=f"token level (secondary): {e.token_pairs} token pairs, {e.token_positives} "
                      f"linked; detector at threshold {e.threshold:.3f}, its word-level AP {e.word_detector_ap:.3f}"),
    ])


def not_measured_lines(pairs: list[dict[str, str]], shown: int = 5) -> list[str]:
    """One line per pair an evaluation left out (``{"id", "reason"}``), the first ``shown`` of them."""
    if not pairs:
        return []
    lines = [f"{len(pairs)} pair{'s' if len(pairs) > 1 else ''} not measured (not in the numbers below):"]
    lines += [f"  {item['id']}: {item['reason']}" for item in pairs[:shown]]
    return lines + ([f"  ... and {len(pairs) - shown} more"] if len(pairs) > shown else [])


def passage_evaluation_text(evaluation: PassageEvaluation) -> str:
    """A passage evaluation as text: the headline, PAN's measures per scorer, what the detector's run cost."""
    e = evaluation
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in e.seconds.items())
    return "\n".join([
        e.headline(), "",
        metrics_table(e.scorers, title=f"PAN's measures on {e.pairs} document pairs, {e.cases} gold passages "
                      "(character level, macro-averaged over passages)", columns=PAN_COLUMNS),
        "", f"detector: {e.window_pairs_run} window pairs scored of {e.window_pairs_all} ({seconds})",
    ])
