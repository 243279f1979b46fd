"""Converters for command-line values: each turns one string into a checked value or raises argparse's error.

argparse reports the error with the flag's name and exits 2 before any work.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Literal


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number


def fraction(value: str) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


def share(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


probability = share  # a probability threshold: the same check


def whole_number_in(low: int, high: int) -> Callable[[str], int]:
    """A converter to a whole number from ``low`` to ``high`` (checked when the command line is parsed)."""
    def whole_number(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {value}")
        return number

    return whole_number


def positive_number(value: str) -> float:
    number = float(value)
    if not (number > 0 and number != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {value}")
    return number


positive_seconds = positive_number


MAX_MEGABYTES = 2**20  # a terabyte: more than any machine mia runs on reads into memory


def megabytes(value: str) -> float:
    """A size in MB from one byte (about 1e-6 MB) to :data:`MAX_MEGABYTES` (``--max-file-mb``)."""
    number = positive_number(value)
    if int(number * 2**20) < 1:
        raise argparse.ArgumentTypeError(f"must allow at least one byte (1e-6 MB or more), got {value}")
    if number > MAX_MEGABYTES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_MEGABYTES} MB (a terabyte), got {value}")
    return number


def layer_choice(value: str) -> int | Literal["middle"] | None:
    """``--embedding-layer``: a layer number (0: the embedding layer), ``middle`` (the model's middle layer) or
    ``none`` (no embedding aligner)."""
    if value == "middle":
        return "middle"
    if value == "none":
        return None
    try:
        return non_negative(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a layer number, middle or none, got {value!r}") from None
