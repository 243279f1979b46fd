"""How many worker processes mia may start: never more than the cores this process may run on."""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cap_workers(requested: int) -> int:
    """``requested`` worker processes, capped at :func:`available_cores` (at least 1)."""
    return max(1, min(int(requested), available_cores()))


def cap_threads(workers: int, requested: int) -> int:
    """Threads per worker so that ``workers`` x threads stays within :func:`available_cores` (at least 1)."""
    return max(1, min(int(requested), available_cores() // max(1, int(workers))))
