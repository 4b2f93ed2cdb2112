"""The channel-layer workloads of layer_bench.py; every layer gets the same load.

A workload takes a factory (``prefix -> layer``) and returns a :class:`Measure`. Two
layer instances in one event loop play two processes. Each workload runs under one
watchdog (no timeout per receive, which would add a task to every receive and
distort the figures), so an at-most-once layer that drops a message shows up as
``lost`` instead of hanging the run; the exactly-once layer must report ``lost == 0``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Factory = Callable[[str], Any]
# Long enough for a loaded machine, short enough to notice a lost message.
_STALL_S = 5.0


@dataclass
class Measure:
    """Figures of one workload run on one layer: unit name -> value, plus losses."""

    values: dict[str, float] = field(default_factory=dict)
    lost: int = 0


async def close(layer: Any) -> None:
    """Close a layer's connections whatever its API calls it."""
    for name in ("close", "close_pools"):
        if hasattr(layer, name):
            await getattr(layer, name)()
            return


async def _finished(awaitable: Awaitable[Any], timeout_s: float) -> bool:
    """Await with a watchdog; False (and cancelled) when it stalled."""
    try:
        await asyncio.wait_for(awaitable, timeout_s)
    except asyncio.TimeoutError:
        return False
    return True


async def ping_pong(factory: Factory, seconds: float) -> Measure:
    """One message bounced between two process-local channels: round trips/s."""
    a, b = factory("pp"), factory("pp")
    ca, cb = await a.new_channel(), await b.new_channel()
    count = 0

    async def echo() -> None:
        while (message := await b.receive(cb))["type"] != "stop":
            await b.send(ca, {"type": "pong", "n": message["n"]})

    async def ping(deadline: float) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await a.send(cb, {"type": "ping", "n": count})
            await a.receive(ca)
            count += 1
        await a.send(cb, {"type": "stop"})

    echoer = asyncio.ensure_future(echo())
    await a.send(cb, {"type": "ping", "n": -1})  # warm-up: connections, subscriptions
    await a.receive(ca)
    cpu, started = time.process_time(), time.perf_counter()
    complete = await _finished(ping(started + seconds), seconds + _STALL_S)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    complete = await _finished(echoer, _STALL_S) and complete
    await close(a)
    await close(b)
    values = {"round trips/s": count / elapsed, "CPU µs per round trip": cpu / count * 1e6}
    return Measure(values, 0 if complete else 1)


async def pairs(factory: Factory, seconds: float, n_pairs: int = 10) -> Measure:
    """``n_pairs`` senders each streaming to its own receiver: messages/s over all."""
    senders = [factory("tp") for _ in range(n_pairs)]
    receivers = [factory("tp") for _ in range(n_pairs)]
    channels = [await r.new_channel() for r in receivers]
    sent = [0] * n_pairs
    received = [0] * n_pairs
    stop = asyncio.Event()

    async def send_all(i: int) -> None:
        while not stop.is_set():
            await senders[i].send(channels[i], {"type": "m", "i": sent[i]})
            sent[i] += 1
        await senders[i].send(channels[i], {"type": "stop"})

    async def receive_all(i: int) -> None:
        while (await receivers[i].receive(channels[i]))["type"] != "stop":
            received[i] += 1

    for sender, receiver, channel in zip(senders, receivers, channels, strict=True):
        await sender.send(channel, {"type": "warm-up"})
        await receiver.receive(channel)
    tasks = [asyncio.ensure_future(send_all(i)) for i in range(n_pairs)]
    tasks += [asyncio.ensure_future(receive_all(i)) for i in range(n_pairs)]
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    await _finished(asyncio.gather(*tasks), _STALL_S)
    elapsed = time.perf_counter() - started
    for layer in senders + receivers:
        await close(layer)
    return Measure({"messages/s": sum(received) / elapsed}, sum(sent) - sum(received))


async def group_draining(factory: Factory, members: int, sends: int) -> Measure:
    """``sends`` group_sends to ``members`` channels of one process while every member
    drains in its own task in the same loop, as consumers of one server process do.

    Figures: median ms per ``await group_send(...)`` (the sender shares the loop with
    the deliveries, so this includes their cost), deliveries/s from the first send
    until every member has every message, and this process's CPU time per delivery
    (steadier than wall time on a shared machine; Redis' own time is not in it).
    """
    sender, receiver = factory("gs"), factory("gs")
    group = f"bench{members}"
    channels = [await receiver.new_channel() for _ in range(members)]
    for channel in channels:
        await receiver.group_add(group, channel)
    await sender.group_send(group, {"type": "warm-up"})
    for channel in channels:
        await receiver.receive(channel)
    received = 0
    ready = asyncio.Event()
    waiting = 0

    async def drain(channel: str) -> None:
        nonlocal received, waiting
        waiting += 1
        if waiting == members:
            ready.set()
        for _ in range(sends):
            await receiver.receive(channel)
            received += 1

    drains = asyncio.ensure_future(asyncio.gather(*(drain(c) for c in channels)))
    await ready.wait()
    await asyncio.sleep(0.05)  # every member parked in receive()
    calls = []
    cpu, started = time.process_time(), time.perf_counter()
    for i in range(sends):
        t0 = time.perf_counter()
        await sender.group_send(group, {"type": "m", "i": i, "text": "x" * 100})
        calls.append(time.perf_counter() - t0)
    await _finished(drains, _STALL_S)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    for channel in channels:
        await receiver.group_discard(group, channel)
    await close(sender)
    await close(receiver)
    values = {
        "ms per call": statistics.median(calls) * 1000,
        "deliveries/s": received / elapsed,
        "CPU µs per delivery": cpu / max(received, 1) * 1e6,
    }
    return Measure(values, members * sends - received)
