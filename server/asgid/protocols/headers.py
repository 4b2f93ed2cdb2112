"""Header fields every response gets whatever the HTTP version: ``Date`` (cached per second)."""

from __future__ import annotations

import time
from email.utils import formatdate


class DateHeader:
    """RFC 9110 §6.6.1 wants a Date on every response; formatting it per request is waste."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode("ascii")
        return self._value


date_header = DateHeader()
