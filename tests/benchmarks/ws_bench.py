"""WebSocket echo round trips/s and KiB per idle socket: asgid beside daphne and uvicorn.

    .venv/bin/python tests/benchmarks/ws_bench.py [--clients 50] [--duration 8] [--rounds 3]

Every server serves ``examples.ws_echo:app`` pinned to CPU 0; the load generator (an
asyncio ``websockets`` client in a child process) runs pinned to CPU 1. Servers take
turns, round after round; the median round trips/s is reported. Memory: RSS of the server
process with 1,000 idle sockets open minus RSS with one, divided by 1,000. Results go to
docs/benchmarks.md, section ``## WebSockets``. Everything is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import free_port, median, peers_bin, rss_kib, start, stop, write_section  # noqa: E402

APP = "examples.ws_echo:app"

# The load generator runs as a child process (pinned to CPU 1) so its work never counts
# against the server's core. It prints one JSON line.
CLIENT = r"""
import asyncio, base64, json, os, sys, time
from websockets.asyncio.client import connect

# A raw-frame echo client: a pre-masked 64-byte text frame, replies counted by length
# (server frames are unmasked: 2 header bytes + 64). Cheap enough that the servers, not
# the client, set the rate.
FRAME = bytes([0x81, 0x80 | 64]) + b"\0\0\0\0" + b"x" * 64
REPLY = 66

class Echo(asyncio.Protocol):
    def __init__(self, stop_at, done):
        self.stop_at, self.done, self.count, self.pending, self.opened = stop_at, done, 0, 0, False
        self.head = b""

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n").encode())

    def data_received(self, data):
        if not self.opened:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            self.opened = True
            data = self.head.split(b"\r\n\r\n", 1)[1]
            self.transport.write(FRAME)
        self.pending += len(data)
        while self.pending >= REPLY:
            self.pending -= REPLY
            self.count += 1
            if time.monotonic() < self.stop_at:
                self.transport.write(FRAME)
            else:
                self.transport.close()
                return

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(self.count)

async def echo(url, clients, duration):
    loop = asyncio.get_running_loop()
    host, port = url.split("//")[1].strip("/").split(":")
    stop_at = time.monotonic() + duration
    started = time.monotonic()
    dones = []
    for _ in range(clients):
        done = loop.create_future()
        await loop.create_connection(lambda: Echo(stop_at, done), host, int(port))
        dones.append(done)
    counts = await asyncio.wait_for(asyncio.gather(*dones), duration + 30)
    return sum(counts), sum(counts) / (time.monotonic() - started)

async def idle(url, n, ready_file):
    sockets = []
    for start in range(0, n, 100):
        sockets += await asyncio.gather(*(
            connect(url, compression=None, ping_interval=None) for _ in range(min(100, n - start))
        ))
    print(json.dumps({"open": len(sockets)}), flush=True)
    sys.stdin.readline()  # the parent measured RSS; close everything
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
mode, url = sys.argv[1], sys.argv[2]
if mode == "echo":
    count, rate = asyncio.run(echo(url, int(sys.argv[3]), float(sys.argv[4])))
    print(json.dumps({"count": count, "rate": rate}), flush=True)
else:
    asyncio.run(idle(url, int(sys.argv[3]), None))
"""


NOTES = """
Where the time goes. A cProfile of the server under this load, before frames were sent
straight to the socket, split it as: the event loop itself (epoll and uvloop's C side,
~40%); Autobahn's pure-Python frame parser (`processData`, `onFrameBegin/Data/End`, a
masker object built per frame, ~20%); Twisted's queued write path (~15%), where every
`transport.write` registers the socket for writing (`addWriter`), sends on the next loop
turn (`doWrite`) and unregisters it (`removeWriter`); the `callWithLogger`/
`callWithContext` wrappers around each I/O event (~10%); the ASGI side (cycle
`receive`/`send`, the inbox) ~5%. Frames now go straight to the socket when Twisted has
nothing queued (`asgid/protocols/io/direct_write.py`), which moved asgid from 1.85x to about
2.9x daphne here; what bounds it now is the loop, Autobahn's parser and Twisted's per-read
wrappers. Also off the hot path: Autobahn's per-read and per-write debug-log argument
formatting (`hltype`/`hlval` run even when debug logging is off) and the Deferred it
fires per message for its observer API; the inbox is a deque plus one future per wait.
Idle sockets cost less than Daphne's: no per-socket polling state, one keepalive timer
per socket, and permessage-deflate's zlib contexts only on the first compressed message.
"""


def commands(port: int) -> dict[str, list[str]]:
    asgid = str(Path(sys.executable).with_name("asgid"))
    return {
        "asgid": [asgid, "-e", f"tcp:{port}:interface=127.0.0.1", "-v", "0", APP],
        "daphne": [peers_bin("daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0", APP],
        "uvicorn": [
            peers_bin("uvicorn"),
            APP,
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--ws",
            "websockets",
        ],
    }


def client(*args: str, timeout: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-c", CLIENT, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def echo_rate(port: int, clients: int, duration: float, pid: int = 0) -> tuple[float, float]:
    """Round trips per wall-clock second, and per second of the server's CPU time."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
    proc = client("echo", f"ws://127.0.0.1:{port}/", str(clients), str(duration), timeout=duration)
    out, _ = proc.communicate(timeout=duration + 60)
    result = json.loads(out.strip().splitlines()[-1])
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    return float(result["rate"]), (result["count"] / cpu if cpu else 0.0)


