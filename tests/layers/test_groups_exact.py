"""Exact per-channel capacity and delivery with groups, checked against a model.

group_send does not count every member in Redis one by one (see
``asgid_layers/lua/common.lua``): members of one process share counters and a
bound, and their member sets are named, not listed, in the queued message. These
tests drive that machinery through its corners (bound exhausted, members full,
memberships changed while messages are queued, counters expired, a reader that
starts with nothing cached) and compare every outcome with plain bookkeeping.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from asgid_layers import RedisChannelLayer
from channels.exceptions import ChannelFull


async def settle(layer: RedisChannelLayer) -> None:
    """Make capacity released by this layer's receives visible in Redis."""
    await layer._settle_releases(await layer._state(), keep=None)


async def member_set_keys(layer: RedisChannelLayer) -> list[bytes]:
    state = await layer._state()
    client = state.hosts[0].command
    base = state.ring.shards[0].keys.base
    pattern = "".join("\\" + c if c in "*?[]\\{}" else c for c in base) + "s:*"
    return [key async for key in client.scan_iter(match=pattern)]


class Model:
    """What each channel must hold, by plain bookkeeping."""

    def __init__(self, capacity: Callable[[str], int]) -> None:
        self.capacity = capacity
        self.queues: dict[str, list[int]] = {}
        self.members: dict[str, set[str]] = {}

    def send(self, channel: str, ident: int) -> bool:
        queue = self.queues.setdefault(channel, [])
        if len(queue) >= self.capacity(channel):
            return False
        queue.append(ident)
        return True

    def group_send(self, group: str, ident: int) -> tuple[int, int]:
        delivered = full = 0
        for channel in sorted(self.members.get(group, ())):
            if self.send(channel, ident):
                delivered += 1
            else:
                full += 1
        return delivered, full


@pytest.mark.parametrize("seed", [11, 22, 33, 44])
async def test_random_operations_match_model(make_layer: Callable[..., Any], seed: int) -> None:
    rng = random.Random(seed)
    config = {"capacity": 3, "channel_capacity": {"*!tiny*": 1, "named.wide": 5}}
    first = make_layer(**config)
    second = make_layer(prefix=first.config.prefix, **config)
    layers = [first, second]
    try:
        channels = []
        for owner in layers:
            base = (await owner.new_channel()).split("!")[0] + "!"
            channels += [(owner, base + f"c{i}") for i in range(3)] + [(owner, base + "tiny0")]
            channels.append((owner, base))  # a local part may be empty
        channels += [(first, "named.m"), (first, "named.wide")]
        by_name = dict((name, owner) for owner, name in channels)
        model = Model(first.get_capacity)
        groups = ["g0", "g1", "g2"]
        ident = 0
        for _ in range(500):
            action = rng.random()
            acting = rng.choice(layers)
            ident += 1
            message = {"type": "m", "id": ident}
            if action < 0.30:
                _, channel = rng.choice(channels)
                if model.send(channel, ident):
                    await acting.send(channel, message)
                else:
                    with pytest.raises(ChannelFull):
                        await acting.send(channel, message)
            elif action < 0.55:
                group = rng.choice(groups)
                before = acting.stats()
                await acting.group_send(group, message)
                after = acting.stats()
                delivered, full = model.group_send(group, ident)
                assert after["group_deliveries"] - before["group_deliveries"] == delivered
                assert after["over_capacity"] - before["over_capacity"] == full
            elif action < 0.80:
                holding = [name for name in by_name if model.queues.get(name)]
                if not holding:
                    continue
                channel = rng.choice(holding)
                owner = by_name[channel]
                got = await asyncio.wait_for(owner.receive(channel), 5)
                assert got["id"] == model.queues[channel].pop(0), channel
                await settle(owner)
            elif action < 0.90:
                group, (_, channel) = rng.choice(groups), rng.choice(channels)
                await acting.group_add(group, channel)
                model.members.setdefault(group, set()).add(channel)
            else:
                group, (_, channel) = rng.choice(groups), rng.choice(channels)
                await acting.group_discard(group, channel)
                model.members.setdefault(group, set()).discard(channel)
        for channel, queue in model.queues.items():
            owner = by_name[channel]
            for expected in queue:
                got = await asyncio.wait_for(owner.receive(channel), 5)
                assert got["id"] == expected, channel
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(owner.receive(channel), 0.05)
    finally:
        await first.flush()
        for layer in layers:
            await layer.close()


@pytest.mark.parametrize("reader_first", [True, False])
async def test_membership_changes_while_messages_wait(
    make_layer: Callable[..., Any], reader_first: bool
) -> None:
    """Each message reaches exactly the members of its moment, whether the reader
    follows the changes live or finds them all queued at once."""
    layer = make_layer()
    try:
        a, b = await layer.new_channel(), await layer.new_channel()
        if reader_first:
            await layer.send(a, {"type": "warm"})
            assert await layer.receive(a) == {"type": "warm"}
        await layer.group_add("g", a)
        await layer.group_send("g", {"type": "m1"})
        await layer.group_add("g", b)
        await layer.group_send("g", {"type": "m2"})
        await layer.group_discard("g", a)
        await layer.group_send("g", {"type": "m3"})
        await layer.group_add("g", a)
        await layer.group_discard("g", a)  # in place: no message names this set yet
        await layer.group_send("g", {"type": "m4"})
        got_a = [(await asyncio.wait_for(layer.receive(a), 5))["type"] for _ in range(2)]
        got_b = [(await asyncio.wait_for(layer.receive(b), 5))["type"] for _ in range(3)]
        assert got_a == ["m1", "m2"]
        assert got_b == ["m2", "m3", "m4"]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(a), 0.1)
        # Sets no queued message names any more are gone; only b's current one is left.
        assert len(await member_set_keys(layer)) == 1
    finally:
        await layer.flush()
        await layer.close()


