"""The embedding aligner an alignment detector is measured beside: SimAlign's ArgMax (Jalili Sabet, Dufter, Yvon and
Schütze, 2020) on the detector's own model, no training.

Each text is run alone through the model; a word's vector is the mean of its tokens' hidden states at one layer;
two words are linked when each is the other's most cosine-similar word (mutual argmax). It reads the same model's
states that the detector reads the attention of, so it says what the model's representations give without any
learned readout. The layer is a setting (:func:`mia.models.embedding.resolve_embedding_layer`: the middle layer by
default, chosen on development data with ``scripts/embedding_layers.py``).
"""

from __future__ import annotations

import numpy as np

from mia.models.attention import AttentionModel
from mia.models.embedding import token_states
from mia.text.words import token_word_ranges, token_words

EMBEDDING_ALIGNER = "embedding argmax (layer {layer})"


def word_vectors(states: np.ndarray, token_spans: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Unit-length word vectors float32 ``[n_words, hidden]``: the mean of the states ``[n_tokens, hidden]`` of the
    tokens that share a character with each word (a zero vector for a word no token covers)."""
    token, word = token_words(np.arange(len(token_spans)), *token_word_ranges(token_spans, spans))
    sums = np.zeros((len(spans), states.shape[1]), np.float64)
    np.add.at(sums, word, states[token])
    vectors = sums / np.maximum(np.bincount(word, minlength=len(spans)), 1)[:, None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def embedding_similarity(model: AttentionModel, a: str, b: str, a_words: np.ndarray, b_words: np.ndarray, *,
                         layer: int) -> np.ndarray:
    """Cosine similarity float32 ``[n_a_words, n_b_words]`` of the words (character spans) of texts ``a`` and ``b``
    at ``layer``, -inf where a word has no token."""
    a_tokens, b_tokens = model.tokens(a), model.tokens(b)
    return word_similarity(word_vectors(token_states(model, a_tokens.ids, layer), a_tokens.spans, a_words),
                           word_vectors(token_states(model, b_tokens.ids, layer), b_tokens.spans, b_words))


def word_similarity(a_vectors: np.ndarray, b_vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity float32 ``[n_a_words, n_b_words]`` of unit word vectors (:func:`word_vectors`), -inf for a
    word without a token (its zero vector)."""
    similarity = a_vectors @ b_vectors.T
    similarity[~np.any(a_vectors != 0, axis=1), :] = -np.inf
    similarity[:, ~np.any(b_vectors != 0, axis=1)] = -np.inf
    return similarity


def embedding_argmax(model: AttentionModel, a: str, b: str, a_words: np.ndarray, b_words: np.ndarray, *,
                     layer: int) -> np.ndarray:
    """bool ``[n_a_words, n_b_words]``: word pairs that are each other's most similar word at ``layer``."""
    return dense_mutual_argmax(embedding_similarity(model, a, b, a_words, b_words, layer=layer))


def dense_mutual_argmax(scores: np.ndarray) -> np.ndarray:
    """bool ``[n_a, n_b]``: the finite cells that are the highest of their row and of their column (the first on
    ties), as :func:`mia.alignment.decoding.mutual_argmax` decides them, without listing every cell (a document's
    word pairs run to tens of millions)."""
    linked = np.zeros(scores.shape, bool)
    if scores.size == 0:
        return linked
    rows = np.arange(scores.shape[0])
    best_col, best_row = np.argmax(scores, axis=1), np.argmax(scores, axis=0)
    mutual = (best_row[best_col] == rows) & np.isfinite(scores[rows, best_col])
    linked[rows[mutual], best_col[mutual]] = True
    return linked
