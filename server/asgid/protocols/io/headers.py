"""Header fields every response gets whatever the HTTP version: ``Server`` and ``Date``."""

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

    @property
    def second(self) -> int:
        """The second (``int(time.time())``) the current value is for."""
        return self._second

    def _refresh(self, now: int) -> None:
        self._second = now
        self._value = formatdate(now, usegmt=True).encode("ascii")
        self._line = b"date: " + self._value + b"\r\n"


date_header = DateHeader()


class DefaultFields:
    """``server`` (``--server-header``) and ``date``: what every response carries unless its
    app set them (RFC 9110 §6.6.1, §10.2.4). One per server, for both HTTP versions."""

    __slots__ = ("_server", "_server_line", "_both", "_both_second")

    def __init__(self, server_header: bytes | None) -> None:
        self._server = server_header
        self._server_line = b"server: %s\r\n" % server_header if server_header is not None else b""
        self._both = b""  # server and date lines, as of the second _both_second
        self._both_second = -1

    def lines(self, *, server: bool = True, date: bool = True) -> bytes:
        """The fields asked for, as HTTP/1.1 header lines."""
        if server and date:
            # Nearly every response: both lines as one string, made once a second.
            if int(time.time()) != self._both_second:
                self._both = self._server_line + date_header.line()
                self._both_second = date_header.second
            return self._both
        return (self._server_line if server else b"") + (date_header.line() if date else b"")

    def fields(self, *, server: bool = True, date: bool = True) -> list[tuple[bytes, bytes]]:
        """The fields asked for, as (name, value) pairs for HTTP/2."""
        found = []
        if server and self._server is not None:
            found.append((b"server", self._server))
        if date:
            found.append((b"date", date_header.value()))
        return found