def idle_kib_per_socket(port: int, server_pid: int, sockets: int) -> float:
    warm = client("idle", f"ws://127.0.0.1:{port}/", "1", timeout=30)
    assert warm.stdout is not None and warm.stdin is not None
    warm.stdout.readline()
    time.sleep(0.5)
    before = rss_kib(server_pid)
    many = client("idle", f"ws://127.0.0.1:{port}/", str(sockets), timeout=60)
    assert many.stdout is not None and many.stdin is not None
    json.loads(many.stdout.readline())
    time.sleep(1.0)
    after = rss_kib(server_pid)
    for proc in (many, warm):
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(30)
    return (after - before) / sockets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--servers", default="asgid,daphne,uvicorn")
    args = parser.parse_args()
    names = args.servers.split(",")
    rates: dict[str, list[float]] = {name: [] for name in names}
    per_cpu: dict[str, list[float]] = {name: [] for name in names}
    memory: dict[str, float] = {}
    for round_ in range(args.rounds):
        for name in names:
            port = free_port()
            proc = start(commands(port)[name], port)
            try:
                echo_rate(port, 5, 1.0)  # warm up
                rate, cpu_rate = echo_rate(port, args.clients, args.duration, proc.pid)
                rates[name].append(rate)
                per_cpu[name].append(cpu_rate)
                if round_ == 0:
                    memory[name] = idle_kib_per_socket(port, proc.pid, args.idle)
            finally:
                stop(proc)
            print(
                f"round {round_ + 1} {name}: {rates[name][-1]:,.0f} round trips/s, "
                f"{per_cpu[name][-1]:,.0f} per server CPU-second",
                flush=True,
            )
    report(names, rates, per_cpu, memory, args)


def report(
    names: list[str],
    rates: dict[str, list[float]],
    per_cpu: dict[str, list[float]],
    memory: dict[str, float],
    args: argparse.Namespace,
) -> None:
    base = median(rates["daphne"]) if "daphne" in rates else 0.0
    base_cpu = median(per_cpu["daphne"]) if "daphne" in per_cpu else 0.0
    lines = [
        f"Echo of a 64-byte text message, {args.clients} concurrent clients, "
        f"{args.duration:g} s x {args.rounds} rounds (median); server on CPU 0, "
        "client (raw frames on asyncio/uvloop, replies counted by length) on CPU 1. "
        "Idle memory: RSS with "
        f"{args.idle:,} idle sockets minus RSS with one, per socket. Round trips per server "
        "CPU-second (server user+system time during the run) is the steadier figure when "
        "the machine is shared. "
        f"Run: `{Path(sys.executable).name} tests/benchmarks/ws_bench.py` on "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| server | round trips/s | vs daphne | round trips per server CPU-s | vs daphne "
        "| KiB per idle socket |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        rate, cpu_rate = median(rates[name]), median(per_cpu[name])
        ratio = f"{rate / base:.2f}x" if base else "-"
        cpu_ratio = f"{cpu_rate / base_cpu:.2f}x" if base_cpu else "-"
        lines.append(
            f"| {name} | {rate:,.0f} | {ratio} | {cpu_rate:,.0f} | {cpu_ratio} "
            f"| {memory.get(name, 0):.1f} |"
        )
    body = "\n".join(lines) + "\n" + NOTES
    print(body)
    write_section("WebSockets", body)


if __name__ == "__main__":
    main()
