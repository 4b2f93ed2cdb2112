"""The one retry helper of both layers' background loops: back off, log once, count recoveries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

from .connection import BLOCK_S
from .stats import LayerStats

logger = logging.getLogger(__name__)

NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_DELAYS_S = (0.05, 0.1, 0.2, 0.5, 1.0)


async def blocking_pop(client: Any, key: str, count: int) -> list[bytes]:
    """Pop up to ``count`` elements, waiting up to ``BLOCK_S`` for the first."""
    try:
        reply = await client.execute_command("BLMPOP", BLOCK_S, 1, key, "LEFT", "COUNT", count)
    except ResponseError as exc:  # Redis < 7 has no BLMPOP
        if "unknown command" not in str(exc).lower():
            raise
        reply = await client.execute_command("BLPOP", key, BLOCK_S)
        return [] if not reply else [reply[1]]
    return [] if not reply else list(reply[1])


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel until done: redis-py may turn a cancel that lands mid-command into a
    connection error, which the loops treat as retryable."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


class Retrying:
    """Reconnect bookkeeping of one background loop (reader, fetcher, subscriber)."""

    def __init__(self, stats: LayerStats, what: str) -> None:
        self._stats, self._what, self._failures = stats, what, 0

    async def failed(self, exc: BaseException) -> None:
        delay = _DELAYS_S[min(self._failures, len(_DELAYS_S) - 1)]
        if self._failures == 0:
            logger.warning("%s lost Redis (%s); reconnecting", self._what, exc)
        self._failures += 1
        await asyncio.sleep(delay)

    def succeeded(self) -> None:
        if self._failures:
            logger.info("%s reconnected after %d attempts", self._what, self._failures)
            self._stats.reconnects += 1
            self._failures = 0

    async def pop(self, client: Any, key: str, count: int) -> list[bytes] | None:
        """``blocking_pop``, or None after a failure has been backed off."""
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