async def test_new_reader_reads_member_sets_back(make_layer: Callable[..., Any]) -> None:
    owner = make_layer()
    other = make_layer(prefix=owner.config.prefix)
    try:
        a, b = await owner.new_channel(), await owner.new_channel()
        await owner.group_add("g", a)
        await owner.group_add("g", b)
        await owner.send(a, {"type": "warm"})
        assert await owner.receive(a) == {"type": "warm"}  # its reader took the changes
        await owner.close()
        await other.group_send("g", {"type": "m"})
        # Another reader of that process's queue starts with nothing cached.
        assert await asyncio.wait_for(other.receive(a), 5) == {"type": "m"}
        assert await asyncio.wait_for(other.receive(b), 5) == {"type": "m"}
    finally:
        await other.flush()
        await other.close()


async def test_capacity_after_counters_expire(make_layer: Callable[..., Any]) -> None:
    """Memberships outlive the counts hash; the next group_send re-registers them."""
    layer = make_layer(capacity=2)
    try:
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", a)
        await layer.group_add("g", b)
        await layer.group_send("g", {"type": "old"})
        assert await layer.receive(a) == {"type": "old"}
        assert await layer.receive(b) == {"type": "old"}
        await settle(layer)
        # What `expiry` seconds without traffic to the process do (waiting for it
        # would also let the reader forget channels idle that long).
        state = await layer._state()
        assert await state.hosts[0].command.delete(state.ring.for_channel(a).keys.counts(a))
        await layer.group_send("g", {"type": "1"})
        await layer.send(a, {"type": "2"})
        with pytest.raises(ChannelFull):
            await layer.send(a, {"type": "x"})
        await layer.group_send("g", {"type": "3"})  # a is full: skipped; b gets it
        assert layer.stats()["over_capacity"] == 2
        assert [(await layer.receive(a))["type"] for _ in range(2)] == ["1", "2"]
        assert [(await layer.receive(b))["type"] for _ in range(2)] == ["1", "3"]
    finally:
        await layer.flush()
        await layer.close()


async def test_large_group_with_small_capacity(make_layer: Callable[..., Any]) -> None:
    """The bound runs out every few sends; each time one exact pass follows."""
    layer = make_layer(capacity=4)
    try:
        members = [await layer.new_channel() for _ in range(300)]
        for channel in members:
            await layer.group_add("big", channel)
        slow = members[0]
        for round_ in range(12):
            await layer.group_send("big", {"type": "m", "n": round_})
            for channel in members[1:]:
                assert (await layer.receive(channel))["n"] == round_
        # The member that never read holds exactly its capacity.
        assert [(await layer.receive(slow))["n"] for _ in range(4)] == [0, 1, 2, 3]
        assert layer.stats()["over_capacity"] == 8
    finally:
        await layer.flush()
        await layer.close()


async def test_full_channel_joining_a_group_is_skipped(make_layer: Callable[..., Any]) -> None:
    layer = make_layer(capacity=2)
    try:
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", b)
        await layer.group_send("g", {"type": "m0"})  # leaves a bound with room for b
        assert await layer.receive(b) == {"type": "m0"}
        await settle(layer)
        await layer.send(a, {"type": "d1"})
        await layer.send(a, {"type": "d2"})
        await layer.group_add("g", a)  # joins full
        await layer.group_send("g", {"type": "m1"})
        assert layer.stats()["over_capacity"] == 1
        assert await layer.receive(b) == {"type": "m1"}
        assert [(await layer.receive(a))["type"] for _ in range(2)] == ["d1", "d2"]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(a), 0.1)
    finally:
        await layer.flush()
        await layer.close()


async def test_member_that_stopped_reading_is_skipped_until_it_reads(
    make_layer: Callable[..., Any],
) -> None:
    layer = make_layer(capacity=3)
    try:
        members = [await layer.new_channel() for _ in range(50)]
        for channel in members:
            await layer.group_add("g", channel)
        stalled, others = members[0], members[1:]
        for n in range(20):
            await layer.group_send("g", {"type": "m", "n": n})
            for channel in others:
                assert (await layer.receive(channel))["n"] == n
        assert layer.stats()["over_capacity"] == 20 - 3
        assert [(await layer.receive(stalled))["n"] for _ in range(3)] == [0, 1, 2]
        await settle(layer)
        await layer.group_send("g", {"type": "m", "n": 20})  # room again: readmitted
        for channel in members:
            assert (await layer.receive(channel))["n"] == 20
        assert layer.stats()["over_capacity"] == 20 - 3
    finally:
        await layer.flush()
        await layer.close()
