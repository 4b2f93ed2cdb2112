"""Process-local readers: one background reader per process-local queue, one
fetcher per named channel, each filling bounded per-channel buffers.

Only these background tasks pop from Redis (see ``buffers.py`` for why that
makes ``receive()`` safe to cancel).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from . import elements
from .buffers import ChannelBuffer
from .errors import RedisUnavailable
from .member_sets import MemberSets
from .retry import NETWORK_ERRORS, PipelinedPops, Retrying, stop_task
from .stats import LayerStats
from .wire import WireConnection

logger = logging.getLogger(__name__)

_BATCH = 512


def stall_handler(
    label: str, timeout_s: float, buffers: Callable[[], Iterable[ChannelBuffer]]
) -> Callable[[float], None]:
    """What a loop's stall does: every receiver waiting on it gets RedisUnavailable."""

    def on_stall(stalled_s: float) -> None:
        exc = RedisUnavailable(
            f"Redis at {label} has not answered for {stalled_s:.0f} s "
            f"(reconnect_timeout={timeout_s:g}); the layer keeps reconnecting, "
            "call receive() again to go on waiting"
        )
        for buffer in buffers():
            buffer.fail(exc)

    return on_stall


class LocalReader:
    """The one reader of a process-local queue (``specific.<id>!``) per event loop.

    Elements (``elements.py``) are demultiplexed into one buffer per local
    channel. Capacity is counted per channel in Redis until the consumer takes
    the message (``pending_release`` then gives it back), so a slow consumer
    makes its own channel full instead of growing this buffer.
    """

    def __init__(
        self,
        *,
        client: Any,
        popper: Any,
        queue: str,
        release: Callable[[dict[str, int]], Awaitable[None]],
        stats: LayerStats,
        idle_s: float,
        limit: Callable[[str], int],
        member_set: Callable[[str], str],
        label: str,
        reconnect_timeout_s: float,
    ) -> None:
        self._client, self._queue, self._release = client, queue, release
        # A connection of its own on plain hosts (wire.py), its pops kept queued.
        if isinstance(popper, WireConnection):
            popper = PipelinedPops(popper, queue, _BATCH)
        self._popper = popper
        self._stats, self._idle_s, self._limit = stats, idle_s, limit
        self._sets = MemberSets(client=client, key=member_set, stats=stats)
        self._retry = Retrying(
            stats,
            f"reader of {queue}",
            stall_s=reconnect_timeout_s,
            on_stall=stall_handler(label, reconnect_timeout_s, lambda: self.buffers.values()),
        )
        self.buffers: dict[str, ChannelBuffer] = {}
        self.pending_release: dict[str, int] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.closing = False
        self._next_sweep = time.monotonic() + idle_s

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def buffer_for(self, local: str) -> ChannelBuffer:
        """The buffer a receiver of ``local`` waits on; starts (or restarts) the reader."""
        task = self._task
        if task is None or task.done():
            self.start()
        return self.buffers.get(local) or self._new_buffer(local)

    def taken(self, local: str) -> None:
        """A receiver took a payload of ``local``: its capacity goes back to Redis."""
        pending = self.pending_release
        pending[local] = pending.get(local, 0) + 1
        if self._flush_handle is None:
            self._schedule_flush()

    def _new_buffer(self, local: str) -> ChannelBuffer:
        buffer = self.buffers[local] = ChannelBuffer(limit=self._limit(local))
        return buffer

    def buffered(self) -> int:
        return sum(len(b.items) for b in self.buffers.values())

    def take_release(self) -> dict[str, int]:
        pending, self.pending_release = self.pending_release, {}
        if self._flush_handle is not None:
            # Everything pending is on its way (a send carries it): the flush timer
            # would only wake the loop for nothing.
            self._flush_handle.cancel()
            self._flush_handle = None
        return pending

    def give_back(self, pending: dict[str, int]) -> None:
        for local, n in pending.items():
            self.pending_release[local] = self.pending_release.get(local, 0) + n
        self._schedule_flush(delay_s=0.5)

    @property
    def in_flight(self) -> bool:
        return self._flush_task is not None and not self._flush_task.done()

    async def wait_in_flight(self) -> None:
        """Wait for a release already on its way to Redis."""
        if self._flush_task is not None and not self._flush_task.done():
            await asyncio.shield(self._flush_task)

    async def settle(self) -> None:
        """Make released capacity visible in Redis before the caller's next write."""
        await self.wait_in_flight()
        if self.pending_release:
            await self._flush()

    def _schedule_flush(self, delay_s: float = 0.002) -> None:
        # A short delay lets a send() that follows the receive() carry the release
        # in its own round trip (send.lua KEYS[3]); otherwise this flushes it.
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(delay_s, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        if self.pending_release and (self._flush_task is None or self._flush_task.done()):
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        pending = self.take_release()
        if not pending:
            return
        try:
            await self._release(pending)
        except NETWORK_ERRORS:
            self.give_back(pending)

    async def _run(self) -> None:
        retry = self._retry
        while not self.closing:
            items = await retry.pop(self._popper, self._queue, _BATCH)
            if items is None:
                self._sets.clear()
                continue
            for item in items:
                try:
                    element = elements.decode(item)
                except (elements.ElementError, UnicodeDecodeError, ValueError) as exc:
                    logger.error("%s: dropped an unreadable element: %s", self._queue, exc)
                    continue
                if isinstance(element, elements.Direct):
                    self._deliver(element.targets, element.payload)
                elif isinstance(element, elements.ToGroup):
                    members = await self._sets.members(element.set_id, retry)
                    if element.skipped:
                        members = [m for m in members if m not in element.skipped]
                    self._deliver(members, element.payload)
                else:
                    self._sets.follow(element)
            await self._sets.forget_retired()
            self._sweep()
            if items:
                # The receivers just woken run before the next pop is written, so
                # a reply they send (ping-pong) leaves first.
                await asyncio.sleep(0)

    def _deliver(self, targets: Iterable[str], payload: bytes) -> None:
        # All buffers share the immutable bytes; each receive() deserializes its
        # own copy.
        buffers = self.buffers
        for local in targets:
            buffer = buffers.get(local) or self._new_buffer(local)
            if len(buffer.items) >= buffer.limit:
                self._overflow(local)
                continue
            buffer.put(payload)

    def _overflow(self, local: str) -> None:
        # Capacity is checked in Redis before a message is queued, so this only
        # happens when the counts hash expired under a consumer that stopped
        # reading. Drop instead of growing without bound, loudly.
        self._stats.over_capacity += 1
        self.pending_release[local] = self.pending_release.get(local, 0) + 1
        self._schedule_flush()
        logger.warning("buffer of %s%s is full; message dropped", self._queue, local)

    def _sweep(self) -> None:
        """Forget channels nobody has read for ``expiry``: their consumer is gone."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(self._idle_s, 5.0)
        for name, buffer in list(self.buffers.items()):
            if buffer.idle and now - buffer.last_used > self._idle_s:
                del self.buffers[name]
                if buffer.items:
                    self._stats.dropped_idle += len(buffer.items)
                    self.pending_release[name] = self.pending_release.get(name, 0) + len(
                        buffer.items
                    )
                    self._schedule_flush()

    async def aclose(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.closing = True
        for task in (self._task, self._flush_task):
            await stop_task(task)
        self._retry.stop()
        if isinstance(self._popper, PipelinedPops):
            await self._popper.connection.aclose()


class NamedFetcher:
    """Pops a named channel only while this process has waiting receivers.

    Several processes may compete for one named channel; each pop is a single
    atomic Redis command, so a message goes to exactly one of them. Items popped
    for a receiver that was cancelled meanwhile wait for the next ``receive()``;
    if none comes within ``LINGER_S`` they go back to the head of the Redis list.
    """

    LINGER_S = 5.0

    def __init__(
        self, *, client: Any, queue: str, stats: LayerStats, label: str, reconnect_timeout_s: float
    ) -> None:
        self._client, self._queue, self._stats = client, queue, stats
        self._demand = asyncio.Event()
        self.buffer = ChannelBuffer(on_demand=self._demand.set)
        self._retry = Retrying(
            stats,
            f"fetcher of {queue}",
            stall_s=reconnect_timeout_s,
            on_stall=stall_handler(label, reconnect_timeout_s, lambda: (self.buffer,)),
        )
        self._task: asyncio.Task[None] | None = None
        self.closing = False

    async def receive(self) -> bytes:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        # The buffer keeps raw elements so that _give_back can return them
        # unchanged, whatever their version.
        return elements.payload_of(await self.buffer.get())

    async def _run(self) -> None:
        try:
            await self._fetch()
        finally:
            self._retry.stop()

    async def _fetch(self) -> None:
        while not self.closing:
            if self.buffer.demand <= 0:
                self._demand.clear()
                try:
                    await asyncio.wait_for(self._demand.wait(), self.LINGER_S)
                except asyncio.TimeoutError:
                    await self._give_back()
                    if self.buffer.demand <= 0:
                        return
                continue
            items = await self._retry.pop(self._client, self._queue, self.buffer.demand)
            if items is None:
                continue
            for item in items:
                self.buffer.put(item)

    async def _give_back(self) -> None:
        items = list(self.buffer.items)
        if not items:
            return
        self.buffer.items.clear()
        try:
            # LPUSH reverses its arguments, so push newest first to keep the order.
            await self._client.lpush(self._queue, *reversed(items))
        except NETWORK_ERRORS:
            logger.warning("could not return %d messages to %s", len(items), self._queue)

    async def aclose(self) -> None:
        self.closing = True
        await stop_task(self._task)
        await self._give_back()
