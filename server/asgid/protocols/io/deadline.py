"""``Deadline``: the one lazily re-armed timer a connection keeps for its current deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime


class Deadline:
    """One timer per connection, re-armed lazily.

    A keep-alive request only moves the deadline (head, then idle, then head again)
    instead of cancelling and scheduling a timer each time; the timer is reset only
    when a new deadline is earlier than the one it waits for.
    """

    __slots__ = ("kind", "_at", "_timer", "_timer_at", "_reactor", "_expired")

    def __init__(self, reactor: IReactorTime, expired: Callable[[str], None]) -> None:
        self.kind = ""  # "" means no deadline runs
        self._at = 0.0
        self._timer: IDelayedCall | None = None
        self._timer_at = 0.0  # when the timer fires (saves asking it on every request)
        self._reactor = reactor
        self._expired = expired

    def arm(self, kind: str, seconds: float) -> None:
        self.kind = kind
        at = self._at = self._reactor.seconds() + seconds
        timer = self._timer
        if timer is None:
            self._timer = self._reactor.callLater(seconds, self._fire)
            self._timer_at = at
        elif self._timer_at > at:
            timer.reset(seconds)
            self._timer_at = at

    def cancel(self) -> None:
        self.kind = ""
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def close(self) -> None:
        """Cancel for good and let go of the owner's callback.

        The callback is the owner's bound method, so a deadline kept by its owner is a
        reference cycle; dropping it at the end of the connection lets reference counting
        free both without waiting for the cyclic collector.
        """
        self.cancel()
        self._expired = _ignore

    def _fire(self) -> None:
        self._timer = None
        kind = self.kind
        if not kind:
            return
        remaining = self._at - self._reactor.seconds()
        if remaining > 0.001:
            self._timer = self._reactor.callLater(remaining, self._fire)
            self._timer_at = self._at
        else:
            self.kind = ""
            self._expired(kind)


def _ignore(kind: str) -> None:
    pass
