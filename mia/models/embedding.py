"""Text embeddings from the model itself: mean-pooled last hidden states (what all-MiniLM-L6-v2 is trained for).

Used to choose candidate window pairs (``detect --candidates K``): one extra forward pass per window, cheap next
to scoring every window pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mia.models.attention import AttentionModel


def embed_texts(model: AttentionModel, texts: Sequence[str], *, batch_size: int = 8) -> np.ndarray:
    """Unit-length mean-pooled embeddings float32 ``[len(texts), hidden]`` (the encoder's for encoder-decoder
    models); special tokens are left out of the mean."""
    import torch

    rows: list[np.ndarray] = []
    backbone: Any = model.model.get_encoder() if model.architecture == "encoder-decoder" else model.model
    if model.tokenizer.pad_token_id is None:  # GPT-2 style: no padding token, one text at a time
        batch_size = 1
    for first in range(0, len(texts), batch_size):
        enc = model.tokenizer(list(texts[first : first + batch_size]), return_tensors="pt", padding=True,
                              truncation=False, return_special_tokens_mask=True, verbose=False)
        special = enc.pop("special_tokens_mask").to(model.device)
        inputs = {k: v.to(model.device) for k, v in enc.items()
                  if k in ("input_ids", "token_type_ids", "attention_mask")}
        with torch.inference_mode():
            hidden = backbone(**inputs).last_hidden_state
        keep = (inputs["attention_mask"] * (1 - special)).unsqueeze(-1).float()
        pooled = (hidden * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        rows.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def top_candidates(a_vectors: np.ndarray, b_vectors: np.ndarray, k: int) -> list[list[int]]:
    """For each A window, the ``k`` B windows with the highest cosine similarity (best first)."""
    if len(a_vectors) == 0 or len(b_vectors) == 0:
        return [[] for _ in range(len(a_vectors))]
    similarity = a_vectors @ b_vectors.T
    k = min(k, similarity.shape[1])
    best = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return [row.tolist() for row in best]
