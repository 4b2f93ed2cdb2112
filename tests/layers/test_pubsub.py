"""RedisPubSubChannelLayer: the at-most-once, lowest-latency sibling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from asgid_layers import RedisPubSubChannelLayer
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured

from .redis_procs import RedisProc
from .waiting import until


async def _subscribed(layer: RedisPubSubChannelLayer, name: str, group: bool = False) -> None:
    """Wait until Redis counts a subscriber of ``name``'s Pub/Sub channel."""
    state = await layer._state()
    _, host, keys = layer._route(state, name)
    pubsub_name = keys.pubsub_group(name) if group else keys.pubsub_channel(name)

    async def counted() -> bool:
        return bool((await host.command.pubsub_numsub(pubsub_name))[0][1])

    await until(counted, f"a subscriber of {pubsub_name}")


@pytest.fixture
def make_pubsub(redis_server: RedisProc) -> Callable[..., RedisPubSubChannelLayer]:
    def make(**config: Any) -> RedisPubSubChannelLayer:
        config.setdefault("hosts", [redis_server.url])
        config.setdefault("prefix", "ps")
        return RedisPubSubChannelLayer(**config)

    return make


@pytest.fixture
async def pubsub_pair(
    make_pubsub: Callable[..., RedisPubSubChannelLayer],
) -> AsyncIterator[tuple[RedisPubSubChannelLayer, RedisPubSubChannelLayer]]:
    a, b = make_pubsub(), make_pubsub()
    yield a, b
    await a.close()
    await b.close()


async def test_send_receive_and_groups(pubsub_pair: Any) -> None:
    sender, receiver = pubsub_pair
    local = await receiver.new_channel()
    await sender.send(local, {"type": "direct", "n": 1})
    assert await asyncio.wait_for(receiver.receive(local), 5) == {"type": "direct", "n": 1}

    named = asyncio.ensure_future(receiver.receive("ps.named"))
    await _subscribed(receiver, "ps.named")
    await sender.send("ps.named", {"type": "named"})
    assert await asyncio.wait_for(named, 5) == {"type": "named"}

    members = [await receiver.new_channel() for _ in range(3)]
    for channel in members:
        await receiver.group_add("room", channel)
    await _subscribed(receiver, "room", group=True)
    await sender.group_send("room", {"type": "all", "data": {"k": 1}})
    got = [await asyncio.wait_for(receiver.receive(c), 5) for c in members]
    assert all(m == {"type": "all", "data": {"k": 1}} for m in got)
    assert len({id(m) for m in got}) == 3  # own copies
    await receiver.group_discard("room", members[0])
    await sender.group_send("room", {"type": "second"})
    assert await asyncio.wait_for(receiver.receive(members[1]), 5) == {"type": "second"}
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(receiver.receive(members[0]), 0.3)


async def test_full_buffer_drops_and_counts(make_pubsub: Callable[..., Any]) -> None:
    layer = make_pubsub(capacity=2, symmetric_encryption_keys=["k"])
    try:
        local = await layer.new_channel()
        for i in range(5):
            await layer.send(local, {"type": "x", "i": i})
        await until(lambda: layer.stats()["over_capacity"] == 3, "three dropped messages")
        assert [(await layer.receive(local))["i"] for _ in range(2)] == [0, 1]
        assert layer.stats()["over_capacity"] == 3
    finally:
        await layer.close()


def test_async_to_sync_and_no_cluster(
    make_pubsub: Callable[..., Any], redis_server: RedisProc
) -> None:
    layer = make_pubsub()
    for i in range(20):
        async_to_sync(layer.send)("ps.sync", {"type": "x", "i": i})
        async_to_sync(layer.group_send)("ps-group", {"type": "x"})
    assert len(layer._states) == 0  # closed with each loop
    client = redis.Redis(port=redis_server.port)
    assert client.pubsub_numsub("ps.sync") == [(b"ps.sync", 0)]
    client.close()
    with pytest.raises(ImproperlyConfigured, match="Cluster"):
        make_pubsub(hosts=["redis+cluster://127.0.0.1:1"])
