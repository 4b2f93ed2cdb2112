"""Bounded-by-caller FIFO of payloads for one channel, safe to cancel while waiting.

Cancellation safety (channels_redis#151) comes from one rule: only background
tasks owned by the layer pop from Redis, and whatever they pop lands in a
:class:`ChannelBuffer`. A ``receive()`` only waits on a buffer, so cancelling it
at any point leaves every message where the next ``receive()`` finds it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable


class ChannelBuffer:
    """FIFO of payloads for one channel with cancellation-safe waiting."""

    def __init__(
        self, on_demand: Callable[[], None] | None = None, limit: float = math.inf
    ) -> None:
        self.items: deque[bytes] = deque()
        self.limit = limit  # the channel's capacity, for the reader that fills it
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_demand = on_demand
        self.last_used = time.monotonic()

    @property
    def demand(self) -> int:
        """Waiting receivers not yet matched by a buffered item."""
        return len(self._waiters) - len(self.items)

    @property
    def idle(self) -> bool:
        return not self._waiters

    def put(self, item: bytes) -> None:
        self.items.append(item)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def fail(self, exc: BaseException) -> None:
        """Wake every waiting receiver with ``exc``; buffered items stay."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)

    async def get(self) -> bytes:
        if self.items:  # fast path: no future
            self.last_used = time.monotonic()
            return self.items.popleft()
        # While a receiver waits the buffer is not idle, so last_used is set once,
        # when the wait ends.
        while not self.items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            if self._on_demand is not None:
                self._on_demand()
            try:
                await waiter
            except asyncio.CancelledError:
                self.last_used = time.monotonic()
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # we were handed an item's wake-up: pass it on
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        self.last_used = time.monotonic()
        return self.items.popleft()
