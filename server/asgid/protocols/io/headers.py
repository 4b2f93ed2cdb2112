"""Header fields every response gets whatever the HTTP version: ``Date`` (cached per second)."""

from __future__ import annotations

import time
from email.utils import formatdate


class DateHeader:
    """RFC 9110 §6.6.1 wants a Date on every response; formatting it per request is waste."""

    __slots__ = ("_second", "_value", "_line")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""
        self._line = b""

    def value(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._refresh(now)
        return self._value

    def line(self) -> bytes:
        """``date: ...\\r\\n``, ready for an HTTP/1.1 head."""
        now = int(time.time())
        if now != self._second:
            self._refresh(now)
        return self._line

    def _refresh(self, now: int) -> None:
        self._second = now
        self._value = formatdate(now, usegmt=True).encode("ascii")
        self._line = b"date: " + self._value + b"\r\n"


date_header = DateHeader()
