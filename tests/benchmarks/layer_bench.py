"""Benchmark asgid_layers.RedisChannelLayer beside channels_redis (core and pubsub).

How to run (from the repository root, after ``make venv``)::

    .venv/bin/python tests/benchmarks/layer_bench.py            # full run
    .venv/bin/python tests/benchmarks/layer_bench.py --quick    # smaller counts

The script starts its own ``redis-server`` on a free port (``--save "" --appendonly
no``, temporary directory) unless ``--redis-url`` is given, and installs its peers
itself: ``pip install --target tests/benchmarks/.venv-peers/layer-target channels_redis``
(without dependencies; redis-py, msgpack, channels come from the project venv, so
every layer runs on the same redis-py). Each scenario runs 3 times per layer; the
median is reported as a Markdown table and written to docs/benchmarks.md, section
``## Channel layer`` (``--no-write`` only prints it).

Scenarios (all layers see the same load, two layer instances play two processes):

* round trips/s: ping-pong of one message between two process-local channels;
* throughput: 10 sender/receiver pairs at once, messages/s over all pairs;
* group_send to 1 / 100 / 1,000 members of one receiving instance: ms per call
  (sender side) and deliveries/s until every member got every message.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# A --target directory inside the (git-ignored) peers venv folder of the other
# benchmarks: channels_redis must run in this process, on the project's redis-py.
PEERS = HERE / ".venv-peers" / "layer-target"
logger = logging.getLogger("layer_bench")


def ensure_peers() -> None:
    """Install channels_redis next to this script once, then import it from there."""
    if not (PEERS / "channels_redis").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
            + ["--target", str(PEERS), "channels_redis"],
            check=True,
        )
    sys.path.insert(0, str(PEERS))


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found; install it or pass --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start")


def make_factories(url: str) -> dict[str, Callable[[str], Any]]:
    from asgid_layers import RedisChannelLayer, RedisPubSubChannelLayer
    from channels_redis.core import RedisChannelLayer as CoreLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer as PubSubLayer

    big = 1_000_000  # no capacity drops: measure speed, not policy
    return {
        "asgid_layers": lambda p: RedisChannelLayer(hosts=[url], prefix=p, capacity=big),
        "channels_redis core": lambda p: CoreLayer(hosts=[url], prefix=p, capacity=big),
        "channels_redis pubsub": lambda p: PubSubLayer(hosts=[url], prefix=p),
        "asgid_layers pubsub": lambda p: RedisPubSubChannelLayer(
            hosts=[url], prefix=p, capacity=big
        ),
    }


async def close(layer: Any) -> None:
    for name in ("close", "close_pools", "flush"):
        if hasattr(layer, name) and name != "flush":
            await getattr(layer, name)()
            return


async def round_trips(factory: Callable[[str], Any], n: int) -> float:
    a, b = factory("rt"), factory("rt")
    ca, cb = await a.new_channel(), await b.new_channel()

    async def echo() -> None:
        for _ in range(n):
            await b.receive(cb)
            await b.send(ca, {"type": "pong"})

    echoer = asyncio.ensure_future(echo())
    await a.send(cb, {"type": "ping"})  # warm-up connections and readers
    await a.receive(ca)
    started = time.perf_counter()
    for _ in range(n - 1):
        await a.send(cb, {"type": "ping"})
        await a.receive(ca)
    elapsed = time.perf_counter() - started
    await asyncio.wait_for(echoer, 30)
    await close(a)
    await close(b)
    return (n - 1) / elapsed


async def throughput(factory: Callable[[str], Any], per_pair: int, pairs: int = 10) -> float:
    senders = [factory("tp") for _ in range(pairs)]
    receivers = [factory("tp") for _ in range(pairs)]
    channels = [await r.new_channel() for r in receivers]

    async def send_all(layer: Any, channel: str) -> None:
        for i in range(per_pair):
            await layer.send(channel, {"type": "m", "i": i})

    async def receive_all(layer: Any, channel: str) -> None:
        for _ in range(per_pair):
            await layer.receive(channel)

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(
            *(send_all(s, c) for s, c in zip(senders, channels, strict=True)),
            *(receive_all(r, c) for r, c in zip(receivers, channels, strict=True)),
        ),
        120,
    )
    elapsed = time.perf_counter() - started
    for layer in senders + receivers:
        await close(layer)
    return pairs * per_pair / elapsed


async def group_send(
    factory: Callable[[str], Any], members: int, sends: int
) -> tuple[float, float]:
    """(median ms per group_send call, deliveries/s end to end)."""
    sender, receiver = factory("gs"), factory("gs")
    group = f"bench{members}"
    channels = [await receiver.new_channel() for _ in range(members)]
    for channel in channels:
        await receiver.group_add(group, channel)

    async def drain(channel: str) -> None:
        for _ in range(sends):
            await receiver.receive(channel)

    async def drain_all() -> None:
        await asyncio.wait_for(asyncio.gather(*(drain(c) for c in channels)), 120)

    # Phase 1, call cost: nobody drains while sending, so the sender does not
    # share the event loop with thousands of receives; drained afterwards.
    call_times = []
    for _ in range(sends):
        t0 = time.perf_counter()
        await sender.group_send(group, {"type": "m", "text": "x" * 100})
        call_times.append(time.perf_counter() - t0)
    await drain_all()
    # Phase 2, end to end: sending and draining at once.
    drains = asyncio.ensure_future(drain_all())
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    for _ in range(sends):
        await sender.group_send(group, {"type": "m", "text": "x" * 100})
    await drains
    elapsed = time.perf_counter() - started
    for channel in channels:
        await receiver.group_discard(group, channel)
    await close(sender)
    await close(receiver)
    return statistics.median(call_times) * 1000, members * sends / elapsed


@dataclass
class Row:
    scenario: str
    unit: str
    run: Callable[[Callable[[str], Any]], Awaitable[float]]


def scenarios(quick: bool) -> list[Row]:
    scale = 0.2 if quick else 1.0
    rows = [
        Row(
            "round trips, one channel", "round trips/s", lambda f: round_trips(f, int(3000 * scale))
        ),
        Row("10 sender/receiver pairs", "messages/s", lambda f: throughput(f, int(2000 * scale))),
    ]
    for members, sends in ((1, 2000), (100, 100), (1000, 20)):
        sends = max(3, int(sends * scale))

        async def ms(f: Callable[[str], Any], m: int = members, s: int = sends) -> float:
            return (await group_send(f, m, s))[0]

        async def rate(f: Callable[[str], Any], m: int = members, s: int = sends) -> float:
            return (await group_send(f, m, s))[1]

        rows.append(Row(f"group_send to {members:,} member(s)", "ms per call", ms))
        rows.append(Row(f"group_send to {members:,} member(s)", "deliveries/s", rate))
    return rows


async def bench(url: str, quick: bool) -> str:
    factories = make_factories(url)
    names = list(factories)
    lines = [
        "| scenario | unit | " + " | ".join(names) + " | asgid vs core |",
        "|---|---|" + "---:|" * (len(names) + 1),
    ]
    for row in scenarios(quick):
        medians = []
        for name in names:
            results = [await row.run(factories[name]) for _ in range(3)]
            medians.append(statistics.median(results))
            logger.info("%s / %s: %s", row.scenario, name, results)
        ours, core = medians[0], medians[1]
        ratio = core / ours if row.unit == "ms per call" else ours / core
        cells = " | ".join(f"{m:,.2f}" if m < 10 else f"{m:,.0f}" for m in medians)
        lines.append(f"| {row.scenario} | {row.unit} | {cells} | {ratio:.1f}x |")
    return "\n".join(lines)


NOTES = """\
"ms per call" is the sender's `await group_send(...)` while nobody drains; "deliveries/s"
is end to end, from the first `group_send` until every member has received every
message, sending and receiving at once. The last column is asgid_layers (core) divided by
channels_redis core (for ms per call: core divided by asgid_layers), so above 1x means
asgid_layers is faster.

