"""What every command shares: progress bars and messages on stderr, output to stdout or a file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

LOG_EVERY_SECONDS = 10.0  # without a terminal: a progress line at most this often (and at the end)


def progress(items: Iterable[Any], description: str, total: int | None = None) -> Iterable[Any]:
    """A tqdm progress bar on stderr when it is a terminal; otherwise (a log file, a pipe, CI) a plain line every
    :data:`LOG_EVERY_SECONDS` seconds and one at the end, so a log shows where a long run is."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(items, desc=description, total=total, unit="pair", file=sys.stderr)
    return progress_lines(items, description, total)


def progress_lines(items: Iterable[Any], description: str, total: int | None = None, *,
                   every: float = LOG_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic) -> Iterator[Any]:
    """``items``, saying ``description: done/total (seconds)`` on stderr every ``every`` seconds and at the end."""
    started = last = clock()
    done = 0
    of = f"/{total}" if total is not None else ""
    for item in items:
        yield item
        done += 1
        now = clock()
        if now - last >= every:
            say(f"{description}: {done}{of} ({now - started:.0f} s)")
            last = now
    elapsed = clock() - started
    if done and elapsed >= every:  # a step that took a while says it is done; a quick one stays quiet
        say(f"{description}: {done}{of} done ({elapsed:.0f} s)")


def require_extra(module: str, needed_for: str) -> None:
    """Raise a one-line error before any work when the optional package ``module`` (the ``search`` extra) is not
    installed."""
    import importlib

    from mia.errors import MiaError

    try:
        importlib.import_module(module)
    except ImportError:
        raise MiaError(f"{needed_for} needs the package {module!r}, which is not installed: "
                       "pip install 'mia[search]'") from None


def threads_capped(workers: int, requested: int, flag: str = "--threads") -> int:
    """Threads per worker capped so that workers x threads stays within the cores here, saying so when it caps."""
    from mia.workers import cap_threads

    threads = cap_threads(workers, requested)
    if threads < requested:
        say(f"{flag} {requested} capped at {threads} ({workers} workers x {threads} threads: the cores available here)")
    return threads


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


def detector_files(name: str) -> dict[str, str]:
    """The two files of a detector folder (``--detector``), as inputs no output may replace."""
    from mia.detector.folder import resolve_detector
    from mia.detector.record import METADATA_FILE, WEIGHTS_FILE

    folder = resolve_detector(name)
    return {"--detector": str(folder / METADATA_FILE), "--detector weights": str(folder / WEIGHTS_FILE)}


def check_output(out: str | None, inputs: dict[str, Any], flag: str = "--out", *,
                 folders: dict[str, Any] | None = None) -> None:
    """Before any work: ``out`` can be written (:func:`mia.io.check_output_file`), is none of the input files and
    lies in none of the input ``folders``."""
    from mia.io import check_not_input, check_output_file

    check_output_file(out, flag)
    check_not_input(out, inputs, folders=folders, flag=flag)


def write_lines_or_print(lines: Iterable[str], out: str | None) -> None:
    """Print ``lines`` (each ends with one newline, empty ones too), or write them atomically to the file ``out``."""
    if out is None:
        for line in lines:
            sys.stdout.write(line + "\n")
        return
    from mia.io import write_atomic

    write_atomic(lines, out)
