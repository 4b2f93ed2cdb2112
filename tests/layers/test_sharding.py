"""Sharding over three private redis-servers by consistent hash."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from asgid_layers import RedisChannelLayer
from asgid_layers.sharding import HashRing

from .redis_procs import RedisProc
from .waiting import until


def _layer(shards: list[RedisProc], prefix: str, **extra: Any) -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[s.url for s in shards], prefix=prefix, **extra)


def _keys_per_server(shards: list[RedisProc], prefix: str) -> list[int]:
    counts = []
    for shard in shards:
        client = redis.Redis(port=shard.port)
        counts.append(len(client.keys(f"{{{prefix}:*")))
        client.close()
    return counts


def test_ring_is_consistent_and_balanced() -> None:
    names = [f"h{i}" for i in range(3)]
    ring = HashRing(names, names)
    owners = [ring.for_channel(f"chan.{i}") for i in range(3000)]
    for name in names:
        assert 800 < owners.count(name) < 1200
    bigger = HashRing([*names, "h3"], [*names, "h3"])
    moved = sum(bigger.for_channel(f"chan.{i}") != owners[i] for i in range(3000))
    assert moved < 3000 * 0.4  # only ~1/4 moves to the new shard
    # process-local channels route by their prefix up to "!"
    assert ring.for_channel("specific.abc!x") == ring.for_channel("specific.abc!y")


async def test_named_and_local_channels_spread_and_delivered(
    redis_shards: list[RedisProc],
) -> None:
    sender = _layer(redis_shards, "shard1")
    receivers = [_layer(redis_shards, "shard1") for _ in range(6)]
    try:
        local = [await r.new_channel() for r in receivers]
        named = [f"named.n{i}" for i in range(60)]
        for i, channel in enumerate(local + named):
            await sender.send(channel, {"type": "x", "i": i})
        assert all(n > 0 for n in _keys_per_server(redis_shards, "shard1"))
        got = [await r.receive(c) for r, c in zip(receivers, local, strict=True)]
        got += [await receivers[0].receive(c) for c in named]
        assert [m["i"] for m in got] == list(range(len(local) + len(named)))
    finally:
        await sender.flush()
        for layer in (sender, *receivers):
            await layer.close()


async def test_group_across_shards(redis_shards: list[RedisProc]) -> None:
    # Host order differs between "processes": the ring is built from host labels.
    a = _layer(redis_shards, "shard2")
    b = _layer(list(reversed(redis_shards)), "shard2")
    try:
        members = [await a.new_channel() for _ in range(30)]
        members += [await b.new_channel() for _ in range(30)]
        for channel in members:
            await (a if members.index(channel) % 2 else b).group_add("room", channel)
        # membership lives on each member's shard (2 owners here: 2 shards at most)
        assert sum(n > 0 for n in _keys_per_server(redis_shards, "shard2")) >= 1
        await b.group_send("room", {"type": "hello"})
        owners = [a] * 30 + [b] * 30
        received = await asyncio.gather(
            *(o.receive(c) for o, c in zip(owners, members, strict=True))
        )
        assert all(m == {"type": "hello"} for m in received)
        assert b.stats()["group_deliveries"] == 60
    finally:
        await a.flush()
        await a.close()
        await b.close()


async def test_blocked_named_receiver_woken_by_send_from_other_layer(
    redis_shards: list[RedisProc],
) -> None:
    a, b = _layer(redis_shards, "shard3"), _layer(redis_shards, "shard3")
    try:
        waiting = [asyncio.ensure_future(a.receive(f"work.{i}")) for i in range(20)]
        state = await a._state()
        await until(
            lambda: (
                len(state.fetchers) == 20 and all(f.buffer.demand for f in state.fetchers.values())
            ),
            "every named receiver to wait",
        )
        for i in range(20):
            await b.send(f"work.{i}", {"type": "job", "i": i})
        done = await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert [m["i"] for m in done] == list(range(20))
    finally:
        await a.flush()
        await a.close()
        await b.close()