* Direct sends are one `EVALSHA`; the receiving process's background reader is already
  blocked in `BLMPOP`, and capacity released by `receive()` travels in the next `send`.
* `group_send` is one script call per shard. Members in one process get one short Redis
  element naming their member set, which the process's reader fans out; each receiver
  deserializes its own copy. The script's work per process does not grow with the
  group: capacity stays exact per channel through per-group counters and a bound
  (docs/channel-layer.md), and a full pass over the members runs only when the bound
  is used up, which these runs, with capacity set high, never reach. Such a pass over
  1,000 members of one process costs about 1.5 ms of Redis time; with the default
  capacity of 100 and consumers that keep up it comes about once per hundred sends.
* channels_redis reads the whole member list into Python and queues one message
  naming every member channel, so its call cost grows with the group; it counts
  capacity per process, not per channel (channels_redis#97).
* The pubsub layers (channels_redis' and `asgid_layers.RedisPubSubChannelLayer`) publish
  once per group and keep no queue: a message sent while nobody is subscribed, or while
  a receive is cancelled, is lost (at-most-once). That is why they are faster.
"""


def section_body(table: str) -> str:
    import platform

    import redis

    peers = sorted(p.name for p in PEERS.glob("channels_redis-*.dist-info"))
    versions = peers[0].removesuffix(".dist-info").replace("-", " ") if peers else "?"
    return (
        f"asgid_layers beside {versions} (core and pubsub layers), all on redis-py "
        f"{redis.__version__}, one private redis-server on localhost, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (a shared VM: expect noise). "
        "Two layer instances in one process play sender and receiver; capacity is set "
        "high for every layer so only speed is measured. Median of 3 runs per cell.\n\n"
        "Rerun: `.venv/bin/python tests/benchmarks/layer_bench.py` (installs channels_redis "
        "itself, starts its own redis-server; `--quick` for a smoke run).\n\n"
        f"{table}\n\n{NOTES}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    ensure_peers()
    with tempfile.TemporaryDirectory() as tmp:
        proc = None
        url = args.redis_url
        if url is None:
            proc, url = start_redis(Path(tmp))
        try:
            table = asyncio.run(bench(url, args.quick))
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
    sys.stdout.write(table + "\n")
    if not args.no_write and not args.quick:
        sys.path.insert(0, str(HERE))
        from _peers import write_section

        write_section("Channel layer", section_body(table))


if __name__ == "__main__":
    main()
