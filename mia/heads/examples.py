"""What one head attends to: its strongest token pairs across pairs, with context, beside a random sample.

As AttentionData's notebooks show a head: the token pairs where its attention is highest (with the "multiple":
the weight times the number of tokens it could attend to, 1 = uniform), and random token pairs, to read what it
does. :func:`describe_head` sends the examples to an OpenAI-compatible chat endpoint for a description in words.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mia.alignment.windowed import encode_pairs_that_fit
from mia.errors import MiaError
from mia.models.attention import AttentionModel
from mia.progress import Progress, no_progress
from mia.text.pairs import Pair, token_labels
from mia.text.words import in_context

HEAD_PATTERN = re.compile(r"^L?(\d+)[.H:](\d+)$", re.IGNORECASE)


def parse_head(text: str, layers: int, heads: int) -> tuple[int, int]:
    """``L.H`` (or ``LxHy``) as ``(layer, head)``, checked against the model."""
    match = HEAD_PATTERN.match(text.strip())
    if not match:
        raise MiaError(f"--head {text!r}: give a head as LAYER.HEAD, for example 2.9 (or L2H9)")
    layer, head = int(match[1]), int(match[2])
    if not (0 <= layer < layers and 0 <= head < heads):
        raise MiaError(f"--head {text}: the model has layers 0-{layers - 1} and heads 0-{heads - 1}")
    return layer, head


@dataclass(frozen=True)
class Example:
    pair: str
    a_index: int
    b_index: int
    a_token: str
    b_token: str
    weight: float
    multiple: float  # weight x tokens the query could attend to in the other text (1: uniform)
    linked: bool
    a_context: str
    b_context: str

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class HeadExamples:
    model: str
    layer: int
    head: int
    direction: str
    pairs: int
    token_pairs: int
    top: list[Example] = field(default_factory=list)
    random: list[Example] = field(default_factory=list)
    skipped_too_long: int = 0
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "head": f"L{self.layer}H{self.head}", "layer": self.layer, "index": self.head,
                "direction": self.direction, "pairs": self.pairs, "token_pairs": self.token_pairs,
                "skipped_too_long": self.skipped_too_long, "top": [e.to_dict() for e in self.top],
                "random": [e.to_dict() for e in self.random], "description": self.description}


def marked(text: str, start: int, end: int, width: int) -> str:
    """``width`` characters each side of ``text[start:end]``, the token in ``[[ ]]``, on one line."""
    return in_context(text, start, end, width, marks=("[[", "]]")).strip()


def head_examples(
    model: AttentionModel, pairs: Sequence[Pair], layer: int, head: int, *, direction: str | None = None,
    top: int = 20, sample: int = 10, context: int = 30, seed: int = 0, progress: Progress = no_progress,
) -> HeadExamples:
    """The ``top`` token pairs with the highest attention of head ``layer.head`` in ``direction`` (default: the
    model's first) across ``pairs`` that fit the model whole, and ``sample`` random token pairs."""
    layout = model.layout
    direction = direction or layout.directions[0]
    if direction not in layout.directions:
        raise MiaError(f"--direction {direction}: this model's directions are {', '.join(layout.directions)}")
    column = layout.directions.index(direction) * layout.layers * layout.heads + layer * layout.heads + head
    items, too_long = encode_pairs_that_fit(model, pairs)
    if not items:
        raise MiaError("no pair fits the model whole: give shorter pairs")
    rng = np.random.default_rng(seed)
    best: list[tuple[float, int, Example]] = []
    reservoir: list[tuple[float, Example]] = []  # random keys: the `sample` smallest keys are a uniform sample
    token_pairs = counter = 0

    def example(item: Any, i: int, j: int, weight: float, n_keys: int, gold: np.ndarray) -> Example:
        (sa, ea), (sb, eb) = item.a_spans[i], item.b_spans[j]
        return Example(item.pair.id, i, j, item.pair.a[sa:ea], item.pair.b[sb:eb], weight, weight * n_keys,
                       bool(gold[i, j]), marked(item.pair.a, sa, ea, context), marked(item.pair.b, sb, eb, context))

    for features in progress(model.iter_features(items), "pairs", len(items)):
        values = features.blocks[column].float().cpu().numpy()  # [n_a, n_b]
        gold = token_labels(features.pair, features.a_spans, features.b_spans)
        n_keys = values.shape[1] if direction != "b->a" else values.shape[0]
        token_pairs += values.size
        flat = values.reshape(-1)
        for index in np.argsort(-flat, kind="stable")[:top]:
            i, j = divmod(int(index), values.shape[1])
            counter += 1
            entry = (float(flat[index]), -counter, example(features, i, j, float(flat[index]), n_keys, gold))
            (heapq.heappush if len(best) < top else heapq.heappushpop)(best, entry)
        keys = rng.random(flat.size)
        for index in np.argsort(keys)[:sample]:
            i, j = divmod(int(index), values.shape[1])
            reservoir.append((float(keys[index]), example(features, i, j, float(flat[index]), n_keys, gold)))
        reservoir = sorted(reservoir, key=lambda pair: pair[0])[:sample]
    return HeadExamples(model.name, layer, head, direction, len(items), token_pairs,
                        top=[e for _, _, e in sorted(best, key=lambda t: (-t[0], -t[1]))],
                        random=[e for _, e in reservoir], skipped_too_long=len(too_long))


def describe_prompt(examples: HeadExamples) -> str:
    lines = [f"Attention head {examples.layer}.{examples.head} of the model {examples.model} reads two texts A and B "
             f"({examples.direction} attention). Below, the token pairs it attends to most (token in [[ ]], with "
             "context; multiple = attention weight over the uniform share), then random token pairs for "
             "comparison. In one or two sentences, describe what this head attends to.", "", "Top:"]
    for e in examples.top:
        lines.append(f"- x{e.multiple:.1f} A: {e.a_context} | B: {e.b_context}")
    lines += ["", "Random:"] + [f"- x{e.multiple:.1f} A: {e.a_context} | B: {e.b_context}" for e in examples.random]
    return "\n".join(lines)


DESCRIBE_SECONDS = 60.0  # the whole answer, not one socket read: an endpoint that trickles bytes is cut off


def describe_endpoint() -> str:
    """The chat completions URL from ``$MIA_DESCRIBE_URL``, checked (called before any work: a missing URL is an
    error before the model loads)."""
    base = os.environ.get("MIA_DESCRIBE_URL")
    if not base:
        raise MiaError("--describe needs the endpoint in MIA_DESCRIBE_URL (an OpenAI-compatible base URL such as "
                       "https://api.example.com/v1) and its key, if any, in MIA_DESCRIBE_KEY")
    url = base.rstrip("/") + "/chat/completions"
    if not url.startswith(("http://", "https://")):
        raise MiaError(f"MIA_DESCRIBE_URL must start with http:// or https://, got {base!r}")
    return url


def describe_head(examples: HeadExamples, *, model: str, timeout: float = DESCRIBE_SECONDS) -> str:
    """Ask the OpenAI-compatible chat endpoint at ``$MIA_DESCRIBE_URL`` (for example ``https://host/v1``; the key
    in ``$MIA_DESCRIBE_KEY``, if it needs one) to describe the head from its examples.

    ``timeout`` bounds the whole exchange (connecting, sending, and reading the answer), not each socket read. No
    redirect is followed: the key goes to the URL the user named and nowhere else."""
    import threading

    url = describe_endpoint()
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": describe_prompt(examples)}]})
    headers = {"Content-Type": "application/json"}
    if os.environ.get("MIA_DESCRIBE_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['MIA_DESCRIBE_KEY']}"
    outcome: dict[str, Any] = {}

    def exchange() -> None:
        try:
            outcome["answer"] = _post_json(url, body.encode(), headers, timeout)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=exchange, name="mia-describe", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise MiaError(f"the describe endpoint {url} did not answer in full within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    answer = outcome["answer"]
    try:
        return str(answer["choices"][0]["message"]["content"]).strip()
    except (KeyError, IndexError, TypeError):
        raise MiaError(f"the describe endpoint {url} answered without choices[0].message.content") from None


def _post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
    """POST ``body`` to ``url`` and parse the JSON answer; a redirect is an error, never followed."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
            raise MiaError(f"the describe endpoint {url} answered HTTP {code}, a redirect to {newurl}; mia does not "
                           "follow it (the key would go there too): set MIA_DESCRIBE_URL to the address that answers")

    opener = urllib.request.build_opener(NoRedirect())
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=timeout) as response:
            return json.loads(response.read(4_000_000).decode("utf-8"))
    except urllib.error.HTTPError as error:
        raise MiaError(f"the describe endpoint {url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise MiaError(f"the describe endpoint {url} could not be reached: {error}") from None
    except ValueError:
        raise MiaError(f"the describe endpoint {url} did not answer JSON") from None
