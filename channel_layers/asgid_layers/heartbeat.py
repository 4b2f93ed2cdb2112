"""Heartbeats of the processes a layer serves, so a dead process is reclaimed.

A process that is killed (``kill -9``, OOM, a lost host) leaves group
memberships, member sets and a queue behind; group sends would go on queueing
for it until ``group_expiry`` (a day). Each event loop's layer state therefore
refreshes, every third of ``process_expiry``, the entry of each process prefix
(``specific.x!``) it created channels for or reads, in its shard's
``keys.PROCESSES`` set, with Redis' clock. The same script, and every
``group_send``, reclaims processes silent for longer (``reclaim`` in
``lua/common.lua``). A process is only ever reclaimed after it has beaten once:
processes of a release without heartbeats are left to ``group_expiry``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .retry import NETWORK_ERRORS, stop_task

if TYPE_CHECKING:
    from .sharding import HashRing

logger = logging.getLogger(__name__)


class Heartbeat:
    """The heartbeat task of one layer state (one event loop)."""

    def __init__(self, *, ring: HashRing[Any], process_expiry: int, group_expiry: int) -> None:
        self._ring = ring
        self._process_expiry, self._group_expiry = process_expiry, group_expiry
        self._owners: set[str] = set()
        self._beaten: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def serve(self, owner: str) -> None:
        """Keep ``owner`` (a process prefix ending in ``!``) alive from now on."""
        if owner in self._owners:
            return
        self._owners.add(owner)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self._process_expiry / 3)

    async def beat(self) -> None:
        """One round: every shard, even those without owners here, so that this
        process also reclaims the silent processes of other shards."""
        for shard in self._ring.shards:
            owners = [o for o in self._owners if self._ring.for_channel(o) is shard]
            args: list[Any] = [self._process_expiry, self._group_expiry, *owners]
            try:
                reply = await shard.scripts.run(
                    "heartbeat", shard.keys.base, [shard.keys.processes()], args
                )
            except NETWORK_ERRORS as exc:
                if not self._failing:
                    logger.warning("heartbeat to %s failed (%s)", shard.clients.label, exc)
                self._failing = True
                continue
            self._failing = False
            self._check(int(reply[0]), [o.decode() for o in reply[1]], owners)

    def _check(self, reclaimed: int, fresh: list[str], owners: list[str]) -> None:
        if reclaimed:
            logger.info("reclaimed %d process(es) silent for %ss", reclaimed, self._process_expiry)
        for owner in fresh:
            if owner in self._beaten:
                logger.warning(
                    "%s was no longer registered in Redis: it was out of reach for longer "
                    "than process_expiry (%ss) and was reclaimed, or Redis lost its data; "
                    "its group memberships and queued messages are gone (raise "
                    "process_expiry if Redis is often out of reach that long)",
                    owner,
                    self._process_expiry,
                )
        self._beaten.update(owners)

    def forget(self) -> None:
        """After ``flush()``: the registry is gone on purpose, not by reclaim."""
        self._beaten.clear()

    async def aclose(self) -> None:
        await stop_task(self._task)
