"""``WATCHDOG=1`` pings sent from the event loop itself, so a blocked loop stops sending them.

One process alone pets systemd's watchdog every half ``WATCHDOG_USEC``; a worker pings its
supervisor at the interval the supervisor chose and adds its load figures, which the
supervisor turns into ``STATUS=`` lines and uses to find blocked workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from asgid.systemd import notify


class Heartbeat:
    """Calls ``notify`` every ``interval_s`` on ``loop`` until stopped."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval_s: float,
        figures: Callable[[], str] = lambda: "",
    ) -> None:
        self.loop = loop
        self.interval_s = interval_s
        self.figures = figures
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._beat()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _beat(self) -> None:
        extra = self.figures()
        notify("WATCHDOG=1" + (f"\n{extra}" if extra else ""))
        self._timer = self.loop.call_later(self.interval_s, self._beat)
