"""A small cache of sentence embeddings, kept on a loaded model (:class:`~mia.models.attention.AttentionModel`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class EmbeddingCache:
    """The embeddings of the last few texts' sentences, by a key the caller makes (the text's SHA-1 and its sentence
    spans): a document compared with several others is embedded once. Bounded to ``limit`` texts."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self.items: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = make()
        self.items[key] = value
        while len(self.items) > self.limit:
            self.items.popitem(last=False)
        return value
