"""What every command shares: progress bars and messages on stderr, output to stdout or a file."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress(items: Iterable[Any], description: str, total: int | None = None) -> Iterable[Any]:
    """A tqdm progress bar on stderr (shown on a terminal only)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, total=total, unit="pair", disable=None, file=sys.stderr)


def say(message: str) -> None:
    print(message, file=sys.stderr)


def workers_capped(requested: int, flag: str) -> int:
    """``requested`` workers capped at the cores available here, saying so when it caps."""
    from mia.workers import cap_workers

    workers = cap_workers(requested)
    if workers < requested:
        say(f"{flag} {requested} capped at {workers} (the cores available here)")
    return workers


def write_or_print(text: str, out: str | None) -> None:
    """Print ``text``, or write it atomically to the file ``out``."""
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from mia.io import write_atomic

    write_atomic([text], out)
