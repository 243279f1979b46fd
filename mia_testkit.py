"""For benchmarks and tests only, beside the package and not installed with it: a random BART to test and time the
encoder-decoder path (:func:`build_random_bart`), the process's resident memory now (:func:`resident_mb`), and the
planted-reuse benchmark of corpus search.

* :func:`plant_reuse` cuts a corpus into ``documents`` documents of about ``words`` words (consecutive paragraphs, in
  corpus order) and plants ``passages`` reused passages: 2-4 consecutive sentences of a *source* document, shuffled,
  copied into a *target* document at a sentence boundary; a share of them (``noisy_share``) with words changed by
  :mod:`mia.text.noise` (the evaluation rates). Sources and targets are disjoint halves of the documents, so every
  source offset stays valid after planting. Gold passages are character spans in the final documents.
* The scoring rules (:func:`score_search`):

  - a gold passage is **found** when one output passage between its two documents covers at least half of it on
    both sides (the source span and the target span), whichever document the output names first;
  - it **reached the detector** (candidate recall) when one scored window pair covers at least half of it on both
    sides;
  - an output passage is **correct** (precision) when it overlaps a gold passage of its two documents on both sides,
    or the targets of two gold passages whose sources overlap (the same sentences planted into two documents are
    reuse between those two as well);
  - a passage that is not correct is counted as **unplanted verbatim reuse** when its two texts share a run of at
    least ``RUN_WORDS`` equal words (lower-cased): text the documents had in common before anything was planted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mia.errors import MiaError
from mia.search.results_file import Passage
from mia.text.corpus import sentence_splitter, split_sentences
from mia.text.noise import EVALUATION_NOISE, Noise, corpus_vocabulary, noisy_copy_pair
from mia.text.pairs import shuffled_copy_pair
from mia.text.words import overlap

Span = tuple[str, int, int]  # (document id, first char, end char)
RUN_WORDS = 5


@dataclass(frozen=True)
class PlantedPassage:
    """One planted passage: ``source[source_start:source_end]`` reused as ``target[target_start:target_end]``."""

    source_id: str
    source_start: int
    source_end: int
    target_id: str
    target_start: int
    target_end: int
    noisy: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def cut_documents(paragraphs: Sequence[str], documents: int, words: int) -> list[str]:
    """``documents`` texts of at least ``words`` words each, from consecutive paragraphs (blank-line separated)."""
    texts: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in paragraphs:
        current.append(paragraph.strip())
        count += len(paragraph.split())
        if count >= words:
            texts.append("\n\n".join(current))
            current, count = [], 0
            if len(texts) == documents:
                return texts
    raise MiaError(f"the corpus holds {len(texts)} documents of {words} words, fewer than the {documents} asked for")


def plant_reuse(
    paragraphs: Sequence[str], *, documents: int, passages: int, words: int = 300, noisy_share: float = 0.5,
    seed: int = 0, noise: Noise = EVALUATION_NOISE, spacy_model: str | None = None,
) -> tuple[list[dict[str, str]], list[PlantedPassage]]:
    """Documents ``[{"id", "text"}]`` with planted passages, and the gold passages (module docstring)."""
    if documents < 2 or passages < 0:
        raise MiaError("planting needs at least 2 documents and 0 or more passages")
    rng = np.random.default_rng([seed, 11])
    texts = cut_documents(paragraphs, documents, words)
    ids = [f"d{index:05d}" for index in range(documents)]
    nlp = sentence_splitter(spacy_model)
    order = rng.permutation(documents)
    sources, targets = order[: documents // 2], order[documents // 2:]
    vocabulary = corpus_vocabulary(paragraphs)
    insertions: dict[int, list[tuple[int, str, int, int, int, bool]]] = {}  # target -> (at, text, source, s, e, noisy)
    sentences = {int(s): split_sentences(texts[s], nlp) for s in sources}
    usable = [s for s in sentences if len(sentences[s]) >= 2]
    if passages and not usable:
        raise MiaError("no source document has 2 or more sentences")
    for number in range(passages):
        source = int(usable[int(rng.integers(len(usable)))])
        spans = sentences[source]
        length = int(rng.integers(2, min(4, len(spans)) + 1))
        first = int(rng.integers(len(spans) - length + 1))
        start, end = spans[first][0], spans[first + length - 1][1]
        passage = texts[source][start:end]
        relative = [(s - start, e - start) for s, e in spans[first : first + length]]
        noisy = bool(rng.random() < noisy_share)
        copy = (noisy_copy_pair(passage, relative, rng, pair_id=str(number), noise=noise, vocabulary=vocabulary,
                                extra=[]) if noisy else shuffled_copy_pair(passage, relative, rng, pair_id=str(number)))
        if copy is None:
            raise MiaError("a passage could not be copied")
        target = int(targets[int(rng.integers(len(targets)))])
        boundaries = [0] + [e for _, e in split_sentences(texts[target], nlp)]
        insertions.setdefault(target, []).append((int(rng.choice(boundaries)), copy.a, source, start, end, noisy))
    gold: list[PlantedPassage] = []
    for target, planted in insertions.items():
        pieces, cursor, shift = [], 0, 0
        for offset, text, source, start, end, noisy in sorted(planted, key=lambda item: item[0]):
            pieces.append(texts[target][cursor:offset])
            at = offset + shift + (1 if offset else 0)
            piece = (" " if offset else "") + text + ("" if offset else " ")
            pieces.append(piece)
            gold.append(PlantedPassage(ids[source], start, end, ids[target], at, at + len(text), noisy))
            shift += len(piece)
            cursor = offset
        pieces.append(texts[target][cursor:])
        texts[target] = "".join(pieces)
    gold.sort(key=lambda p: (p.target_id, p.target_start))
    return [{"id": i, "text": t} for i, t in zip(ids, texts)], gold


def covers(a: Span, b: Span, gold: PlantedPassage, share: float) -> bool:
    """Do spans ``a`` and ``b`` (in either order) overlap ``gold`` on both sides, each by at least ``share`` of it?"""
    for first, second in ((a, b), (b, a)):
        if first[0] == gold.source_id and second[0] == gold.target_id:
            source = overlap(first[1], first[2], gold.source_start, gold.source_end)
            target = overlap(second[1], second[2], gold.target_start, gold.target_end)
            if source > 0 and target > 0 and source >= share * (gold.source_end - gold.source_start) \
                    and target >= share * (gold.target_end - gold.target_start):
                return True
    return False


def covers_half(a: Span, b: Span, gold: PlantedPassage) -> bool:
    return covers(a, b, gold, 0.5)


def touches(a: Span, b: Span, gold: PlantedPassage) -> bool:
    return covers(a, b, gold, 0.0)


def _by_documents(gold: Sequence[PlantedPassage]) -> dict[frozenset[str], list[PlantedPassage]]:
    grouped: dict[frozenset[str], list[PlantedPassage]] = {}
    for passage in [*gold, *derived(gold)]:
        grouped.setdefault(frozenset((passage.source_id, passage.target_id)), []).append(passage)
    return grouped


def derived(gold: Sequence[PlantedPassage]) -> list[PlantedPassage]:
    """Reuse the planting made between two targets: two plants from overlapping spans of one source."""
    pairs = []
    for i, g in enumerate(gold):
        for h in gold[i + 1 :]:
            if g.source_id == h.source_id and g.target_id != h.target_id and \
                    overlap(g.source_start, g.source_end, h.source_start, h.source_end):
                pairs.append(PlantedPassage(g.target_id, g.target_start, g.target_end, h.target_id, h.target_start,
                                            h.target_end, g.noisy or h.noisy))
    return pairs


def found_gold(gold: Sequence[PlantedPassage], spans: Sequence[tuple[Span, Span]]) -> list[bool]:
    """For each gold passage, whether one of the span pairs covers half of it on both sides."""
    grouped: dict[frozenset[str], list[tuple[Span, Span]]] = {}
    for a, b in spans:
        grouped.setdefault(frozenset((a[0], b[0])), []).append((a, b))
    return [any(covers_half(a, b, g) for a, b in grouped.get(frozenset((g.source_id, g.target_id)), []))
            for g in gold]


def passage_spans(passages: Sequence[Passage]) -> list[tuple[Span, Span]]:
    return [((p.a_id, p.a_start, p.a_end), (p.b_id, p.b_start, p.b_end)) for p in passages]


def score_search(gold: Sequence[PlantedPassage], passages: Sequence[Passage],
                 scored_windows: Sequence[tuple[Span, Span]]) -> dict[str, Any]:
    """Candidate recall, passage recall and precision, overall and for verbatim and noisy plants."""
    reached = found_gold(gold, scored_windows)
    found = found_gold(gold, passage_spans(passages))
    grouped = _by_documents(gold)
    correct = [any(touches((p.a_id, p.a_start, p.a_end), (p.b_id, p.b_start, p.b_end), g)
                   for g in grouped.get(frozenset((p.a_id, p.b_id)), [])) for p in passages]

    def recall(flags: list[bool], noisy: bool | None) -> dict[str, Any]:
        chosen = [f for f, g in zip(flags, gold) if noisy is None or g.noisy == noisy]
        return {"gold": len(chosen), "found": sum(chosen), "recall": sum(chosen) / len(chosen) if chosen else None}

    # precision on verbatim plants: output passages that touch a noisy plant are left out of the count
    on_verbatim = [ok for ok, p in zip(correct, passages) if not _touches_noisy(p, grouped)]
    unplanted = sum(not ok and longest_common_run(p.a_text, p.b_text) >= RUN_WORDS for ok, p in zip(correct, passages))
    return {
        "candidate_recall": {kind: recall(reached, noisy) for kind, noisy in
                             (("all", None), ("verbatim", False), ("noisy", True))},
        "passage_recall": {kind: recall(found, noisy) for kind, noisy in
                           (("all", None), ("verbatim", False), ("noisy", True))},
        "passage_precision": {"passages": len(passages), "correct": sum(correct),
                              "precision": sum(correct) / len(passages) if passages else None,
                              "verbatim_passages": len(on_verbatim), "verbatim_correct": sum(on_verbatim),
                              "verbatim_precision": sum(on_verbatim) / len(on_verbatim) if on_verbatim else None,
                              f"not_correct_sharing_a_run_of_{RUN_WORDS}_words": unplanted},
    }


def longest_common_run(a: str, b: str) -> int:
    """The longest run of equal consecutive words (lower-cased) in ``a`` and ``b``."""
    wa, wb = re.findall(r"\w+", a.lower()), re.findall(r"\w+", b.lower())
    best, previous = 0, [0] * (len(wb) + 1)
    for x in wa:
        current = [0] * (len(wb) + 1)
        for j, y in enumerate(wb, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def _touches_noisy(p: Passage, grouped: dict[frozenset[str], list[PlantedPassage]]) -> bool:
    return any(g.noisy and touches((p.a_id, p.a_start, p.a_end), (p.b_id, p.b_start, p.b_end), g)
               for g in grouped.get(frozenset((p.a_id, p.b_id)), []))


def random_tokenizer(*, processing: bool = True) -> Any:
    """A byte-level BPE tokenizer trained on the packaged corpus (600 tokens), with RoBERTa's ``<s> ... </s>``
    around a text (``processing``) or nothing (GPT-2's way), as a transformers fast tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    from mia.text.corpus import read_paragraphs

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(read_paragraphs()[:200], vocab_size=600, min_frequency=2, special_tokens=specials)
    if processing:
        bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")),
                                               trim_offsets=True)
    names = {} if processing else {"model_input_names": ["input_ids", "attention_mask"]}
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        mask_token="<mask>", model_max_length=256, **names,
    )


