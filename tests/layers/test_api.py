"""Channels API semantics of RedisChannelLayer on one private redis-server."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgid_layers import RedisChannelLayer
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

from .waiting import until


async def test_is_a_channels_layer(layer: RedisChannelLayer) -> None:
    assert isinstance(layer, BaseChannelLayer)
    assert layer.extensions == ["groups", "flush"]


@pytest.mark.parametrize("channel", ["test.named", "specific"])
async def test_send_receive_in_order(layer: RedisChannelLayer, channel: str) -> None:
    if channel == "specific":
        channel = await layer.new_channel()
    for i in range(50):
        await layer.send(channel, {"type": "m", "i": i, "b": b"\x00\xff"})
    got = [(await layer.receive(channel))["i"] for _ in range(50)]
    assert got == list(range(50))


async def test_new_channel_names_are_unique_and_valid(layer: RedisChannelLayer) -> None:
    names = {await layer.new_channel() for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert layer.require_valid_channel_name(name)
        assert name.startswith("specific.") and "!" in name


@pytest.mark.parametrize(
    "bad", ["", "a b", "x" * 100, 5, ["a!b"], "bad!name!twice", "ümlaut", "ümlaut!x"]
)
async def test_invalid_channel_names_rejected(layer: RedisChannelLayer, bad: Any) -> None:
    with pytest.raises(TypeError, match="Channel name"):
        await layer.send(bad, {"type": "x"})
    with pytest.raises(TypeError, match="Channel name"):
        await layer.group_add("ok", bad)
    with pytest.raises(TypeError, match="Channel name"):
        await layer.receive(bad)


@pytest.mark.parametrize("bad", ["a!b", "", "sp ace", "x" * 100])
async def test_invalid_group_names_rejected(layer: RedisChannelLayer, bad: str) -> None:
    with pytest.raises(TypeError):
        await layer.group_send(bad, {"type": "x"})


async def test_message_must_be_dict(layer: RedisChannelLayer) -> None:
    with pytest.raises(TypeError):
        await layer.send("test.x", ["not", "a", "dict"])  # type: ignore[arg-type]


async def test_group_send_reaches_members_with_own_copies(layer: RedisChannelLayer) -> None:
    members = [await layer.new_channel() for _ in range(5)] + ["named.member"]
    for channel in members:
        await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "chat", "data": {"text": "hi"}})
    received = [await asyncio.wait_for(layer.receive(c), 5) for c in members]
    assert all(m == {"type": "chat", "data": {"text": "hi"}} for m in received)
    received[0]["data"]["text"] = "mutated"
    assert len({id(m) for m in received}) == len(received)
    assert all(m["data"]["text"] == "hi" for m in received[1:])


async def test_group_discard_and_duplicates(layer: RedisChannelLayer) -> None:
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", a)
    await layer.group_add("g", a)  # twice: still one member
    await layer.group_add("g", b)
    await layer.group_discard("g", b)
    await layer.group_discard("g", "never.added")
    await layer.group_send("g", {"type": "one"})
    assert await layer.receive(a) == {"type": "one"}
    await layer.send(a, {"type": "marker"})
    assert await layer.receive(a) == {"type": "marker"}  # no duplicate in between
    assert layer.stats()["group_deliveries"] == 1


async def test_capacity_per_channel_and_channel_full(make_layer: Callable[..., Any]) -> None:
    layer = make_layer(capacity=3, channel_capacity={"big.*": 6})
    try:
        a, b = await layer.new_channel(), await layer.new_channel()
        for _ in range(3):
            await layer.send(a, {"type": "x"})
            await layer.send(b, {"type": "x"})  # another channel of the same process
        with pytest.raises(ChannelFull):
            await layer.send(a, {"type": "x"})
        await layer.receive(a)
        await layer.send(a, {"type": "after"})  # capacity given back by receive
        for _ in range(6):
            await layer.send("big.one", {"type": "x"})
        with pytest.raises(ChannelFull):
            await layer.send("big.one", {"type": "x"})
        with pytest.raises(ChannelFull):
            await layer.send("small", {"type": "x"}) if False else await _fill("small", layer, 3)
        assert layer.stats()["over_capacity"] == 3
    finally:
        await layer.flush()
        await layer.close()


async def _fill(channel: str, layer: RedisChannelLayer, n: int) -> None:
    for _ in range(n + 1):
        await layer.send(channel, {"type": "x"})


async def test_capacity_counts_buffered_messages(make_layer: Callable[..., Any]) -> None:
    """A process whose reader already buffered messages still counts them (#97)."""
    layer = make_layer(capacity=2)
    try:
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.send(b, {"type": "x"})
        await layer.receive(b)  # starts the reader for this process
        await layer.send(a, {"type": "x"})
        await layer.send(a, {"type": "x"})
        await until(lambda: layer.stats()["buffered"] == 2, "the reader to buffer both")
        assert layer.stats()["buffered"] == 2
        with pytest.raises(ChannelFull):
            await layer.send(a, {"type": "x"})
    finally:
        await layer.flush()
        await layer.close()


async def test_group_send_skips_full_members_and_warns(
    make_layer: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    layer = make_layer(capacity=1)
    try:
        full, free = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", full)
        await layer.group_add("g", free)
        await layer.send(full, {"type": "fill"})
        with caplog.at_level(logging.WARNING, logger="asgid_layers"):
            await layer.group_send("g", {"type": "g1"})
            await layer.receive(free)
            await layer.group_send("g", {"type": "g2"})
        warnings = [r for r in caplog.records if "over capacity" in r.getMessage()]
        assert len(warnings) == 1  # rate-limited
        assert "'g'" in warnings[0].getMessage() and " 1 " in warnings[0].getMessage()
        assert layer.stats()["over_capacity"] == 2
        assert await layer.receive(free) == {"type": "g2"}
    finally:
        await layer.flush()
        await layer.close()


async def test_group_send_respects_channel_capacity_overrides(
    make_layer: Callable[..., Any],
) -> None:
    layer = make_layer(capacity=3, channel_capacity={"tiny*": 1})
    try:
        members = ["tiny.a", "normal.b", await layer.new_channel()]
        for channel in members:
            await layer.group_add("g", channel)
        for _ in range(4):
            await layer.group_send("g", {"type": "x"})
        # tiny.a takes 1, the others 3 each; the rest were skipped and counted
        assert layer.stats()["group_deliveries"] == 1 + 3 + 3
        assert layer.stats()["over_capacity"] == 3 + 1 + 1
        for channel in members:
            await layer.receive(channel)
        await layer.group_send("g", {"type": "x"})  # capacity is back for every member
        assert layer.stats()["group_deliveries"] == 1 + 3 + 3 + 3
    finally:
        await layer.flush()
        await layer.close()


async def test_message_expiry(make_layer: Callable[..., Any]) -> None:
    layer = make_layer(expiry=1)
    try:
        ch = await layer.new_channel()
        sent = time.time()
        await layer.send(ch, {"type": "old"})
        await layer.send("named.exp", {"type": "old"})
        await until(lambda: time.time() - sent > 0.5, "half the expiry to pass")
        # These refresh the keys' TTL, so only the per-message check drops "old".
        await layer.send(ch, {"type": "new"})
        await layer.send("named.exp", {"type": "new"})
        await until(lambda: time.time() - sent > 1.02, "the first messages to expire")
        assert await layer.receive(ch) == {"type": "new"}
        assert await layer.receive("named.exp") == {"type": "new"}
        assert layer.stats()["expired"] == 2
    finally:
        await layer.flush()
        await layer.close()


async def test_unread_queue_expires_in_redis(make_layer: Callable[..., Any]) -> None:
    layer = make_layer(expiry=1)
    try:
        await layer.send("named.gone", {"type": "old"})
        state = await layer._state()
        key = state.ring.for_channel("named.gone").keys.queue("named.gone")
        assert 0 < await state.hosts[0].command.pttl(key) <= 1000
    finally:
        await layer.flush()
        await layer.close()


async def test_group_expiry(make_layer: Callable[..., Any]) -> None:
    layer = make_layer(group_expiry=1)
    try:
        old = await layer.new_channel()
        joined = time.time()
        await layer.group_add("g", old)
        await until(lambda: time.time() - joined > 1.05, "the first member's group expiry")
        new = await layer.new_channel()
        await layer.group_add("g", new)
        await layer.group_send("g", {"type": "x"})
        assert await layer.receive(new) == {"type": "x"}
        assert layer.stats()["group_deliveries"] == 1
    finally:
        await layer.flush()
        await layer.close()


async def test_flush_removes_everything(layer: RedisChannelLayer) -> None:
    ch = await layer.new_channel()
    await layer.group_add("g", ch)
    await layer.send(ch, {"type": "x"})
    await layer.send("named", {"type": "x"})
    await layer.flush()
    await layer.group_send("g", {"type": "after"})
    assert layer.stats()["group_deliveries"] == 0
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive("named"), 0.3)


async def test_channel_received_on_before_flush_receives_after(layer: RedisChannelLayer) -> None:
    """A process-local channel remembers its reader after the first receive; flush()
    stops that reader, and the next receive must find the new one."""
    ch = await layer.new_channel()
    await layer.send(ch, {"type": "before"})
    assert await layer.receive(ch) == {"type": "before"}
    state = await layer._state()
    (old_reader,) = state.readers.values()
    await layer.flush()
    await layer.send(ch, {"type": "after"})
    assert await asyncio.wait_for(layer.receive(ch), 5) == {"type": "after"}
    (new_reader,) = state.readers.values()
    assert new_reader is not old_reader and old_reader.closing


async def test_invalid_name_refused_even_after_valid_ones(layer: RedisChannelLayer) -> None:
    """Names are checked once and remembered; a bad one is still refused."""
    ch = await layer.new_channel()
    await layer.send(ch, {"type": "x"})
    await layer.receive(ch)
    with pytest.raises(TypeError, match="Channel name"):
        await layer.receive(ch + " x")


async def test_many_concurrent_receivers(layer: RedisChannelLayer) -> None:
    """More receivers than redis-py 8's default pool (100) at once."""
    locals_ = [await layer.new_channel() for _ in range(300)]
    named = [f"named.c{i}" for i in range(150)]
    tasks = [asyncio.ensure_future(layer.receive(c)) for c in locals_ + named]
    state = await layer._state()
    await until(
        lambda: (
            len(state.fetchers) == 150 and all(f.buffer.demand for f in state.fetchers.values())
        ),
        "every named receiver to wait",
    )
    await asyncio.gather(*(layer.send(c, {"type": "x", "c": c}) for c in locals_ + named))
    results = await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert [r["c"] for r in results] == locals_ + named
    state = await layer._state()
    assert len(state.readers) == 1  # one background reader for all 300 local channels


@pytest.mark.slow
async def test_idle_receive_outlives_socket_timeout(layer: RedisChannelLayer) -> None:
    """An idle receive waits past redis-py 8's 5 s default socket timeout (#422)."""
    ch = await layer.new_channel()
    task = asyncio.ensure_future(layer.receive(ch))
    named = asyncio.ensure_future(layer.receive("named.idle"))
    await asyncio.sleep(6)  # the passing of time is what this test is about
    assert not task.done() and not named.done()
    await layer.send(ch, {"type": "late"})
    await layer.send("named.idle", {"type": "late"})
    assert await asyncio.wait_for(task, 5) == {"type": "late"}
    assert await asyncio.wait_for(named, 5) == {"type": "late"}


async def test_json_serializer_and_no_random_prefix(make_layer: Callable[..., Any]) -> None:
    layer = make_layer(serializer_format="json", random_prefix_length=0)
    try:
        await layer.send("j", {"type": "x", "n": [1, 2]})
        assert await layer.receive("j") == {"type": "x", "n": [1, 2]}
    finally:
        await layer.flush()
        await layer.close()


async def test_stats_counts(layer: RedisChannelLayer) -> None:
    ch = await layer.new_channel()
    await layer.group_add("g", ch)
    await layer.send(ch, {"type": "x"})
    await layer.group_send("g", {"type": "y"})
    await layer.receive(ch)
    await layer.receive(ch)
    stats = layer.stats()
    assert stats["sent"] == 1 and stats["received"] == 2
    assert stats["group_sends"] == 1 and stats["group_deliveries"] == 1
    assert stats["buffered"] == 0 and stats["reconnects"] == 0


async def test_close_then_reuse(make_layer: Callable[..., Any]) -> None:
    layer = make_layer()
    await layer.send("reuse", {"type": "x"})
    await layer.close()
    await layer.close_pools()  # idempotent alias
    assert await layer.receive("reuse") == {"type": "x"}
    await layer.flush()
    await layer.close()


async def test_unread_local_channel_is_forgotten(make_layer: Callable[..., Any]) -> None:
    """A process-local channel nobody reads any more is dropped from memory and its
    capacity given back (no unbounded growth, channels_redis#212/#384)."""
    layer = make_layer(expiry=1, capacity=3)
    try:
        gone, alive = await layer.new_channel(), await layer.new_channel()
        for _ in range(3):
            await layer.send(gone, {"type": "x"})
        await layer.send(alive, {"type": "x"})
        await layer.receive(alive)  # starts the reader, which buffers `gone`'s messages
        state = await layer._state()
        (reader,) = state.readers.values()
        local = gone.split("!")[1]
        await until(lambda: local not in reader.buffers, "the idle channel to be forgotten", 8)
        assert layer.stats()["dropped_idle"] == 3 and layer.stats()["buffered"] == 0
        await until(
            lambda: not reader.pending_release and not reader.in_flight, "the release to flush"
        )
        for _ in range(3):  # capacity was given back
            await layer.send(gone, {"type": "x"})
    finally:
        await layer.flush()
        await layer.close()
