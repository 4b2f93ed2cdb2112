"""Argument checks of the Channels API: names (each checked once) and messages.

Consumers receive on the same few names over and over and group_send goes to the
same groups; remembering names already found valid keeps Channels' regexes off
the per-message path.
"""

from __future__ import annotations

from collections.abc import Callable

_REMEMBERED = 10_000


class CheckedNames:
    """Calls ``check`` (e.g. ``require_valid_channel_name``) once per distinct name."""

    def __init__(self, check: Callable[[str], object]) -> None:
        self._check = check
        self._valid: set[str] = set()

    def __call__(self, name: str) -> None:
        try:
            known = name in self._valid
        except TypeError:  # unhashable, so no name: let the check say what a name is
            known = False
        if not known:
            self._check(name)
            if len(self._valid) > _REMEMBERED:
                self._valid.clear()
            self._valid.add(name)


def require_message(message: object) -> None:
    """Channels messages are dicts; anything else is refused before Redis sees it."""
    if not isinstance(message, dict):
        raise TypeError(f"message must be a dict, got {type(message).__name__}")
