"""Bad input and an unreachable Redis: errors, never silence or hangs."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgid_layers import RedisChannelLayer, RedisPubSubChannelLayer, RedisUnavailable
from django.core.exceptions import ImproperlyConfigured

from .redis_procs import RedisProc, free_port
from .waiting import until


@pytest.mark.parametrize("message", ["text", ["type", "x"], None])
async def test_group_send_refuses_non_dict(make_layer: Callable[..., Any], message: Any) -> None:
    layer = make_layer()
    try:
        member = await layer.new_channel()
        await layer.group_add("g", member)
        with pytest.raises(TypeError, match="message must be a dict, got"):
            await layer.group_send("g", message)
        with pytest.raises(TypeError, match="message must be a dict, got"):
            await layer.send(member, message)
        await layer.group_send("g", {"type": "after"})
        assert await asyncio.wait_for(layer.receive(member), 5) == {"type": "after"}
        assert layer.stats()["group_sends"] == 1 and layer.stats()["sent"] == 0
    finally:
        await layer.flush()
        await layer.close()


@pytest.mark.parametrize("message", ["text", ["type", "x"], None])
async def test_pubsub_refuses_non_dict(redis_server: RedisProc, message: Any) -> None:
    layer = RedisPubSubChannelLayer(hosts=[redis_server.url], prefix="bad")
    try:
        with pytest.raises(TypeError, match="message must be a dict"):
            await layer.group_send("g", message)
        with pytest.raises(TypeError, match="message must be a dict"):
            await layer.send("bad.x", message)
        assert layer.stats()["group_sends"] == 0 and layer.stats()["sent"] == 0
    finally:
        await layer.close()


def test_reconnect_timeout_is_validated() -> None:
    for bad in (0, 2.5, "10", True):
        with pytest.raises(ImproperlyConfigured, match="reconnect_timeout"):
            RedisChannelLayer(reconnect_timeout=bad)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProc]:
    proc = RedisProc(free_port(), tmp_path / "redis").start()
    yield proc
    proc.stop()


async def test_receive_gives_up_on_unreachable_redis(private_redis: RedisProc) -> None:
    """With Redis gone for longer than reconnect_timeout, waiting receives raise;
    once Redis is back on the same port the same layer works again."""
    layer = RedisChannelLayer(hosts=[private_redis.url], prefix="gone", reconnect_timeout=3)
    try:
        local = await layer.new_channel()
        private_redis.stop()
        started = time.monotonic()
        results = await asyncio.gather(
            asyncio.wait_for(layer.receive(local), 15),
            asyncio.wait_for(layer.receive("gone.named"), 15),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
        for result in results:
            assert isinstance(result, RedisUnavailable), result
            assert isinstance(result, ConnectionError)
            assert "reconnect_timeout=3" in str(result)
        # reconnect_timeout, plus at most one check interval and a connect attempt
        assert 3 <= elapsed < 3 + 4, elapsed

        private_redis.start()
        waiting = asyncio.ensure_future(layer.receive(local))
        await layer.send(local, {"type": "back"})
        assert await asyncio.wait_for(waiting, 10) == {"type": "back"}
    finally:
        await layer.close()


async def test_receive_survives_restart_within_reconnect_timeout(
    private_redis: RedisProc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asgid_layers")
    layer = RedisChannelLayer(hosts=[private_redis.url], prefix="back", reconnect_timeout=5)
    try:
        local = await layer.new_channel()
        waiting = [
            asyncio.ensure_future(layer.receive(local)),
            asyncio.ensure_future(layer.receive("back.named")),
        ]
        state = await layer._state()
        await until(lambda: len(state.readers) == 1 and len(state.fetchers) == 1, "both loops")
        private_redis.stop()
        await until(
            lambda: sum("lost Redis" in r.getMessage() for r in caplog.records) >= 2,
            "the reader and the fetcher to notice the outage",
        )
        private_redis.start()
        await layer.send(local, {"type": "after"})
        await layer.send("back.named", {"type": "after"})
        got = await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert got == [{"type": "after"}, {"type": "after"}]
        assert layer.stats()["reconnects"] >= 2
    finally:
        await layer.close()


async def _pubsub_subscribers(layer: RedisPubSubChannelLayer, *names: str) -> int:
    """How many of ``names`` the (restarted) Redis counts a subscriber for."""
    state = await layer._state()
    counted = 0
    for name in names:
        _, host, keys = layer._route(state, name)
        counted += bool((await host.command.pubsub_numsub(keys.pubsub_channel(name)))[0][1])
    return counted


async def test_pubsub_receive_gives_up_on_unreachable_redis(private_redis: RedisProc) -> None:
    """The pubsub layer's receive() has the same reconnect_timeout bound; after Redis is
    back on the same port it resubscribes and delivers again."""
    layer = RedisPubSubChannelLayer(hosts=[private_redis.url], prefix="psgone", reconnect_timeout=3)
    try:
        local = await layer.new_channel()
        named = asyncio.ensure_future(layer.receive("psgone.named"))
        state = await layer._state()
        await until(lambda: "psgone.named" in state.listening, "the named subscription")
        private_redis.stop()
        started = time.monotonic()
        results = await asyncio.gather(
            asyncio.wait_for(layer.receive(local), 15),
            asyncio.wait_for(named, 15),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
        for result in results:
            assert isinstance(result, RedisUnavailable), result
            assert isinstance(result, ConnectionError)
            assert "reconnect_timeout=3" in str(result)
        assert 3 <= elapsed < 3 + 4, elapsed

        private_redis.start()
        waiting = asyncio.ensure_future(layer.receive(local))

        async def subscribed() -> bool:
            return await _pubsub_subscribers(layer, local) == 1

        await until(subscribed, "the channel subscribed again")
        await layer.send(local, {"type": "back"})
        assert await asyncio.wait_for(waiting, 10) == {"type": "back"}
    finally:
        await layer.close()


async def test_pubsub_receive_gives_up_on_silent_redis(private_redis: RedisProc) -> None:
    """A Redis that keeps the connection open but never answers (stopped with SIGSTOP)
    is caught by the subscriber's PINGs."""
    layer = RedisPubSubChannelLayer(hosts=[private_redis.url], prefix="psmute", reconnect_timeout=3)
    assert private_redis.proc is not None
    try:
        local = await layer.new_channel()
        private_redis.proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(RedisUnavailable, match="reconnect_timeout=3"):
            await asyncio.wait_for(layer.receive(local), 15)
        assert 3 <= time.monotonic() - started < 3 + 4
        private_redis.proc.send_signal(signal.SIGCONT)
        waiting = asyncio.ensure_future(layer.receive(local))
        await layer.send(local, {"type": "awake"})
        assert await asyncio.wait_for(waiting, 10) == {"type": "awake"}
    finally:
        private_redis.proc.send_signal(signal.SIGCONT)
        await layer.close()


async def test_pubsub_receive_survives_restart_within_reconnect_timeout(
    private_redis: RedisProc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asgid_layers")
    layer = RedisPubSubChannelLayer(hosts=[private_redis.url], prefix="psback", reconnect_timeout=5)
    try:
        local = await layer.new_channel()
        waiting = [
            asyncio.ensure_future(layer.receive(local)),
            asyncio.ensure_future(layer.receive("psback.named")),
        ]
        state = await layer._state()
        await until(lambda: "psback.named" in state.listening, "the named subscription")
        private_redis.stop()
        await until(
            lambda: any("pubsub subscriber lost Redis" in r.getMessage() for r in caplog.records),
            "the subscriber to notice the outage",
        )
        private_redis.start()

        async def both_subscribed() -> bool:
            return await _pubsub_subscribers(layer, local, "psback.named") == 2

        await until(both_subscribed, "both channels subscribed again")
        await layer.send(local, {"type": "after"})
        await layer.send("psback.named", {"type": "after"})
        got = await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert got == [{"type": "after"}, {"type": "after"}]
        assert layer.stats()["reconnects"] >= 1
    finally:
        await layer.close()
