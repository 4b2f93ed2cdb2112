"""Per-connection budgets against HTTP/2 floods (rapid reset, PING, SETTINGS, PRIORITY, empty DATA).

Each budget counts one kind of cheap-to-send, costly-to-answer frame in a fixed time
window; going over it is a connection error ENHANCE_YOUR_CALM (RFC 9113 §5.4.1, §10.5).
Header-list size, HPACK expansion and CONTINUATION floods are bounded by ``h2`` itself
from the settings we advertise (see ``H2Protocol``).
"""

from __future__ import annotations

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

    __slots__ = ("resets", "pings", "settings", "priorities", "empty_data", "_clock")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self.resets = Budget("stream reset or refused flood (rapid reset)", 200, 10.0)
        self.pings = Budget("PING flood", 100, 10.0)
        self.settings = Budget("SETTINGS flood", 100, 10.0)
        self.priorities = Budget("PRIORITY flood", 1000, 10.0)
        self.empty_data = Budget("empty DATA frame flood", 200, 10.0)

    def now(self) -> float:
        return self._clock.seconds()