def build_random_bart(directory: Path, *, d_model: int = 32, layers: int = 2, heads: int = 4, ffn: int = 64,
                      seed: int = 0) -> Path:
    """A randomly initialised BART (``layers`` encoder and decoder layers) with a byte-level BPE tokenizer trained
    on the packaged corpus, saved to ``directory`` and loadable like any local model (no weights can be fetched
    here). The defaults are the tests' tiny model; the benchmark times a larger one."""
    import torch
    from transformers import BartConfig, BartModel

    tokenizer = random_tokenizer()
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn,
        max_position_embeddings=256, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )
    torch.manual_seed(seed)
    BartModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_random_gpt2(directory: Path, *, d_model: int = 32, layers: int = 2, heads: int = 4, seed: int = 0) -> Path:
    """A randomly initialised GPT-2 (decoder-only, 256 positions) with the same kind of tokenizer, saved to
    ``directory``: the benchmark times the decoder-only prefix cache on it."""
    import torch
    from transformers import GPT2Config, GPT2Model

    tokenizer = random_tokenizer(processing=False)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=d_model, n_layer=layers, n_head=heads, n_positions=256,
                        bos_token_id=0, eos_token_id=2)
    torch.manual_seed(seed)
    GPT2Model(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def resident_mb() -> float:
    """This process's resident memory now, in MB (Linux's ``/proc/self/statm``; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")
