"""``RedisPubSubChannelLayer``: Redis Pub/Sub sibling of the layer, at-most-once.

Lowest latency (one ``PUBLISH`` per send or group send) for traffic where losing
a message is acceptable: nothing is queued in Redis, so a message sent while no
process is subscribed, while Redis restarts, or beyond a full local buffer is
lost; ``send`` never raises ``ChannelFull``. Same ``CONFIG`` keys as
:class:`RedisChannelLayer` (``group_expiry`` is accepted and unused; Redis
Cluster is not supported). As in channels_redis' pubsub layer, ``group_add`` and
``receive`` work for channels of the calling process, and every process that
receives on a named channel gets its own copy. A ``receive()`` raises
:class:`RedisUnavailable` once its host has not answered for ``reconnect_timeout``,
as with :class:`RedisChannelLayer`; the subscriber keeps reconnecting.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from channels.layers import BaseChannelLayer  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

from .buffers import ChannelBuffer
from .config import parse_config
from .connection import BLOCK_S, HostClients, open_host
from .errors import RedisUnavailable
from .keys import ShardKeys
from .loop_state import close_with_loop
from .names import CheckedNames, require_message
from .readers import stall_handler
from .retry import NETWORK_ERRORS, Retrying, stop_task
from .serializers import Serializer
from .sharding import HashRing
from .stats import LayerStats

logger = logging.getLogger(__name__)
R = TypeVar("R")


class _Subscriber:
    """One Pub/Sub connection per host and loop, dispatching to handlers.

    An idle subscription hears nothing from Redis, so the loop sends a PING every
    ``BLOCK_S``: its PONG (or any message) is the answer that ends a stretch of
    silence, as a blocking pop's reply does for the queue readers.
    """

    def __init__(
        self,
        *,
        clients: HostClients,
        stats: LayerStats,
        tick: Callable[[], None],
        reconnect_timeout_s: float,
        waiting: Callable[[], Iterable[ChannelBuffer]],
    ) -> None:
        self._pubsub = clients.blocking.pubsub()
        self._stats, self._tick = stats, tick
        self.handlers: dict[bytes, Callable[[bytes], None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._retry = Retrying(
            stats,
            "pubsub subscriber",
            stall_s=reconnect_timeout_s,
            on_stall=stall_handler(clients.label, reconnect_timeout_s, waiting),
        )

    async def subscribe(self, name: str, handler: Callable[[bytes], None]) -> None:
        if name.encode() not in self.handlers:
            self.handlers[name.encode()] = handler
            await self._pubsub.subscribe(name)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def unsubscribe(self, name: str) -> None:
        if self.handlers.pop(name.encode(), None) is not None:
            await self._pubsub.unsubscribe(name)

    async def _run(self) -> None:
        retry = self._retry
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + BLOCK_S
        try:
            while True:
                try:
                    if loop.time() >= next_ping:
                        retry.begin()
                        next_ping = loop.time() + BLOCK_S
                        await self._pubsub.ping()
                    message = await self._pubsub.get_message(timeout=1.0)
                except Exception as exc:  # redis-py reconnects and resubscribes next call
                    retry.begin()  # silence counts from the loss, not from the next PING
                    await retry.failed(exc)
                    continue
                if message is not None:
                    retry.succeeded()
                    self._dispatch(message)
                self._tick()
        finally:
            retry.stop()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "message":
            handler = self.handlers.get(message["channel"])
            if handler is not None:
                handler(message["data"])

    async def aclose(self) -> None:
        await stop_task(self._task)
        await self._pubsub.aclose()


class _PubSubState:
    def __init__(self, layer: RedisPubSubChannelLayer) -> None:
        self.token = uuid.uuid4().hex
        self.hosts = [open_host(spec) for spec in layer.config.hosts]
        tags = [hashlib.sha1(h.label.encode()).hexdigest()[:8] for h in self.hosts]
        self.ring = HashRing(list(range(len(self.hosts))), tags)
        self.keys = [ShardKeys(layer.config.prefix, t) for t in tags]
        self.subscribers = [
            _Subscriber(
                clients=host,
                stats=layer._stats,
                tick=lambda: layer._sweep(self),
                reconnect_timeout_s=layer.config.reconnect_timeout,
                waiting=functools.partial(layer._buffers_fed_by, self, index),
            )
            for index, host in enumerate(self.hosts)
        ]
        self.buffers: dict[str, ChannelBuffer] = {}
        self.listening: set[str] = set()  # channels whose own Pub/Sub channel is subscribed
        self.groups: dict[str, set[str]] = {}
        self.finalizer: AsyncGenerator[None, None] | None = None
        self.chores: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        for chore in list(self.chores):
            await stop_task(chore)
        for subscriber in self.subscribers:
            await subscriber.aclose()
        for host in self.hosts:
            await host.aclose()


class RedisPubSubChannelLayer(BaseChannelLayer):  # type: ignore[misc]
    """At-most-once channel layer over Redis Pub/Sub; see the module docstring."""

    extensions = ["groups", "flush"]

    def __init__(self, **config: Any) -> None:
        cfg = parse_config(config)
        if cfg.cluster:
            raise ImproperlyConfigured("RedisPubSubChannelLayer does not support Redis Cluster")
        super().__init__(expiry=cfg.expiry, capacity=cfg.capacity)
        self.config = cfg
        self.channel_capacity = self.compile_capacities(cfg.channel_capacity)
        self._serializer = Serializer(
            fmt=cfg.serializer_format,
            symmetric_encryption_keys=cfg.symmetric_encryption_keys or None,
            random_prefix_length=cfg.random_prefix_length,
        )
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PubSubState] = (
            weakref.WeakKeyDictionary()
        )
        self._stats = LayerStats()
        self._next_sweep = time.monotonic()
        self._check_channel = CheckedNames(self.require_valid_channel_name)
        self._check_group = CheckedNames(self.require_valid_group_name)

    async def _state(self) -> _PubSubState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _PubSubState(self)
            # Closed with its loop, as RedisChannelLayer's state (async_to_sync).
            state.finalizer = close_with_loop(self._states, loop)
            await state.finalizer.__anext__()
        return state

    def _route_index(self, state: _PubSubState, name: str) -> int:
        return state.ring.index_for(name if "!" not in name else name[: name.find("!") + 1])

    def _route(self, state: _PubSubState, name: str) -> tuple[_Subscriber, HostClients, ShardKeys]:
        index = self._route_index(state, name)
        return state.subscribers[index], state.hosts[index], state.keys[index]

    def _buffers_fed_by(self, state: _PubSubState, index: int) -> list[ChannelBuffer]:
        """The buffers host ``index`` fills: its channels and members of its groups."""
        fed = {c for c in state.buffers if self._route_index(state, c) == index}
        for group, members in state.groups.items():
            if self._route_index(state, group) == index:
                fed |= members
        return [state.buffers[c] for c in fed if c in state.buffers]

    async def _call(self, state: _PubSubState, index: int, what: Awaitable[R]) -> R:
        try:
            return await what
        except NETWORK_ERRORS as exc:
            label = state.hosts[index].label
            raise RedisUnavailable(f"Redis at {label} unavailable: {exc}") from exc

    def _buffer(self, state: _PubSubState, channel: str) -> ChannelBuffer:
        buffer = state.buffers.get(channel)
        if buffer is None:
            buffer = state.buffers[channel] = ChannelBuffer()
        return buffer

    def _deliver(self, state: _PubSubState, channel: str, payload: bytes) -> None:
        buffer = self._buffer(state, channel)
        if len(buffer.items) >= self.get_capacity(channel):
            self._stats.over_capacity += 1  # at-most-once: dropped, counted
            return
        buffer.put(payload)

    async def _subscribe_channel(self, state: _PubSubState, channel: str) -> None:
        subscriber, _, keys = self._route(state, channel)
        handler = functools.partial(self._deliver, state, channel)
        subscribing = subscriber.subscribe(keys.pubsub_channel(channel), handler)
        await self._call(state, self._route_index(state, channel), subscribing)
        state.listening.add(channel)

    async def new_channel(self, prefix: str = "specific") -> str:
        state = await self._state()
        channel = f"{prefix}.{state.token}!{secrets.token_hex(8)}"
        self._buffer(state, channel)
        await self._subscribe_channel(state, channel)  # before anyone can send to it
        return channel

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self._check_channel(channel)
        require_message(message)
        _, host, keys = self._route(await self._state(), channel)
        await host.command.publish(keys.pubsub_channel(channel), self._serializer.dumps(message))
        self._stats.sent += 1

    async def receive(self, channel: str) -> dict[str, Any]:
        self._check_channel(channel)
        state = await self._state()
        if channel not in state.listening:
            await self._subscribe_channel(state, channel)
        buffer = self._buffer(state, channel)
        while True:
            payload = await buffer.get()
            if Serializer.fresh(payload, self.expiry):
                break
            self._stats.expired += 1
        self._stats.received += 1
        return self._serializer.loads(payload)

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        state = await self._state()
        self._buffer(state, channel)
        state.groups.setdefault(group, set()).add(channel)
        subscriber, _, keys = self._route(state, group)

        def fan_out(data: bytes) -> None:
            for member in state.groups.get(group, ()):
                self._deliver(state, member, data)
                self._stats.group_deliveries += 1

        await subscriber.subscribe(keys.pubsub_group(group), fan_out)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        state = await self._state()
        members = state.groups.get(group, set())
        members.discard(channel)
        if not members:
            state.groups.pop(group, None)
            subscriber, _, keys = self._route(state, group)
            await subscriber.unsubscribe(keys.pubsub_group(group))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self._check_group(group)
        require_message(message)
        _, host, keys = self._route(await self._state(), group)
        await host.command.publish(keys.pubsub_group(group), self._serializer.dumps(message))
        self._stats.group_sends += 1

    def _sweep(self, state: _PubSubState) -> None:
        """Unsubscribe channels nobody read for ``expiry`` and that are in no group."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        idle_s = max(self.expiry, 1.0)
        self._next_sweep = now + min(idle_s, 5.0)
        in_groups = set().union(*state.groups.values()) if state.groups else set()
        for channel, buffer in list(state.buffers.items()):
            if buffer.idle and now - buffer.last_used > idle_s and channel not in in_groups:
                del state.buffers[channel]
                state.listening.discard(channel)
                self._stats.dropped_idle += len(buffer.items)
                chore = asyncio.get_running_loop().create_task(self._stop_listening(state, channel))
                state.chores.add(chore)
                chore.add_done_callback(state.chores.discard)

    async def _stop_listening(self, state: _PubSubState, channel: str) -> None:
        if channel in state.listening:
            return  # a receive() came back to it before this ran
        subscriber, _, keys = self._route(state, channel)
        await subscriber.unsubscribe(keys.pubsub_channel(channel))

    async def flush(self) -> None:
        await self.close()

    async def close(self) -> None:
        state = self._states.get(asyncio.get_running_loop())
        if state is not None and state.finalizer is not None:
            await state.finalizer.aclose()  # removes and closes the state

    close_pools = close

    def stats(self) -> dict[str, int]:
        result = self._stats.as_dict()
        result["buffered"] = sum(
            len(b.items) for s in list(self._states.values()) for b in s.buffers.values()
        )
        return result
