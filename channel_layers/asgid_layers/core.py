"""``RedisChannelLayer``: the Channels API, orchestration only.

State that holds sockets or tasks lives in a :class:`~.loop_state.LoopState` per
event loop (a weak mapping keyed by the loop), so ``async_to_sync`` from sync code,
which runs each call in a fresh loop, never touches a connection of a closed loop
(channels_redis#312, #332).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from channels.exceptions import ChannelFull  # type: ignore[import-untyped]
from channels.layers import BaseChannelLayer  # type: ignore[import-untyped]
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout

from . import elements
from .config import parse_config
from .errors import RedisUnavailable
from .keys import local_part, non_local_name, scan_pattern
from .loop_state import LoopState, Shard, close_with_loop
from .names import CheckedNames, require_message
from .readers import LocalReader, NamedFetcher
from .scripts import load_sources
from .serializers import Serializer
from .stats import LayerStats

logger = logging.getLogger(__name__)
R = TypeVar("R")

_FULL_WARNING_INTERVAL_S = 10.0
_REMEMBERED_ROUTES = 10_000


class RedisChannelLayer(BaseChannelLayer):  # type: ignore[misc]
    """Redis channel layer; ``CONFIG`` keys as channels_redis (see docs/channel-layer.md)."""

    extensions = ["groups", "flush"]

    def __init__(self, **config: Any) -> None:
        cfg = parse_config(config)
        super().__init__(expiry=cfg.expiry, capacity=cfg.capacity)
        self.config = cfg
        self.group_expiry = cfg.group_expiry
        self.channel_capacity = self.compile_capacities(cfg.channel_capacity)
        self._serializer = Serializer(
            fmt=cfg.serializer_format,
            symmetric_encryption_keys=cfg.symmetric_encryption_keys or None,
            random_prefix_length=cfg.random_prefix_length,
        )
        self._sources = load_sources()
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._stats = LayerStats()
        self._last: tuple[Callable[[], object], LoopState | None] = (lambda: None, None)
        self._last_full_warning: dict[str, float] = {}
        self._check_channel = CheckedNames(self.require_valid_channel_name)
        self._check_group = CheckedNames(self.require_valid_group_name)

    # -- per-loop state -------------------------------------------------

    async def _state(self) -> LoopState:
        loop = asyncio.get_running_loop()
        last_loop, state = self._last
        if last_loop() is loop and state is not None and not state.closed:
            return state
        found = self._states.get(loop)
        if found is None:
            found = self._states[loop] = LoopState(self.config, self._sources)
            found.finalizer = close_with_loop(self._states, loop)
            await found.finalizer.__anext__()
        # Remembered weakly: the weak mapping's lookup costs more than a
        # receive's own work, and a closed loop must not be kept alive.
        self._last = (weakref.ref(loop), found)
        return found

    async def _call(self, shard: Shard, what: Callable[[], Awaitable[R]]) -> R:
        try:
            return await what()
        except (RedisConnectionError, RedisTimeout, OSError) as exc:
            raise RedisUnavailable(f"Redis at {shard.clients.label} unavailable: {exc}") from exc

    # -- Channels API -----------------------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        state = await self._state()
        owner = f"{prefix}.{state.token}!"
        state.heartbeat.serve(owner)
        return owner + secrets.token_hex(8)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self._check_channel(channel)
        require_message(message)
        state = await self._state()
        shard = state.ring.for_channel(channel)
        element = elements.direct(local_part(channel), self._serializer.dumps(message))
        keys = [shard.keys.queue(channel), shard.keys.counts(channel)]
        args: list[Any] = [channel, self.get_capacity(channel), math.ceil(self.expiry), element]
        owner, carrier = await self._settle_releases(state, keep=shard)
        pending = carrier.take_release() if carrier is not None else {}
        if pending:
            keys.append(shard.keys.counts(owner))
            args += [x for name, count in pending.items() for x in (name, count)]
        try:
            queued = await self._call(
                shard, lambda: shard.scripts.run("send", shard.keys.base, keys, args)
            )
        except BaseException:
            if carrier is not None and pending:
                carrier.give_back(pending)
            raise
        if not queued:
            self._stats.over_capacity += 1
            raise ChannelFull(channel)
        self._stats.sent += 1

    async def _settle_releases(
        self, state: LoopState, keep: Shard | None
    ) -> tuple[str, LocalReader | None]:
        """Flush consumed-capacity releases before a write so the write sees them,
        except one reader's that a send to ``keep`` carries in its own round trip."""
        carrier: tuple[str, LocalReader | None] = ("", None)
        waits = []
        for owner, reader in state.readers.items():
            if carrier[1] is None and keep is not None and state.ring.for_channel(owner) is keep:
                carrier = (owner, reader)
                if reader.in_flight:
                    waits.append(reader.wait_in_flight())
            else:
                waits.append(reader.settle())
        if waits:
            await asyncio.gather(*waits)
        return carrier

    async def receive(self, channel: str) -> dict[str, Any]:
        # The per-message path of every consumer: the loop's state without a call,
        # then one lookup for a name received on before.
        loop_ref, state = self._last
        if state is None or state.closed or loop_ref() is not asyncio.get_running_loop():
            state = await self._state()
        try:
            route = state.routes.get(channel)
        except TypeError:  # unhashable: not a name, which the check below says
            route = None
        if route is None:
            self._check_channel(channel)
            if "!" not in channel:
                return await self._receive_named(state, channel)
            route = self._route(state, channel)
        reader, local = route
        while True:
            payload = await reader.buffer_for(local).get()
            # No await between taking the payload and counting it taken: a cancel
            # cannot separate them.
            reader.taken(local)
            if self._serializer.fresh(payload, self.expiry):
                break
            self._stats.expired += 1
        self._stats.received += 1
        # Deserialized per receiver: group members never share one dict.
        return self._serializer.loads(payload)

    async def _receive_named(self, state: LoopState, channel: str) -> dict[str, Any]:
        while True:
            payload = await self._fetcher(state, channel).receive()
            if self._serializer.fresh(payload, self.expiry):
                break
            self._stats.expired += 1
        self._stats.received += 1
        return self._serializer.loads(payload)

    def _route(self, state: LoopState, channel: str) -> tuple[LocalReader, str]:
        bang = channel.index("!") + 1
        reader = state.readers.get(channel[:bang]) or self._reader(state, channel)
        if len(state.routes) >= _REMEMBERED_ROUTES:
            state.routes.clear()  # names of consumers long gone; the rest come back
        route = state.routes[channel] = (reader, channel[bang:])
        return route

    def _reader(self, state: LoopState, channel: str) -> LocalReader:
        owner = non_local_name(channel)
        reader = state.readers.get(owner)
        if reader is None:
            state.heartbeat.serve(owner)
            shard = state.ring.for_channel(owner)
            counts = shard.keys.counts(owner)

            async def release(pending: dict[str, int]) -> None:
                args = [x for name, n in pending.items() for x in (name, n)]
                await shard.scripts.run("release", shard.keys.base, [counts], args)

            reader = state.readers[owner] = LocalReader(
                client=shard.clients.blocking,
                popper=shard.clients.blocking_wire() or shard.clients.blocking,
                queue=shard.keys.queue(owner),
                release=release,
                stats=self._stats,
                idle_s=max(self.expiry, 1.0),
                limit=lambda local: int(self.get_capacity(owner + local)),
                member_set=shard.keys.member_set,
                label=shard.clients.label,
                reconnect_timeout_s=self.config.reconnect_timeout,
            )
        return reader

    def _fetcher(self, state: LoopState, channel: str) -> NamedFetcher:
        fetcher = state.fetchers.get(channel)
        if fetcher is None:
            shard = state.ring.for_channel(channel)
            fetcher = state.fetchers[channel] = NamedFetcher(
                client=shard.clients.blocking,
                queue=shard.keys.queue(channel),
                stats=self._stats,
                label=shard.clients.label,
                reconnect_timeout_s=self.config.reconnect_timeout,
            )
        return fetcher

    # -- groups -----------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        state = await self._state()
        shard = state.ring.for_channel(channel)
        keys = shard.keys.group_keys(group)
        args = [channel, time.time(), self.group_expiry, self.get_capacity(channel)]
        args += [self.capacity, group, math.ceil(self.expiry)]
        await self._call(shard, lambda: shard.scripts.run("group_add", shard.keys.base, keys, args))

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        state = await self._state()
        shard = state.ring.for_channel(channel)
        keys = shard.keys.group_keys(group)
        args = [channel, group, math.ceil(self.expiry), self.group_expiry]
        await self._call(
            shard, lambda: shard.scripts.run("group_discard", shard.keys.base, keys, args)
        )

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """One script call per shard, all shards in parallel, whatever the group size."""
        self._check_group(group)
        require_message(message)
        state = await self._state()
        if state.readers:
            await self._settle_releases(state, keep=None)
        payload = self._serializer.dumps(message)
        now = time.time()

        def call(shard: Shard) -> Awaitable[list[int]]:
            keys = shard.keys.group_keys(group)
            args = [now, self.group_expiry, math.ceil(self.expiry), self.capacity, payload, group]
            args.append(self.config.process_expiry)
            return self._call(
                shard, lambda: shard.scripts.run("group_send", shard.keys.base, keys, args)
            )

        shards = state.ring.shards
        if len(shards) == 1:
            results = [await call(shards[0])]
        else:
            results = await asyncio.gather(*(call(s) for s in shards))
        delivered = sum(int(r[0]) for r in results)
        full = sum(int(r[1]) for r in results)
        self._stats.group_sends += 1
        self._stats.group_deliveries += delivered
        if full:
            self._stats.over_capacity += full
            self._warn_full(group, full)

    def _warn_full(self, group: str, count: int) -> None:
        now = time.monotonic()
        if now - self._last_full_warning.get(group, -math.inf) < _FULL_WARNING_INTERVAL_S:
            return
        if len(self._last_full_warning) > 1000:
            self._last_full_warning.clear()
        self._last_full_warning[group] = now
        logger.warning(
            "group_send to %r skipped %d member channel(s) over capacity "
            "(further warnings for this group suppressed for %.0fs)",
            group,
            count,
            _FULL_WARNING_INTERVAL_S,
        )

    # -- flush, close, stats ----------------------------------------------

    async def flush(self) -> None:
        state = await self._state()
        await state.stop_readers()
        state.heartbeat.forget()
        pattern = scan_pattern(self.config.prefix)
        for host in state.hosts:
            client = host.command
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            # Pipelined in batches: one round trip per 500 keys. In a Cluster the
            # pipeline splits the batch by node (single-key UNLINKs, any slots).
            for first in range(0, len(keys), 500):
                pipe = client.pipeline(transaction=False)
                for key in keys[first : first + 500]:
                    pipe.execute_command("UNLINK", key)
                await pipe.execute()

    async def close(self) -> None:
        """Stop this loop's readers and close its connections."""
        state = self._states.get(asyncio.get_running_loop())
        if state is not None and state.finalizer is not None:
            await state.finalizer.aclose()  # removes and closes the state

    close_pools = close

    def stats(self) -> dict[str, int]:
        """Counters since start; ``buffered`` is the current in-process backlog."""
        result = self._stats.as_dict()
        result["buffered"] = sum(
            r.buffered() for s in list(self._states.values()) for r in s.readers.values()
        ) + sum(
            len(f.buffer.items) for s in list(self._states.values()) for f in s.fetchers.values()
        )
        return result
