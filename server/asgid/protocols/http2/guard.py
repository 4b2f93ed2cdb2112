"""Per-connection budgets against HTTP/2 floods (rapid reset, PING, SETTINGS, PRIORITY, empty DATA).

Each budget counts one kind of cheap-to-send, costly-to-answer frame in a fixed time
window; going over it is a connection error ENHANCE_YOUR_CALM (RFC 9113 §5.4.1, §10.5).
Header-list size and HPACK expansion are bounded by ``h2`` itself from the settings we
advertise (see ``H2Protocol``).

RST_STREAM, PING, SETTINGS and CONTINUATION frames are counted from the 9-byte frame
headers of each read before ``h2`` parses any of it (``FloodGuard.count_frames``): a
flood's read is refused whole instead of being parsed first. ``h2`` takes 5-15 µs a frame;
reading a header, well under one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime


class FloodDetected(Exception):
    """The peer went over one of its budgets; the message names which."""


@dataclass(slots=True)
class Budget:
    """At most ``limit`` events per ``window_s`` seconds."""

    name: str
    limit: int
    window_s: float
    _count: int = 0
    _window_end: float = field(default=0.0)

    def spend(self, now: float) -> None:
        if now >= self._window_end:
            self._window_end = now + self.window_s
            self._count = 0
        self._count += 1
        if self._count > self.limit:
            raise FloodDetected(f"{self.name}: more than {self.limit} in {self.window_s:g}s")


class FloodGuard:
    """The budgets of one connection; limits chosen well above what browsers and h2load send.

    CVE-2023-44487 (rapid reset; streams refused beyond the concurrency limit count too),
    CVE-2019-9512 (ping), -9515 (settings), -9513 (priority) and -9518 (empty frames) each
    get a budget.
    """

    __slots__ = (
        "resets", "pings", "settings", "priorities", "empty_data",
        "_clock", "_skip", "_head", "_continuations",
    )  # fmt: skip

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._skip = len(PREFACE)  # bytes before the next frame header: the preface is none
        self._head = b""  # a frame header split across reads
        self._continuations = 0  # CONTINUATION frames in a row: the header block's so far
        self.resets = Budget("stream reset or refused flood (rapid reset)", 200, 10.0)
        self.pings = Budget("PING flood", 100, 10.0)
        self.settings = Budget("SETTINGS flood", 100, 10.0)
        self.priorities = Budget("PRIORITY flood", 1000, 10.0)
        self.empty_data = Budget("empty DATA frame flood", 200, 10.0)

    def now(self) -> float:
        return self._clock.seconds()

    def count_frames(self, data: bytes) -> None:
        """Spend the budgets of the RST_STREAM, PING and SETTINGS frames ``data`` holds
        and bound the CONTINUATION frames of a header block.

        ``data`` is the next read, in order; a frame may span reads. Raises
        ``FloodDetected`` before ``h2`` has parsed a byte of the read that overspends.
        """
        if self._head:
            data, self._head = self._head + data, b""
        size = len(data)
        pos = self._skip
        now = 0.0
        while pos + FRAME_HEADER <= size:
            length_kind, flags = _HEADER.unpack_from(data, pos)
            kind = length_kind & 0xFF
            if kind == CONTINUATION:
                self._continuations += 1
                if self._continuations > MAX_CONTINUATIONS:
                    raise FloodDetected(
                        f"CONTINUATION flood: more than {MAX_CONTINUATIONS} in one header block"
                    )
            elif self._continuations:
                self._continuations = 0
            if kind in _COUNTED:
                now = now or self._clock.seconds()
                if kind == RST_STREAM:
                    self.resets.spend(now)
                elif flags & ACK:
                    pass  # an answer to our PING or SETTINGS is owed nothing
                elif kind == PING:
                    self.pings.spend(now)
                else:
                    self.settings.spend(now)
            pos += FRAME_HEADER + (length_kind >> 8)
        if pos > size:
            self._skip = pos - size
        else:
            self._skip = 0
            self._head = data[pos:]


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER = 9  # length (24 bits), type, flags, stream id (RFC 9113 §4.1)
_HEADER = struct.Struct(">IB")  # length << 8 | type, then flags
SETTINGS, RST_STREAM, PING, CONTINUATION = 0x4, 0x3, 0x6, 0x9
# As h2's own bound (CVE-2024-27316), checked before h2 has buffered them: a header block
# within SETTINGS_MAX_HEADER_LIST_SIZE needs a few frames of the default 16 KiB.
MAX_CONTINUATIONS = 64
ACK = 0x1  # the flag of a SETTINGS or PING answer
_COUNTED = frozenset((SETTINGS, RST_STREAM, PING))
