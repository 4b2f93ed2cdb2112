"""Senders and receivers in separate OS processes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgid_layers import RedisChannelLayer

from . import procs
from .redis_procs import RedisProc

CTX = multiprocessing.get_context("spawn")


def _config(server: RedisProc, prefix: str, **extra: Any) -> dict[str, Any]:
    return {"hosts": [server.url], "prefix": prefix, **extra}


def test_group_broadcast_to_three_processes(redis_server: RedisProc, tmp_path: Path) -> None:
    # Capacity above the 200 messages: this checks fan-out across processes, not
    # back-pressure, and on a loaded machine a member process can fall 100 messages
    # (the default capacity) behind a sender that is not slowed down by anything.
    config = _config(redis_server, "xp-group", capacity=1000)
    readies = [CTX.Event() for _ in range(3)]
    outs = [str(tmp_path / f"member{i}.json") for i in range(3)]
    members = [
        CTX.Process(target=procs.group_member, args=(config, "room", 10, 200, readies[i], outs[i]))
        for i in range(3)
    ]
    for proc in members:
        proc.start()
    for ready in readies:
        assert ready.wait(30)

    async def broadcast() -> None:
        layer = RedisChannelLayer(**config)
        for i in range(200):
            await layer.group_send("room", {"type": "m", "i": i})
        assert layer.stats()["group_deliveries"] == 200 * 30
        await layer.close()

    asyncio.run(broadcast())
    procs.wait_all(members, 60)
    for out in outs:
        per_channel = json.loads(Path(out).read_text())
        assert len(per_channel) == 10
        assert all(seq == list(range(200)) for seq in per_channel)


@pytest.mark.slow
def test_100k_messages_two_competing_workers_exactly_once(
    redis_server: RedisProc, tmp_path: Path
) -> None:
    """Two sender and two worker processes on one named channel: no loss, no duplicate."""
    total = 100_000
    config = _config(redis_server, "xp-100k", capacity=5000)
    outs = [str(tmp_path / f"worker{i}.json") for i in range(2)]
    workers = [
        CTX.Process(target=procs.named_worker, args=(config, "jobs", outs[i], 1.5, 32))
        for i in range(2)
    ]
    senders = [
        CTX.Process(target=procs.send_range, args=(config, "jobs", start, start + total // 2, 200))
        for start in (0, total // 2)
    ]
    for proc in workers + senders:
        proc.start()
    procs.wait_all(senders + workers, 100)
    per_worker = [json.loads(Path(o).read_text()) for o in outs]
    counts = Counter(n for seen in per_worker for n in seen)
    assert len(counts) == total and set(counts) == set(range(total))
    assert max(counts.values()) == 1, "duplicates delivered"
    assert all(len(seen) > total // 10 for seen in per_worker), "both workers competed"


@pytest.mark.parametrize("kind", ["local", "named"])
async def test_receive_cancelled_at_random_points_under_load(
    redis_server: RedisProc, make_layer: Callable[..., Any], kind: str
) -> None:
    """Cancel receive() thousands of times while another process sends: nothing lost,
    duplicated or reordered (channels_redis#151)."""
    count = 6000
    layer: RedisChannelLayer = make_layer(capacity=count)
    channel = await layer.new_channel() if kind == "local" else "cancel.named"
    config = _config(redis_server, layer.config.prefix, capacity=count)
    sender = CTX.Process(target=procs.send_ordered, args=(config, channel, count))
    rng = random.Random(1234)
    received: list[int] = []
    cancels = 0
    try:
        sender.start()
        while len(received) < count:
            task = asyncio.ensure_future(layer.receive(channel))
            # Cancel before, during or after the message arrives: yield a random
            # number of loop iterations or sleep a random sub-millisecond time.
            if rng.random() < 0.5:
                for _ in range(rng.randint(0, 3)):
                    await asyncio.sleep(0)
            else:
                await asyncio.sleep(rng.random() * 0.002)
            if task.done():
                received.append(task.result()["i"])
                continue
            task.cancel()
            cancels += 1
            try:
                received.append((await task)["i"])  # finished before the cancel landed
            except asyncio.CancelledError:
                pass
        await asyncio.get_running_loop().run_in_executor(None, procs.wait_all, [sender], 60)
        assert received == list(range(count))
        assert cancels >= 1000
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
    finally:
        if sender.is_alive():
            sender.kill()
        await layer.flush()
        await layer.close()
