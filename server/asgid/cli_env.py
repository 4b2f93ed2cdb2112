"""``ASGID_<OPTION>`` environment variables as the defaults of the command-line options."""

from __future__ import annotations

import argparse
from typing import Any

ENV_PREFIX = "ASGID_"


def apply_environment(parser: argparse.ArgumentParser, environ: dict[str, str]) -> None:
    """``ASGID_<OPTION>`` supplies an option's default, so the command line still wins."""
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "version"):
            continue
        long_names = [s for s in action.option_strings if s.startswith("--")]
        names = {action.dest.upper()} | {s[2:].replace("-", "_").upper() for s in long_names}
        raw = next(
            (environ[ENV_PREFIX + n] for n in sorted(names) if ENV_PREFIX + n in environ), None
        )
        if raw is None:
            continue
        try:
            value = _env_value(action, raw)
        except argparse.ArgumentTypeError as exc:  # the parser's own words say what to give
            parser.error(f"environment variable for {long_names[0]}: {exc}")
        except (TypeError, ValueError):
            parser.error(f"environment variable for {long_names[0]} has an invalid value {raw!r}")
        parser.set_defaults(**{action.dest: value})


def _env_value(action: argparse.Action, raw: str) -> Any:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        truthy = raw.strip().lower() in ("1", "true", "yes", "on")
        return truthy if isinstance(action, argparse._StoreTrueAction) else not truthy
    if isinstance(action, argparse._AppendAction):
        return [action.type(item) if callable(action.type) else item for item in raw.split()]
    value = action.type(raw) if callable(action.type) else raw
    if action.choices is not None and value not in action.choices:
        raise ValueError(raw)
    return value
