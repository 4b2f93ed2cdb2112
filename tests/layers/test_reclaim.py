"""A killed process stops costing: its memberships and queue are reclaimed."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

import redis.asyncio
from asgid_layers import RedisChannelLayer
from django.core.exceptions import ImproperlyConfigured

from . import procs
from .redis_procs import RedisProc, free_port
from .waiting import until

CTX = multiprocessing.get_context("spawn")
PROCESS_EXPIRY = 3


def test_process_expiry_is_validated() -> None:
    for bad in (0, 2, 3.5, "30"):
        try:
            RedisChannelLayer(process_expiry=bad)
        except ImproperlyConfigured as exc:
            assert "process_expiry" in str(exc)
        else:
            raise AssertionError(f"process_expiry={bad!r} accepted")


async def _keys(client: Any, prefix: str) -> set[bytes]:
    return {k async for k in client.scan_iter(match=f"{{{prefix}:*")}


async def test_killed_members_are_reclaimed(redis_server: RedisProc) -> None:
    prefix = f"reclaim{free_port()}"
    config = {"hosts": [redis_server.url], "prefix": prefix, "process_expiry": PROCESS_EXPIRY}
    readies = [CTX.Event() for _ in range(3)]
    members = [
        CTX.Process(target=procs.member_until_killed, args=(config, "room", 2, readies[i]))
        for i in range(3)
    ]
    for proc in members:
        proc.start()
    layer = RedisChannelLayer(**config)
    client = redis.asyncio.Redis(port=redis_server.port)
    try:
        loop = asyncio.get_running_loop()
        for ready in readies:
            assert await loop.run_in_executor(None, ready.wait, 60)
        mine = await layer.new_channel()  # this process stays alive and beats
        await layer.group_add("room", mine)
        await layer.group_send("room", {"type": "before"})
        assert layer.stats()["group_deliveries"] == 3 * 2 + 1
        state = await layer._state()
        keys = state.ring.for_channel(mine).keys
        assert await client.zcard(keys.group("room")) == 7
        with_members = await _keys(client, prefix)

        for proc in members:
            proc.kill()  # SIGKILL: nothing runs in the child any more
            proc.join()
        killed = time.monotonic()
        # Until reclaimed, group sends keep queueing for the dead processes.
        await layer.group_send("room", {"type": "while dead"})

        async def reclaimed() -> bool:
            return await client.zcard(keys.group("room")) == 1

        await until(reclaimed, "the dead members to be reclaimed", PROCESS_EXPIRY * 3)
        took = time.monotonic() - killed
        # silent for process_expiry, then found by the next beat (every third of it)
        assert took < PROCESS_EXPIRY * 2, took
        left = await _keys(client, prefix)
        assert len(left) < len(with_members)
        dead_owners = {m.decode() for m in await client.zrange(keys.processes(), 0, -1)}
        assert dead_owners == {mine.split("!")[0] + "!"}
        alive = mine.split("!")[0].encode()
        for kind in (b":q:specific.", b":n:specific.", b":og:specific."):
            assert not any(kind in k and alive not in k for k in left), (kind, left)
        assert len(left) - len([k for k in left if b":s:" in k]) <= 8, left
        await layer.group_send("room", {"type": "after"})
        assert layer.stats()["group_deliveries"] == 7 + 7 + 1
        assert [(await layer.receive(mine))["type"] for _ in range(3)] == [
            "before",
            "while dead",
            "after",
        ]
    finally:
        for proc in members:
            if proc.is_alive():
                proc.kill()
                proc.join()
        await layer.flush()
        await layer.close()
        await client.aclose()
