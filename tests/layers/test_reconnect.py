"""Redis killed and restarted under a running layer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio
from asgid_layers import RedisChannelLayer, RedisUnavailable

from .redis_procs import RedisProc, free_port
from .waiting import until


@pytest.fixture
def private_redis(tmp_path: Path) -> RedisProc:
    proc = RedisProc(free_port(), tmp_path / "redis").start()
    yield proc  # type: ignore[misc]
    proc.stop()


async def _blocked_pops(proc: RedisProc) -> int:
    client = redis.asyncio.Redis(port=proc.port)
    try:
        return sum(c["cmd"] in ("blmpop", "blpop") for c in await client.client_list())
    finally:
        await client.aclose()


async def test_restart_mid_run(private_redis: RedisProc, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="asgid_layers")
    layer = RedisChannelLayer(hosts=[private_redis.url], prefix="rc")
    try:
        local = await layer.new_channel()
        await layer.send(local, {"type": "before"})
        assert await layer.receive(local) == {"type": "before"}
        blocked_local = asyncio.ensure_future(layer.receive(local))
        blocked_named = asyncio.ensure_future(layer.receive("rc.named"))

        async def both_blocked() -> bool:
            return await _blocked_pops(private_redis) >= 2

        await until(both_blocked, "the reader and the fetcher to block in Redis")

        private_redis.stop()
        started = time.monotonic()
        with pytest.raises(RedisUnavailable) as info:
            await layer.send(local, {"type": "lost"})
        assert isinstance(info.value, ConnectionError)
        assert time.monotonic() - started < 5, "Redis down must surface quickly"
        await until(
            lambda: sum("lost Redis" in r.getMessage() for r in caplog.records) >= 2,
            "the reader and the fetcher to notice the outage",
        )  # and receivers keep waiting through it
        assert not blocked_local.done() and not blocked_named.done()

        private_redis.start()
        await layer.send(local, {"type": "after"})
        await layer.send("rc.named", {"type": "after"})
        assert await asyncio.wait_for(blocked_local, 10) == {"type": "after"}
        assert await asyncio.wait_for(blocked_named, 10) == {"type": "after"}
        await layer.group_add("g", local)
        await layer.group_send("g", {"type": "group"})
        assert await layer.receive(local) == {"type": "group"}
        assert layer.stats()["reconnects"] >= 2  # the reader and the fetcher
    finally:
        await layer.close()


async def test_redis_down_from_the_start_fails_fast(make_layer: Callable[..., object]) -> None:
    layer = RedisChannelLayer(hosts=[("127.0.0.1", free_port())], prefix="down")
    started = time.monotonic()
    for call in (
        layer.send("x", {"type": "x"}),
        layer.group_send("g", {"type": "x"}),
        layer.group_add("g", "x"),
    ):
        with pytest.raises(RedisUnavailable, match="unavailable"):
            await call
    assert time.monotonic() - started < 10
    await layer.close()
