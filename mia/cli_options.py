"""Command options declared once: a dataclass per command, argparse derived from its fields.

A field's metadata (from :func:`option`) holds its help text and, where needed, a converter and a flag name;
its type gives the rest: ``bool`` is a switch, a ``Literal`` gives the choices, a field with no default is
required. ``to_dict``/``from_dict`` round-trip a config (``from_dict`` ignores unknown keys).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

C = TypeVar("C", bound="CommandConfig")
_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, help: str = "", *, type: Callable[[str], Any] | None = None,
           flag: str | None = None, metavar: str | None = None) -> Any:
    """A config field that is also a command-line option (``--field-name`` unless ``flag`` says otherwise)."""
    metadata = {"help": help, "type": type, "flag": flag, "metavar": metavar}
    if default is _MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class CommandConfig:
    """Shared ``to_dict``/``from_dict`` of the per-command configs (dataclasses)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare every field of this config as an option of ``parser``."""
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            meta = field.metadata
            flag = meta.get("flag") or "--" + field.name.replace("_", "-")
            kind, choices = _base_type(hints[field.name])
            help_text = meta.get("help", "")
            kwargs: dict[str, Any] = {"dest": field.name, "help": help_text}
            if field.default is _MISSING:
                kwargs["required"] = True
            else:
                kwargs["default"] = field.default
            if kind is bool:
                parser.add_argument(flag, action="store_true", **kwargs)
                continue
            if choices:
                kwargs["choices"] = choices
            kwargs["type"] = meta.get("type") or kind
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
            parser.add_argument(flag, **kwargs)


def _base_type(hint: Any) -> tuple[Any, list[Any] | None]:
    """``(converter type, choices)`` of a field's annotation: ``X | None`` is ``X``; a Literal gives choices."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is typing.Literal:
        values = list(typing.get_args(hint))
        return type(values[0]), values
    return hint, None


# --- converters that check values (argparse turns their errors into exit code 2) -----------------------------


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def fraction(value: str) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number


def probability(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {number}")
    return number
