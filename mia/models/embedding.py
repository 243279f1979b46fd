"""Text embeddings from the model itself: mean-pooled last hidden states (what all-MiniLM-L6-v2 is trained for), and
one text's token states at any layer (:func:`layer_states`, for the embedding aligner).

Used for sentence candidates (:mod:`mia.alignment.candidate_windows`, corpus search): a forward pass per sentence,
with the
model's own fastest attention, no weights read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from mia.errors import MiaError
from mia.models.attention import AttentionModel


def embed_texts(model: AttentionModel, texts: Sequence[str], *, batch_size: int = 8) -> np.ndarray:
    """Unit-length mean-pooled embeddings float32 ``[len(texts), hidden]`` of texts (each tokenised once; see
    :func:`embed_tokens`)."""
    return embed_tokens(model, [model.tokens(text).ids for text in texts], batch_size=batch_size)


def embed_tokens(model: AttentionModel, texts: Sequence[Sequence[int] | np.ndarray], *,
                 batch_size: int = 8) -> np.ndarray:
    """Unit-length mean-pooled embeddings float32 ``[len(texts), hidden]`` of texts given as token ids (no special
    tokens: the model's own are put around each, as it would for one text). The encoder's for encoder-decoder
    models; special tokens are left out of the mean.

    A text longer than the model (a "sentence" of 700 words without a full stop, a log file) is never truncated: it
    is embedded in pieces that fit, and its embedding is the mean over all its tokens, every piece's hidden states
    summed. An empty text gets a zero vector."""
    import torch

    backbone: Any = model.model.get_encoder() if model.architecture == "encoder-decoder" else model.model
    template = model.single
    room = max(1, model.max_length - len(template.prefix) - len(template.suffix))
    pieces: list[tuple[int, list[int]]] = []  # (text index, content ids of one piece)
    for index, ids in enumerate(texts):
        ids = [int(i) for i in ids]
        pieces.extend((index, ids[start : start + room]) for start in range(0, len(ids), room))
    pieces.sort(key=lambda piece: len(piece[1]))  # similar lengths in one batch: little padding
    pad = model.tokenizer.pad_token_id
    if pad is None:  # GPT-2 style: no padding token, one piece at a time
        batch_size, pad = 1, 0
    hidden_size = int(getattr(backbone.config, "hidden_size", 0) or getattr(backbone.config, "d_model", 0))
    sums = torch.zeros((len(texts), hidden_size), dtype=torch.float32)
    counts = torch.zeros(len(texts), dtype=torch.float32)
    with plain_attention(model):
        for first in range(0, len(pieces), batch_size):
            _embed_batch(model, backbone, template, pieces[first : first + batch_size], pad, sums, counts)
    pooled = sums / counts.clamp(min=1.0).unsqueeze(-1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)


@contextlib.contextmanager
def plain_attention(model: AttentionModel) -> Iterator[None]:
    """The model's own fastest attention (SDPA) while embeddings are made (no attention weights are read then),
    mia's capture again after."""
    before = model.model.config._attn_implementation
    try:
        model.model.set_attn_implementation("sdpa")
    except (ValueError, ImportError):  # a model type without SDPA keeps what it has
        yield
        return
    try:
        yield
    finally:
        model.model.set_attn_implementation(before)


def _embed_batch(model: AttentionModel, backbone: Any, template: Any, batch: list[tuple[int, list[int]]], pad: int,
                 sums: Any, counts: Any) -> None:
    """Add one batch of pieces' summed hidden states (content tokens only) and token counts to their texts'."""
    import torch

    rows = [template.wrap(ids) for _, ids in batch]
    width = max(len(row) for row in rows)
    input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=model.device)
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=model.device)
    keep = torch.zeros(input_ids.shape, dtype=torch.float32, device=model.device)
    for row, (_, ids) in enumerate(batch):
        keep[row, len(template.prefix) : len(template.prefix) + len(ids)] = 1.0
    with torch.inference_mode():
        hidden = backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
    summed = (hidden * keep.unsqueeze(-1)).sum(1).cpu()
    for row, (index, ids) in enumerate(batch):
        sums[index] += summed[row]
        counts[index] += len(ids)



def token_states(model: AttentionModel, ids: Sequence[int] | np.ndarray, layer: int) -> np.ndarray:
    """Hidden states float32 ``[len(ids), hidden]`` of one text's tokens at ``layer`` (0: the embedding layer's
    output, ``n_layers``: the last); see :func:`layer_states`."""
    return layer_states(model, ids, (layer,))[0]


EmbeddingLayer = int | Literal["middle"] | None  # a layer number, the model's middle layer, or no embedding aligner


def resolve_embedding_layer(model: AttentionModel, choice: EmbeddingLayer) -> int | None:
    """The layer the embedding aligner reads for ``choice`` (``--embedding-layer``): a layer number, ``middle`` (half
    the model's depth, rounded down: layer 3 of all-MiniLM-L6-v2's six, the best of its seven on both MultiMWA dev
    sets; ``scripts/embedding_layers.py``), or None (no aligner). A layer the model does not have is a
    :class:`~mia.errors.MiaError`, raised before any work that needs it."""
    if choice is None:
        return None
    n_layers = state_layers(model)
    layer = n_layers // 2 if choice == "middle" else choice
    if not 0 <= layer <= n_layers:
        raise MiaError(f"--embedding-layer {layer}: this model has layers 0 (embeddings) to {n_layers}; give one of "
                       "them, middle or none")
    return layer


def state_layers(model: AttentionModel) -> int:
    """How many layers' hidden states :func:`layer_states` can read beyond the embedding layer's (the encoder's for
    encoder-decoder models)."""
    config = model.model.config
    names = ("encoder_layers",) if model.architecture == "encoder-decoder" else ("num_hidden_layers", "n_layer")
    return next(int(value) for name in names if (value := getattr(config, name, None)))


def layer_states(model: AttentionModel, ids: Sequence[int] | np.ndarray, layers: Sequence[int]) -> np.ndarray:
    """Hidden states float32 ``[len(layers), len(ids), hidden]`` of one text's tokens at each of ``layers``, the
    text run alone with the model's special tokens around it (the encoder's states for encoder-decoder models). A
    text longer than the model is run in pieces that fit, never truncated."""
    import torch

    n_layers = state_layers(model)
    wrong = [layer for layer in layers if not 0 <= layer <= n_layers]
    if wrong:
        raise ValueError(f"layer {wrong[0]} is not a layer of this model: use 0 (embeddings) to {n_layers}")
    backbone: Any = model.model.get_encoder() if model.architecture == "encoder-decoder" else model.model
    template = model.single
    room = max(1, model.max_length - len(template.prefix) - len(template.suffix))
    ids = [int(i) for i in ids]
    hidden = int(getattr(backbone.config, "hidden_size", 0) or getattr(backbone.config, "d_model", 0))
    result = np.zeros((len(layers), len(ids), hidden), np.float32)
    with plain_attention(model), torch.inference_mode():
        for start in range(0, len(ids), room):
            piece = ids[start : start + room]
            input_ids = torch.tensor([template.wrap(piece)], device=model.device)
            states = backbone(input_ids=input_ids, output_hidden_states=True).hidden_states
            content = slice(len(template.prefix), len(template.prefix) + len(piece))
            for row, layer in enumerate(layers):
                result[row, start : start + len(piece)] = states[layer][0, content].float().cpu().numpy()
    return result
