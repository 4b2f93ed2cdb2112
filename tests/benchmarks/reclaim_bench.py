"""What 100 killed member processes cost a group, before and after they are reclaimed.

How to run (from the repository root, after ``make venv``)::

    .venv/bin/python tests/benchmarks/reclaim_bench.py                  # 100 members
    .venv/bin/python tests/benchmarks/reclaim_bench.py --members 10 --process-expiry 3

Starts its own ``redis-server`` on a free port, forks ``--members`` processes that
each join one new channel to group ``room`` and read it, and measures, in this
process (itself a member that stays alive): Redis ``used_memory`` once the live
readers have caught up, and the mean ``group_send`` time to the group over
``--sends`` calls

1. with every member alive,
2. right after ``kill -9`` of every forked member (what used to last until
   ``group_expiry``, a day): the dead members' queues fill to ``capacity`` and
   each send then checks their full channels,
3. once the dead members have been reclaimed (``process_expiry`` after the kill,
   found by the next heartbeat or group_send), with the time that took.

Results are printed as a Markdown table (through logging).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import statistics
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import redis.asyncio
from asgid_layers import RedisChannelLayer
from layer_bench import start_redis

logger = logging.getLogger("reclaim_bench")


def member(config: dict[str, Any], ready: Event) -> None:
    async def main() -> None:
        layer = RedisChannelLayer(**config)
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        ready.set()
        while True:
            await layer.receive(channel)

    asyncio.run(main())


async def queued(client: Any) -> int:
    """Elements waiting in every queue of the layer."""
    return sum([await client.llen(k) async for k in client.scan_iter(match="{reclaim:*:q:*")])


async def sample(layer: RedisChannelLayer, client: Any, sends: int) -> tuple[str, float]:
    """(used_memory / used_memory_dataset in MiB once live readers caught up,
    mean group_send time in ms). The dataset figure leaves out client buffers:
    100 live processes hold a few hundred connections."""
    times = []
    for i in range(sends):
        started = time.perf_counter()
        await layer.group_send("room", {"type": "m", "i": i})
        times.append(time.perf_counter() - started)
    deadline = time.monotonic() + 60
    previous = -1
    while time.monotonic() < deadline:  # polls until the live readers stop draining
        now = await queued(client)
        if now == previous:
            break
        previous = now
        await asyncio.sleep(0.5)
    info = await client.info("memory")
    memory = f"{info['used_memory'] / 2**20:.2f} / {info['used_memory_dataset'] / 2**20:.2f}"
    return memory, statistics.mean(times) * 1000


async def measure(config: dict[str, Any], pids: list[int], sends: int) -> list[tuple[str, ...]]:
    layer = RedisChannelLayer(**config)
    client = redis.asyncio.Redis.from_url(config["hosts"][0])
    mine = await layer.new_channel()
    await layer.group_add("room", mine)

    async def drain() -> None:
        while True:
            await layer.receive(mine)

    drainer = asyncio.ensure_future(drain())
    state = await layer._state()
    group_key = state.ring.for_channel(mine).keys.group("room")
    rows = []
    memory, ms = await sample(layer, client, sends)
    members = await client.zcard(group_key)
    rows.append((f"{members} members alive", memory, f"{ms:.3f}", ""))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    memory, ms = await sample(layer, client, sends)
    rows.append((f"{len(pids)} killed, not yet reclaimed", memory, f"{ms:.3f}", ""))
    while await client.zcard(group_key) > 1:
        await asyncio.sleep(0.05)  # polls Redis until the reclaim shows
    took = time.monotonic() - killed
    memory, ms = await sample(layer, client, sends)
    rows.append(("after reclaim (1 member)", memory, f"{ms:.3f}", f"{took:.1f}"))
    drainer.cancel()
    await layer.flush()
    await layer.close()
    await client.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--process-expiry", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as workdir:
        server, url = start_redis(Path(workdir), cpu=None)
        config = {"hosts": [url], "prefix": "reclaim", "process_expiry": args.process_expiry}
        # Forked before this process runs any event loop, so children share the
        # imported modules instead of importing them 100 times.
        ctx = multiprocessing.get_context("fork")
        readies = [ctx.Event() for _ in range(args.members)]
        children = [ctx.Process(target=member, args=(config, r), daemon=True) for r in readies]
        try:
            for child in children:
                child.start()
            for ready in readies:
                if not ready.wait(120):
                    raise SystemExit("a member process did not join in 120 s")
            pids = [c.pid for c in children if c.pid is not None]
            rows = asyncio.run(measure(config, pids, args.sends))
        finally:
            for child in children:
                if child.is_alive():
                    child.kill()
                child.join()
            server.kill()
            server.wait()
    header = ("state", "Redis memory / dataset (MiB)", "group_send (ms)", "reclaimed after (s)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    logger.info(
        "%d members, %d group_sends per row, process_expiry=%ds\n%s",
        args.members,
        args.sends,
        args.process_expiry,
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
