"""``events.new_event`` builds an event from a tuple without the class's checks: every call
must give every field, or a field added later (with a default) would be missing there."""

from __future__ import annotations

import ast
from pathlib import Path

from asgid import events

SERVER = Path(__file__).resolve().parent.parent / "server" / "asgid"


def _calls() -> list[tuple[str, int, str, int]]:
    """(file, line, event class, fields given) of each ``new_event(Class, (...))``."""
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "new_event"
            ):
                kind, fields = node.args
                assert isinstance(kind, ast.Name) and isinstance(fields, ast.Tuple), (
                    f"{path}:{node.lineno}: new_event takes a class name and a literal tuple"
                )
                found.append((path.name, node.lineno, kind.id, len(fields.elts)))
    return found


def test_new_event_calls_give_every_field() -> None:
    calls = _calls()
    assert calls  # the per-request paths use it
    for file, line, kind, given in calls:
        expected = len(getattr(events, kind)._fields)
        assert given == expected, f"{file}:{line}: {kind} has {expected} fields, {given} given"
