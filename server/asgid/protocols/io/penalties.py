"""Addresses just cut off for flooding, and how long their next connections wait to be read.

A flooding client that is cut off (GOAWAY ENHANCE_YOUR_CALM, or TLS given bytes that are
no TLS) usually reconnects at once, and every new connection costs an accept, a TLS or
HTTP/2 set-up and a read before its budgets can trip again. After a flood from an address,
a new connection from that address is accepted but not read until the wait has passed
since the cut-off: the attacker waits instead of costing the server (and, on one machine,
the other clients) a connection's work.

Bounded on every side, because a legitimate client may share the address (NAT, a local
probe, a TCP load balancer without the PROXY protocol):

- a connection already established is never slowed: only connections accepted during
  the wait are held, and only until the wait ends;
- the wait doubles with each flood from the address, from a sixteenth of ``max_wait_s``
  (``--flood-penalty-max``, 2 s by default; 0 turns this off) up to all of it;
- an address with no flood for ``FORGET_S`` starts again from nothing, and at most
  ``MAX_ADDRESSES`` are remembered (the oldest forgotten first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

FIRST_WAIT_SHARE = 1 / 16  # of the longest wait: 2 s gives 0.125, 0.25, 0.5, 1, 2
FORGET_S = 60.0
MAX_ADDRESSES = 4096


class Penalties:
    """Per-address flood record of one server process."""

    __slots__ = ("_clock", "_max_wait_s", "_floods")

    def __init__(self, clock: IReactorTime, max_wait_s: float) -> None:
        self._clock = clock
        self._max_wait_s = max_wait_s
        # host -> (floods in a row, wait ends at, last flood at); oldest first
        self._floods: dict[str, tuple[int, float, float]] = {}

    def flooded(self, host: str | None) -> None:
        """A connection from ``host`` was just cut off for flooding."""
        if host is None or self._max_wait_s <= 0:
            return
        now = self._clock.seconds()
        floods, _, last = self._floods.pop(host, (0, 0.0, 0.0))
        if now - last > FORGET_S:
            floods = 0
        floods += 1
        wait = min(self._max_wait_s, self._max_wait_s * FIRST_WAIT_SHARE * 2 ** min(floods - 1, 8))
        self._floods[host] = (floods, now + wait, now)
        if len(self._floods) > MAX_ADDRESSES:
            del self._floods[next(iter(self._floods))]

    def wait_s(self, host: str | None) -> float:
        """How long a connection from ``host`` accepted now waits before it is read."""
        if host is None or not self._floods:
            return 0.0
        record = self._floods.get(host)
        if record is None:
            return 0.0
        return max(0.0, record[1] - self._clock.seconds())
