"""A bounded cache of sentence embeddings, kept on a loaded model (:class:`~mia.models.attention.AttentionModel`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np


class EmbeddingCache:
    """The embeddings of the last ``limit`` distinct sentences, keyed by their token ids: a document compared with
    several others is embedded once, and so is every sentence an edited copy of a document still shares with it
    (only the sentences not seen before are embedded).

    A sentence's embedding depends only on its ids (it is embedded alone, :func:`~mia.models.embedding.embed_tokens`);
    the batch it was computed in can move it by float rounding (~1e-7), nothing more.
    """

    def __init__(self, limit: int = 32_768) -> None:
        self.limit = limit
        self.items: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def vectors(self, sentences: Sequence[Sequence[int] | np.ndarray],
                make: Callable[[list[np.ndarray]], np.ndarray]) -> np.ndarray:
        """Embeddings ``[len(sentences), hidden]`` of sentences given as token ids; ``make`` embeds a list of id
        arrays (those not cached, each once) into ``[n, hidden]``."""
        ids = [np.asarray(sentence, dtype=np.int64) for sentence in sentences]
        keys = [sentence.tobytes() for sentence in ids]
        missing = list(dict.fromkeys(key for key in keys if key not in self.items))
        if missing:
            made = make([np.frombuffer(key, dtype=np.int64) for key in missing])
            for key, vector in zip(missing, made):
                self.items[key] = np.array(vector)  # a copy: a kept row must not hold its whole batch alive
        found = [self.items[key] for key in keys]
        for key in keys:
            self.items.move_to_end(key)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)
        if not found:
            return np.zeros((0, 0), np.float32)
        return np.stack(found)
