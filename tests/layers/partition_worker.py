"""One "host" of the partition test: a layer process that group-sends and receives.

Run inside a network namespace by test_partition.py:
``python -m tests.layers.partition_worker URL NAME WORKDIR``. It joins ``CHANNELS``
new channels to the group, writes ``NAME.ready``, waits for ``go``, then sends
numbered group messages (about ``RATE`` per second) and reads its channels until
``stop`` appears and its channels stay quiet; it writes every outcome to
``NAME.json`` and its progress to ``NAME.progress`` (both read by the test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from asgid_layers import RedisChannelLayer

logger = logging.getLogger("partition_worker")

CHANNELS = 2
RATE = 100
QUIET_S = 3.0


class Host:
    def __init__(self, url: str, name: str, workdir: Path) -> None:
        self.name, self.workdir = name, workdir
        self.layer = RedisChannelLayer(hosts=[url], prefix="part", capacity=100_000, expiry=300)
        self.sent: dict[int, str] = {}
        self.ok_times: list[float] = []
        self.received: dict[str, list[list[Any]]] = {}
        self.recv_times: list[float] = []
        self.receive_errors = 0
        self.last_receive = time.monotonic()

    def file(self, suffix: str) -> Path:
        return self.workdir / f"{self.name}{suffix}"

    async def wait_file(self, path: Path) -> None:
        while not path.exists():  # the test process creates it; polled, not timed
            await asyncio.sleep(0.01)

    async def send_loop(self) -> None:
        stop, seq = self.workdir / "stop", 0
        while not stop.exists():
            message = {"type": "m", "from": self.name, "seq": seq}
            try:
                await self.layer.group_send("room", message)
                self.sent[seq] = "ok"
                self.ok_times.append(time.time())
            except (ConnectionError, TimeoutError) as exc:
                self.sent[seq] = "error"
                logger.info("%s: group_send %d failed: %s", self.name, seq, exc)
            seq += 1
            await asyncio.sleep(1 / RATE)  # pacing the load, not ordering events

    async def receive_loop(self, channel: str) -> None:
        got = self.received[channel] = []
        while True:
            try:
                message = await self.layer.receive(channel)
            except ConnectionError as exc:
                self.receive_errors += 1
                logger.info("%s: receive failed: %s", self.name, exc)
                continue
            got.append([message["from"], message["seq"]])
            self.recv_times.append(time.time())
            self.last_receive = time.monotonic()

    async def report_progress(self) -> None:
        while True:
            state = {"ok_times": self.ok_times[-1:], "recv_times": self.recv_times[-1:]}
            state["received"] = len(self.recv_times)
            self.file(".progress.tmp").write_text(json.dumps(state))
            self.file(".progress.tmp").replace(self.file(".progress"))
            await asyncio.sleep(0.2)

    async def run(self) -> None:
        channels = [await self.layer.new_channel() for _ in range(CHANNELS)]
        for channel in channels:
            await self.layer.group_add("room", channel)
        self.file(".ready").touch()
        await self.wait_file(self.workdir / "go")
        tasks = [asyncio.ensure_future(self.receive_loop(c)) for c in channels]
        tasks.append(asyncio.ensure_future(self.report_progress()))
        await self.send_loop()
        while time.monotonic() - self.last_receive < QUIET_S:
            await asyncio.sleep(0.1)  # drained once nothing arrived for QUIET_S
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        result = {
            "sent": self.sent,
            "ok_times": self.ok_times,
            "received": self.received,
            "recv_times": self.recv_times,
            "receive_errors": self.receive_errors,
        }
        self.file(".json").write_text(json.dumps(result))
        await self.layer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(Host(args.url, args.name, args.workdir).run())


if __name__ == "__main__":
    main()
