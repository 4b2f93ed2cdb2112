"""The text of a flag or an ``ASGID_*`` variable turned into the value ``Config`` takes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from asgid.config import MIB
from asgid.errors import ConfigError


def seconds_or_none(text: str) -> float | None:
    """Seconds; Daphne's negative values mean "none" (no limit)."""
    value = float(text)
    return None if value < 0 else value


FOREVER_S = 365 * 86400.0


def seconds_or_forever(text: str) -> float:
    """Daphne's -1 ("no limit") for timeouts that ``Config`` keeps as a number of seconds."""
    value = float(text)
    return FOREVER_S if value < 0 else value


def parse_size(text: str) -> int:
    """Bytes, with an optional k/m/g suffix (powers of 1024)."""
    units = {"k": 1024, "m": MIB, "g": 1024 * MIB}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def parse_csv(text: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def as_argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """argparse reports only ArgumentTypeError/ValueError as usage errors, not ConfigError."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert
