"""The one retry helper of both layers' background loops: back off, log once, count recoveries."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

from .connection import BLOCK_S
from .stats import LayerStats
from .wire import WireConnection, pack

logger = logging.getLogger(__name__)

NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_DELAYS_S = (0.05, 0.1, 0.2, 0.5, 1.0)


class PipelinedPops:
    """One reader's blocking pops, kept ``DEPTH`` deep on its own wire connection.

    Redis runs a client's commands in order, so a pop queued behind a blocked one
    starts the moment that one is answered: no write from us and no extra Redis
    wake-up per answer, one write per ``DEPTH - 1`` answers. Closing the
    connection withdraws every queued pop without taking anything.
    """

    DEPTH = 8

    def __init__(self, connection: WireConnection, key: str, count: int) -> None:
        self.connection = connection
        self._key, self._count, self._blpop = key, count, False
        self._in_flight: deque[asyncio.Future[Any]] = deque()

    async def pop(self) -> list[bytes]:
        if len(self._in_flight) <= 1:
            command = (
                pack(("BLPOP", self._key, BLOCK_S))
                if self._blpop
                else _pop_command(self._key, self._count)
            )
            more = [command] * (self.DEPTH - len(self._in_flight))
            self._in_flight.extend(await self.connection.send_many(more))
        try:
            reply = await self._in_flight[0]
        except asyncio.CancelledError:
            self._withdraw()
            raise
        except ResponseError as exc:  # Redis < 7 has no BLMPOP
            self._withdraw()
            if self._blpop or "unknown command" not in str(exc).lower():
                raise
            self._blpop = True
            return []
        except BaseException:
            self._withdraw()
            raise
        self._in_flight.popleft()
        if not reply:
            return []
        return [reply[1]] if self._blpop else list(reply[1])

    def _withdraw(self) -> None:
        """Drop the connection and the pops queued on it, retrieving their outcome."""
        self.connection.abort()
        while self._in_flight:
            future = self._in_flight.popleft()
            if future.done() and not future.cancelled():
                future.exception()
            else:
                future.cancel()


async def blocking_pop(client: Any, key: str, count: int) -> list[bytes]:
    """Pop up to ``count`` elements, waiting up to ``BLOCK_S`` for the first."""
    if isinstance(client, PipelinedPops):
        return await client.pop()
    if isinstance(client, WireConnection):
        return await _wire_pop(client, key, count)
    try:
        reply = await client.execute_command("BLMPOP", BLOCK_S, 1, key, "LEFT", "COUNT", count)
    except ResponseError as exc:  # Redis < 7 has no BLMPOP
        if "unknown command" not in str(exc).lower():
            raise
        reply = await client.execute_command("BLPOP", key, BLOCK_S)
        return [] if not reply else [reply[1]]
    return [] if not reply else list(reply[1])


@functools.lru_cache(maxsize=1024)
def _pop_command(key: str, count: int) -> bytes:
    # A reader sends the same pop over and over: encoded once.
    return pack(("BLMPOP", BLOCK_S, 1, key, "LEFT", "COUNT", count))


async def _wire_pop(client: WireConnection, key: str, count: int) -> list[bytes]:
    try:
        try:
            reply = await client.call(_pop_command(key, count))
        except ResponseError as exc:  # Redis < 7 has no BLMPOP
            if "unknown command" not in str(exc).lower():
                raise
            reply = await client.call(pack(("BLPOP", key, BLOCK_S)))
            return [] if not reply else [reply[1]]
    except asyncio.CancelledError:
        # The pop is still blocked in Redis and would take an element for nobody:
        # only closing the connection withdraws it.
        client.abort()
        raise
    return [] if not reply else list(reply[1])


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel until done: redis-py may turn a cancel that lands mid-command into a
    connection error, which the loops treat as retryable."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


class Retrying:
    """Reconnect bookkeeping of one background loop (reader, fetcher, subscriber).

    A stretch starts when the loop sends Redis a command while none is pending
    and ends with the first answer. A once-a-second check calls ``on_stall``
    while a stretch is longer than ``stall_s`` (the ``reconnect_timeout``; a
    healthy blocking pop answers every ``BLOCK_S``), so receivers waiting on this
    loop give up with an error while the loop keeps reconnecting. One timer per
    loop, not one per command: pops are the hot path.
    """

    def __init__(
        self,
        stats: LayerStats,
        what: str,
        *,
        stall_s: float = 0.0,
        on_stall: Callable[[float], None] | None = None,
    ) -> None:
        self._stats, self._what, self._failures = stats, what, 0
        self._stall_s, self._on_stall = stall_s, on_stall
        self._since: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def begin(self) -> None:
        """A command to Redis is about to be sent."""
        if self._since is None:
            self._since = time.monotonic()
        if self._timer is None and self._on_stall is not None:
            self._timer = asyncio.get_running_loop().call_later(1.0, self._check)

    def _check(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(1.0, self._check)
        if self._since is not None and self._on_stall is not None:
            stalled_s = time.monotonic() - self._since
            if stalled_s >= self._stall_s:
                self._on_stall(stalled_s)

    def stop(self) -> None:
        """The loop ends: no stretch, no timer."""
        self._since = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def failed(self, exc: BaseException) -> None:
        delay = _DELAYS_S[min(self._failures, len(_DELAYS_S) - 1)]
        if self._failures == 0:
            logger.warning("%s lost Redis (%s); reconnecting", self._what, exc)
        self._failures += 1
        await asyncio.sleep(delay)

    def succeeded(self) -> None:
        self._since = None
        if self._failures:
            logger.info("%s reconnected after %d attempts", self._what, self._failures)
            self._stats.reconnects += 1
            self._failures = 0

    async def pop(self, client: Any, key: str, count: int) -> list[bytes] | None:
        """``blocking_pop``, or None after a failure has been backed off."""
        self.begin()
        try:
            items = await blocking_pop(client, key, count)
        except NETWORK_ERRORS as exc:
            await self.failed(exc)
            return None
        except Exception as exc:  # a dead reader would strand every receiver
            logger.exception("%s failed; retrying", self._what)
            await self.failed(exc)
            return None
        self.succeeded()
        return items
