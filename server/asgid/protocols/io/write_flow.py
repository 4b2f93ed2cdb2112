"""``WriteFlow``: the write side of a connection as its transport's push producer.

When Twisted's write buffer for a connection is full it calls ``pauseProducing``; the
app's next ``send()`` then awaits ``wait_writable()`` until ``resumeProducing``, so a
client that does not read cannot make the server buffer without bound.

A body chunk the socket did not take whole is finished from the write loop itself
(``refill_from``): when Twisted finds the socket writable it calls ``resumeProducing``,
which sends what is left right there, and the app's ``send()`` resumes only once all of it
is in the kernel. The kernel is refilled in the same loop turn that reported it writable,
not after the app's task has been woken to do it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer


@implementer(IPushProducer)
class WriteFlow:
    """Mixed into a connection protocol that has a ``loop``."""

    loop: asyncio.AbstractEventLoop
    write_paused = False
    _write_waiter: asyncio.Future[None] | None = None
    _refill: Callable[[], bool] | None = None  # sends held bytes; True once none are left

    def pauseProducing(self) -> None:
        self.write_paused = True

    def resumeProducing(self) -> None:
        refill = self._refill
        if refill is not None and not refill():
            return  # the socket is full again: stay paused until it is writable
        self.write_paused = False
        self._wake_writer()

    def refill_from(self, send: Callable[[], bool]) -> None:
        """Until ``send()`` answers True, call it instead of waking the writer each time
        the transport takes writes again."""
        self._refill = send

    def stopProducing(self) -> None:
        self._wake_writer()

    def wait_writable(self) -> asyncio.Future[None]:
        """Resolves when the transport takes writes again (or the connection is gone)."""
        if self._write_waiter is None:
            self._write_waiter = self.loop.create_future()
        return self._write_waiter

    def _wake_writer(self) -> None:
        self._refill = None  # it refers to the transport: no cycle outlives the wait
        waiter = self._write_waiter
        if waiter is not None:
            self._write_waiter = None
            if not waiter.done():
                waiter.set_result(None)
