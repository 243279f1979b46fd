"""The progress hook long steps take: the library reports progress through it, the CLI passes a tqdm bar."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]


def no_progress(items: Iterable[Any], description: str, total: int) -> Iterable[Any]:
    """The default progress hook: none. The CLI passes a tqdm bar."""
    return items
