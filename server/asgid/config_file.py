"""``--config FILE``: options by their long names in TOML, applied under env and command line.

Precedence, strongest first: command line, ``ASGID_*`` environment, this file, built-in
defaults. The file only supplies argparse defaults, and every value goes through the same
conversion and checks as on the command line, so the file cannot mean anything a flag
cannot. An unknown key or a bad value is a ``ConfigError`` naming the key and the file.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asgid.errors import ConfigError

APP_KEYS = ("app", "application")


def config_path(argv: Sequence[str], environ: dict[str, str]) -> str | None:
    """``--config FILE`` from the command line, else ``ASGID_CONFIG``."""
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--config")
    found, _ = finder.parse_known_args(list(argv))
    path: str | None = found.config or environ.get("ASGID_CONFIG")
    return path


def apply_file(parser: argparse.ArgumentParser, path: str) -> None:
    """Set the parser's defaults from the TOML file at ``path``."""
    table = _read(path)
    actions = _actions_by_name(parser)
    for key, raw in table.items():
        name = key.replace("_", "-")
        if key in APP_KEYS:
            if not isinstance(raw, str):
                raise ConfigError(f"{path}: '{key}' must be a string like 'myproject.asgi:app'")
            parser.set_defaults(application=raw)
            continue
        action = actions.get(name)
        if action is None or name == "config":
            raise ConfigError(
                f"{path}: unknown option '{key}'; write options by their long names, "
                "e.g. workers = 4 or graceful-timeout = 25"
            )
        try:
            value = _value(action, raw)
        except (TypeError, ValueError) as exc:
            detail = f" ({exc})" if str(exc) else ""
            raise ConfigError(f"{path}: bad value {raw!r} for '{key}'{detail}") from None
        parser.set_defaults(**{action.dest: value})


def _read(path: str) -> dict[str, Any]:
    # tomllib from 3.11; the same module as tomli before (a dependency on 3.10 only).
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror}") from None
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None
    # An [asgid] table is accepted too, so the options can live in a shared file.
    section = table.get("asgid")
    return section if isinstance(section, dict) and len(table) == 1 else table


def _actions_by_name(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    actions: dict[str, argparse.Action] = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                actions[option[2:].replace("_", "-")] = action
    return actions


def _value(action: argparse.Action, raw: Any) -> Any:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(raw, bool):
            raise ValueError("write true or false")
        return raw if isinstance(action, argparse._StoreTrueAction) else not raw
    if isinstance(action, argparse._AppendAction):
        items = raw if isinstance(raw, list) else [raw]
        return [_one(action, item) for item in items]
    return _one(action, raw)


def _one(action: argparse.Action, raw: Any) -> Any:
    if isinstance(raw, (dict, list, bool)):
        raise ValueError(f"expected a {'number' if action.type in (int, float) else 'string'}")
    value = action.type(str(raw)) if callable(action.type) else str(raw)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"choose from {', '.join(map(str, action.choices))}")
    return value
