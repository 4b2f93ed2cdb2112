"""``WriteFlow``: the write side of a connection as its transport's push producer.

When Twisted's write buffer for a connection is full it calls ``pauseProducing``; the
app's next ``send()`` then awaits ``wait_writable()`` until ``resumeProducing``, so a
client that does not read cannot make the server buffer without bound.
"""

from __future__ import annotations

import asyncio

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer


@implementer(IPushProducer)
class WriteFlow:
    """Mixed into a connection protocol that has a ``loop``."""

    loop: asyncio.AbstractEventLoop
    write_paused = False
    _write_waiter: asyncio.Future[None] | None = None

    def pauseProducing(self) -> None:
        self.write_paused = True

    def resumeProducing(self) -> None:
        self.write_paused = False
        self._wake_writer()

    def stopProducing(self) -> None:
        self._wake_writer()

    def wait_writable(self) -> asyncio.Future[None]:
        """Resolves when the transport takes writes again (or the connection is gone)."""
        if self._write_waiter is None:
            self._write_waiter = self.loop.create_future()
        return self._write_waiter

    def _wake_writer(self) -> None:
        waiter = self._write_waiter
        if waiter is not None:
            self._write_waiter = None
            if not waiter.done():
                waiter.set_result(None)
