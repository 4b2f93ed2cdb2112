"""Process-local channel buffering: background readers, bounded per-channel buffers.

Cancellation safety (channels_redis#151) comes from one rule: only background
tasks owned by the layer pop from Redis, and whatever they pop lands in a
:class:`ChannelBuffer`. A ``receive()`` only waits on a buffer, so cancelling it
at any point leaves every message where the next ``receive()`` finds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

from .connection import BLOCK_S

logger = logging.getLogger(__name__)

_NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_BATCH = 512
_RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.5, 1.0)
_MAX_SETS = 4096


@dataclass
class LayerStats:
    """Counters exported by ``RedisChannelLayer.stats()``."""

    sent: int = 0
    received: int = 0
    group_sends: int = 0
    group_deliveries: int = 0
    over_capacity: int = 0
    expired: int = 0
    dropped_idle: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ChannelBuffer:
    """FIFO of payloads for one channel with cancellation-safe waiting."""

    def __init__(self, on_demand: Callable[[], None] | None = None) -> None:
        self.items: deque[bytes] = deque()
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

    async def get(self) -> bytes:
        if self.items:  # fast path: no future
            self.last_used = time.monotonic()
            return self.items.popleft()
        self.last_used = time.monotonic()
        while not self.items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            if self._on_demand is not None:
                self._on_demand()
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # we were handed an item's wake-up: pass it on
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        self.last_used = time.monotonic()
        return self.items.popleft()


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
    connection error, which the reader loops treat as retryable."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


class _Retrying:
    """Reconnect bookkeeping shared by the readers: back off, count recoveries."""

    def __init__(self, stats: LayerStats, what: str) -> None:
        self._stats, self._what, self._failures = stats, what, 0

    async def failed(self, exc: BaseException) -> None:
        delay = _RETRY_DELAYS_S[min(self._failures, len(_RETRY_DELAYS_S) - 1)]
        if self._failures == 0:
            logger.warning("%s lost Redis (%s); reconnecting", self._what, exc)
        self._failures += 1
        await asyncio.sleep(delay)

    async def pop(self, client: Any, key: str, count: int) -> list[bytes] | None:
        """``blocking_pop``, or None after a failure has been backed off."""
        try:
            items = await blocking_pop(client, key, count)
        except _NETWORK_ERRORS as exc:
            await self.failed(exc)
            return None
        except Exception as exc:  # a dead reader would strand every receiver
            logger.exception("%s failed; retrying", self._what)
            await self.failed(exc)
            return None
        self.succeeded()
        return items

    def succeeded(self) -> None:
        if self._failures:
            logger.info("%s reconnected after %d attempts", self._what, self._failures)
            self._stats.reconnects += 1
            self._failures = 0


class LocalReader:
    """The one reader of a process-local queue (``specific.<id>!``) per event loop.

    Elements are ``local part(s) + NUL + payload``; they are demultiplexed into one
    buffer per local channel. Capacity is counted per channel in Redis until the
    consumer takes the message (``pending_release`` then gives it back), so a slow
    consumer makes its own channel full instead of growing this buffer.
    """

    def __init__(
        self,
        *,
        client: Any,
        queue: str,
        release: Callable[[dict[str, int]], Awaitable[None]],
        stats: LayerStats,
        idle_s: float,
        limit: Callable[[str], int],
        member_set: Callable[[str], str],
    ) -> None:
        self._client, self._queue, self._release = client, queue, release
        self._stats, self._idle_s, self._limit = stats, idle_s, limit
        self._member_set = member_set
        # Group member sets by id, followed from the changes queued beside the
        # messages (lua/common.lua, change_members); read from Redis on a miss.
        self._sets: dict[str, tuple[str, ...]] = {}
        self._retired: list[str] = []
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

    async def receive(self, local: str) -> bytes:
        buffer = self.buffers.get(local)
        if buffer is None:
            buffer = self.buffers[local] = ChannelBuffer()
        self.start()
        payload = await buffer.get()
        # No await between taking the item and recording its release: a cancel
        # cannot separate them.
        self.pending_release[local] = self.pending_release.get(local, 0) + 1
        self._schedule_flush()
        return payload

    def buffered(self) -> int:
        return sum(len(b.items) for b in self.buffers.values())

    def take_release(self) -> dict[str, int]:
        pending, self.pending_release = self.pending_release, {}
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
        except _NETWORK_ERRORS:
            self.give_back(pending)

    async def _run(self) -> None:
        retry = _Retrying(self._stats, f"reader of {self._queue}")
        while not self.closing:
            items = await retry.pop(self._client, self._queue, _BATCH)
            if items is None:
                # A restarted Redis numbers its sets from 1 again.
                self._sets.clear()
                continue
            for element in items:
                # "local\0payload" names its channel, "#<id>\0payload" a group's
                # member set, "!\0<change>" changes a member set.
                targets, _, rest = element.partition(b"\0")
                kind = targets[:1]
                if kind == b"#":
                    # "#<id>-a,b": the set minus members that were full
                    set_id, minus, full = targets[1:].decode().partition("-")
                    members = self._sets.get(set_id)
                    if members is None:
                        members = await self._load_set(set_id, retry)
                    if minus:
                        skip = set(full.split(","))
                        members = tuple(m for m in members if m not in skip)
                    self._deliver(members, rest)
                elif kind == b"!":
                    self._follow(rest.decode())
                else:
                    self._deliver(targets.decode().split(","), rest)
            if self._retired:
                await self._forget_sets()
            self._sweep()

    def _follow(self, change: str) -> None:
        """Apply ``<old id>:<new id>:<+|-><local>`` to the cached member sets."""
        old, new, edit = change.split(":", 2)
        op, local = edit[:1], edit[1:]
        members = self._sets.get(old) if old == new else self._sets.pop(old, None)
        if old == "":
            members = ()
        elif old != new:
            self._retired.append(old)
        if members is None or new == "":
            return
        if op == "+":
            members = members if local in members else (*members, local)
        else:
            members = tuple(m for m in members if m != local)
        self._remember(new, members)

    def _remember(self, set_id: str, members: tuple[str, ...]) -> None:
        if len(self._sets) >= _MAX_SETS and set_id not in self._sets:
            del self._sets[next(iter(self._sets))]  # oldest; read back if named again
        self._sets[set_id] = members

    async def _load_set(self, set_id: str, retry: _Retrying) -> tuple[str, ...]:
        while True:
            try:
                raw = await self._client.smembers(self._member_set(set_id))
            except _NETWORK_ERRORS as exc:
                self._sets.clear()
                await retry.failed(exc)
                continue
            retry.succeeded()
            break
        members = tuple(sorted(m.decode() for m in raw))
        if members:
            self._remember(set_id, members)
        else:
            # A set outlives every message naming it by `expiry`; only a message
            # already too old to deliver finds it gone.
            self._stats.expired += 1
        return members

    async def _forget_sets(self) -> None:
        """Delete superseded member sets now that no queued message names them."""
        keys, self._retired = [self._member_set(i) for i in self._retired], []
        try:
            await self._client.unlink(*keys)
        except _NETWORK_ERRORS:
            pass  # they expire by themselves

    def _deliver(self, targets: Sequence[str], payload: bytes) -> None:
        # All buffers share the immutable bytes; each receive() deserializes its
        # own copy.
        for local in targets:
            buffer = self.buffers.get(local)
            if buffer is None:
                buffer = self.buffers[local] = ChannelBuffer()
            if len(buffer.items) >= self._limit(local):
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


class NamedFetcher:
    """Pops a named channel only while this process has waiting receivers.

    Several processes may compete for one named channel; each pop is a single
    atomic Redis command, so a message goes to exactly one of them. Items popped
    for a receiver that was cancelled meanwhile wait for the next ``receive()``;
    if none comes within ``LINGER_S`` they go back to the head of the Redis list.
    """

    LINGER_S = 5.0

    def __init__(self, *, client: Any, queue: str, stats: LayerStats) -> None:
        self._client, self._queue, self._stats = client, queue, stats
        self._demand = asyncio.Event()
        self.buffer = ChannelBuffer(on_demand=self._demand.set)
        self._task: asyncio.Task[None] | None = None
        self.closing = False

    async def receive(self) -> bytes:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        # The buffer keeps raw elements ("" + NUL + payload) so that _give_back can
        # return them unchanged.
        return (await self.buffer.get()).partition(b"\0")[2]

    async def _run(self) -> None:
        retry = _Retrying(self._stats, f"fetcher of {self._queue}")
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
            items = await retry.pop(self._client, self._queue, self.buffer.demand)
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
        except _NETWORK_ERRORS:
            logger.warning("could not return %d messages to %s", len(items), self._queue)

    async def aclose(self) -> None:
        self.closing = True
        await stop_task(self._task)
        await self._give_back()
