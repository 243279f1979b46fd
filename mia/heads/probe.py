"""The classic head probe: a random sequence of tokens, repeated, and what each head does with the repeat.

A sequence R of ``length`` random single-token words is shown twice. Scores are TransformerLens's "mul": the
mean attention a head puts on the pattern's token, over the positions of the second copy.

* decoder-only models read one causal text ``[BOS] R EOS R`` (the separator mia uses between A and B): for each
  head, **duplicate** (token t of the second copy attending to the same token in the first copy), **induction**
  (attending to the token after that one: the next token of the earlier occurrence) and **previous token**
  (attending to the token just before it, within the second copy);
* pair models read ``A = R``, ``B = R`` as mia reads a pair: per direction (a->b, b->a, or cross), **duplicate**
  (a token attending to its own copy in the other text) and **copy neighbour** (attending to the copy's next
  token, the pair analogue of induction).

Random words carry no meaning, so high scores come from the heads' mechanism, not from the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mia.errors import MiaError
from mia.models.attention import AttentionModel
from mia.models.blocks import Block, CaptureRequest
from mia.text.pairs import Pair


@dataclass
class ProbeResult:
    """Per-head scores ``[layers, heads]`` for each pattern, by direction (``within`` for decoder-only text)."""

    model: str
    architecture: str
    length: int
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # direction -> pattern -> [L, H]

    def top(self, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` highest-scoring heads of each direction and pattern."""
        rows = []
        for direction, patterns in self.scores.items():
            for pattern, values in patterns.items():
                order = np.argsort(-values, axis=None, kind="stable")[:k]
                for flat in order:
                    layer, head = divmod(int(flat), values.shape[1])
                    rows.append({"direction": direction, "pattern": pattern, "layer": layer, "head": head,
                                 "score": round(float(values[layer, head]), 4)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "architecture": self.architecture, "length": self.length,
                "scores": {d: {p: v.round(4).tolist() for p, v in pats.items()} for d, pats in self.scores.items()},
                "top": self.top()}


def random_words(model: AttentionModel, length: int, seed: int) -> str:
    """``length`` random vocabulary words that are each one token on their own, joined by spaces."""
    vocabulary = sorted(model.tokenizer.get_vocab())
    rng = np.random.default_rng(seed)
    words: list[str] = []
    for index in rng.permutation(len(vocabulary)):
        word = vocabulary[int(index)].lstrip("Ġ▁")
        if len(word) < 3 or not word.isalpha() or not word.isascii():
            continue
        if len(model.tokenizer(" " + word, add_special_tokens=False)["input_ids"]) == 1:
            words.append(word)
        if len(words) == length:
            return " ".join(words)
    raise MiaError(f"{model.name}: fewer than {length} single-token words in the vocabulary")


def probe(model: AttentionModel, *, length: int = 50, seed: int = 0) -> ProbeResult:
    """Run the repeated-random-tokens probe (module docstring) on ``model``."""
    text = random_words(model, length, seed)
    item = model.encode(Pair("probe", text, text))
    n = len(item.a_spans)
    if n != len(item.b_spans) or n < 2:
        raise MiaError(f"{model.name}: the repeated sequence did not tokenize to equal copies")
    layers, heads = model.layout.layers, model.layout.heads
    result = ProbeResult(model.name, model.architecture, n)
    diagonal, neighbour = np.arange(n), np.arange(n - 1)
    kinds: tuple[Any, ...] = ("pair", "b->b") if model.architecture == "decoder" else ("pair",)

    def store(direction: str, pattern: str, layer: int, values: np.ndarray) -> None:
        target = result.scores.setdefault(direction, {}).setdefault(pattern, np.zeros((layers, heads)))
        target[layer] = values

    def sink(index: int, block: Block) -> None:
        weights = block.values.float().cpu().numpy()  # [heads, rows, cols] as the model holds them
        if block.kind == "b->b":  # the second copy attending within itself: previous token
            store("within", "previous token", block.layer, weights[:, neighbour + 1, neighbour].mean(-1))
            return
        if model.architecture == "decoder":  # b->a: second copy (rows) attending to the first (cols)
            store("within", "duplicate", block.layer, weights[:, diagonal, diagonal].mean(-1))
            store("within", "induction", block.layer, weights[:, neighbour, neighbour + 1].mean(-1))
            return
        direction = model.layout.directions[block.column // (layers * heads)]
        store(direction, "duplicate", block.layer, weights[:, diagonal, diagonal].mean(-1))
        store(direction, "copy neighbour", block.layer, weights[:, neighbour, neighbour + 1].mean(-1))

    model.run([item], sink, CaptureRequest(blocks=kinds))
    return result
