"""Code run in child OS processes by the cross-process tests (spawned, not forked)."""

from __future__ import annotations

import asyncio
import json
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from asgid_layers import RedisChannelLayer
from channels.exceptions import ChannelFull


async def _send_retrying(layer: RedisChannelLayer, channel: str, message: dict[str, Any]) -> None:
    while True:
        try:
            await layer.send(channel, message)
            return
        except ChannelFull:
            await asyncio.sleep(0.005)


def send_range(config: dict[str, Any], channel: str, start: int, stop: int, batch: int) -> None:
    """Send ``{"i": n}`` for n in [start, stop), ``batch`` sends in flight at once."""

    async def main() -> None:
        layer = RedisChannelLayer(**config)
        for first in range(start, stop, batch):
            last = min(first + batch, stop)
            await asyncio.gather(
                *(_send_retrying(layer, channel, {"type": "m", "i": n}) for n in range(first, last))
            )
        await layer.close()

    asyncio.run(main())


def send_ordered(config: dict[str, Any], channel: str, count: int) -> None:
    """Send ``count`` sequenced messages one after another (order matters)."""

    async def main() -> None:
        layer = RedisChannelLayer(**config)
        for n in range(count):
            await _send_retrying(layer, channel, {"type": "m", "i": n})
        await layer.close()

    asyncio.run(main())


def named_worker(
    config: dict[str, Any], channel: str, out: str, idle_s: float, concurrency: int
) -> None:
    """Compete for a named channel until it stays idle; write received ids to ``out``."""

    async def main() -> None:
        layer = RedisChannelLayer(**config)
        seen: list[int] = []

        async def loop() -> None:
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), idle_s)
                except asyncio.TimeoutError:
                    return
                seen.append(message["i"])

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        await layer.close()
        Path(out).write_text(json.dumps(seen))

    asyncio.run(main())


def group_member(
    config: dict[str, Any], group: str, channels: int, messages: int, ready: Event, out: str
) -> None:
    """Join ``channels`` new channels to ``group``, then collect ``messages`` on each."""

    async def main() -> None:
        layer = RedisChannelLayer(**config)
        names = [await layer.new_channel() for _ in range(channels)]
        for name in names:
            await layer.group_add(group, name)
        ready.set()

        async def collect(name: str) -> list[int]:
            return [(await layer.receive(name))["i"] for _ in range(messages)]

        got = await asyncio.wait_for(asyncio.gather(*(collect(n) for n in names)), 60)
        await layer.close()
        Path(out).write_text(json.dumps(got))

    asyncio.run(main())


def wait_all(procs: list[Any], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        proc.join(max(0.1, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise AssertionError(f"child {proc.name} did not finish in {timeout_s}s")
        assert proc.exitcode == 0, f"child {proc.name} exited with {proc.exitcode}"


def member_until_killed(config: dict[str, Any], group: str, channels: int, ready: Event) -> None:
    """Join ``channels`` new channels to ``group`` and read them until killed."""

    async def main() -> None:
        layer = RedisChannelLayer(**config)
        names = [await layer.new_channel() for _ in range(channels)]
        for name in names:
            await layer.group_add(group, name)
        ready.set()

        async def drain(name: str) -> None:
            while True:
                await layer.receive(name)

        await asyncio.gather(*(drain(n) for n in names))

    asyncio.run(main())
