"""WebSocket clients that never read, against an app sending each 64 KiB per second: the
server's memory stays bounded and healthy connections on the same process keep their
echo rate (``--websocket-send-timeout`` drops the stuck ones). Issue #13.

    .venv/bin/python tests/benchmarks/ws_slow_consumers.py [--stuck 1000] [--seconds 90]

``--healthy`` connections echo 32-byte messages for the whole run, counted per
``--window`` (the first window, while they connect, is left out). Alone for ``--probe``
seconds first; then ``--stuck`` connections open
``/paced`` (from a thread, while the echo goes on) and never read; once the server has
dropped them all (or ``--seconds`` after the first one opened), the healthy ones echo
alone again for ``--probe`` seconds. The server runs on CPU 0, this script on CPU 1.

Prints the echo rate alone, while the stuck connections open, while they are held and
after they were dropped; the server's RSS before, at its peak and after; the kernel's
TCP memory (the whole machine's, from /proc/net/sockstat); how many stuck connections
the server dropped and when. Writes ``ws_slow.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from _peers import LOAD_CPU, RESULTS, SERVER_CPU, save_results, setup_logging  # noqa: E402

from tests.support.server import AsgidProcess  # noqa: E402
from tests.support.ws_frames import handshake_request  # noqa: E402

logger = logging.getLogger("bench.ws_slow")
MIB = 2**20
DROPPED = "--websocket-send-timeout"  # in the server's one log line per dropped connection


def tcp_memory_mib() -> float:
    """Pages the kernel has given all TCP sockets of the machine (its tcp_mem count), MiB."""
    try:
        for line in Path("/proc/net/sockstat").read_text().splitlines():
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / MIB
    except (OSError, ValueError):
        pass
    return 0.0


@dataclass
class Window:
    phase: str
    seconds: float
    round_trips: int
    rss_mib: float
    tcp_mib: float
    dropped: int
    server_cpu: float  # share of one core the server used
    own_cpu: float  # and this script (the echo clients)

    @property
    def rate(self) -> float:
        return self.round_trips / self.seconds


class Stuck:
    """The never-reading sockets, opened from a thread so the echo goes on meanwhile."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._open, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _open(self) -> None:
        try:
            for _ in range(self.count):
                sock = socket.create_connection(("127.0.0.1", self.port))
                # Small, fixed: the client's window closes after a few KiB.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                sock.sendall(handshake_request("localhost", "/paced"))
                self.sockets.append(sock)
        finally:
            self.done.set()

    def close(self) -> None:
        self._thread.join()
        for sock in self.sockets:
            sock.close()


async def echo_forever(url: str, counter: list[int], stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_queue=4) as ws:
        while not stop.is_set():
            await ws.send("x" * 32)
            await ws.recv()
            counter[0] += 1


async def run(server: AsgidProcess, args: argparse.Namespace) -> list[Window]:
    """Echo throughout; open the stuck sockets after the first ``--probe`` seconds."""
    process = psutil.Process(server.proc.pid)
    url = f"ws://127.0.0.1:{server.port}/echo"
    counter, stop = [0], asyncio.Event()
    echoes = [asyncio.ensure_future(echo_forever(url, counter, stop)) for _ in range(args.healthy)]
    stuck = Stuck(server.port, args.stuck)
    windows: list[Window] = []
    me = psutil.Process()
    started = time.monotonic()
    opened_at = all_dropped_at = None
    try:
        while True:
            before, t0 = counter[0], time.monotonic()
            cpu0, own0 = sum(process.cpu_times()[:2]), sum(me.cpu_times()[:2])
            opening = opened_at is not None and not stuck.done.is_set()
            await asyncio.sleep(args.window)
            now = time.monotonic()
            dropped = server.output.count(DROPPED)
            if not windows:
                phase = "connecting"  # the healthy ones connect: not counted
            elif opened_at is None:
                phase = "alone"
            elif opening or not stuck.done.is_set():
                phase = "opening"  # for some of this window at least
            elif all_dropped_at is None:
                phase = "held"
            else:
                phase = "after" if dropped >= args.stuck else "still held"
            rss = process.memory_info().rss / MIB
            cpu = (sum(process.cpu_times()[:2]) - cpu0) / (now - t0)
            own = (sum(me.cpu_times()[:2]) - own0) / (now - t0)
            round_trips = counter[0] - before
            windows.append(
                Window(phase, now - t0, round_trips, rss, tcp_memory_mib(), dropped, cpu, own)
            )
            logger.debug(
                "%5.0f s %-10s echo %5.0f/s  RSS %3.0f MB  TCP %4.0f MB  CPU server %3.0f%% "
                "clients %3.0f%%  dropped %d",
                now - started, phase, windows[-1].rate, rss, windows[-1].tcp_mib, cpu * 100,
                own * 100, dropped,
            )  # fmt: skip
            if opened_at is None and now - started >= args.probe:
                opened_at = now
                stuck.start()
            elif opened_at is not None and all_dropped_at is None:
                if (stuck.done.is_set() and dropped >= args.stuck) or (
                    now - opened_at >= args.seconds
                ):
                    all_dropped_at = now
            elif all_dropped_at is not None and now - all_dropped_at >= args.probe:
                break
    finally:
        stop.set()
        await asyncio.gather(*echoes, return_exceptions=True)
        stuck.close()
    if opened_at is not None and all_dropped_at is not None:
        logger.info(
            "the stuck connections were held, then dropped, %.0f s after the first opened",
            all_dropped_at - opened_at,
        )
    return windows


def summary(windows: list[Window], args: argparse.Namespace) -> dict[str, Any]:
    def rate(phase: str) -> float:
        chosen = [w for w in windows if w.phase == phase]
        seconds = sum(w.seconds for w in chosen)
        return sum(w.round_trips for w in chosen) / seconds if seconds else 0.0

    def per_cpu_second(phase: str) -> float:
        chosen = [w for w in windows if w.phase == phase]
        cpu = sum(w.server_cpu * w.seconds for w in chosen)
        return sum(w.round_trips for w in chosen) / cpu if cpu else 0.0

    loaded = [w.rate for w in windows if w.phase in ("opening", "held")]
    alone = [w for w in windows if w.phase == "alone"]
    after = [w for w in windows if w.phase == "after"]
    return {
        "stuck": args.stuck,
        "healthy": args.healthy,
        "send_timeout_s": float(args.send_timeout),
        "echo_alone": rate("alone"),
        "echo_opening": rate("opening"),
        "echo_held": rate("held"),
        "echo_loaded_lowest_window": min(loaded, default=0.0),
        "echo_loaded_median_window": statistics.median(loaded) if loaded else 0.0,
        "echo_after": rate("after"),
        # What a round trip costs the server, whatever share of a CPU the machine gave it.
        "echo_per_server_cpu_s_alone": per_cpu_second("alone"),
        "echo_per_server_cpu_s_held": per_cpu_second("held"),
        "echo_per_server_cpu_s_after": per_cpu_second("after"),
        "rss_before_mib": alone[-1].rss_mib if alone else 0.0,
        "rss_peak_mib": max(w.rss_mib for w in windows),
        "rss_after_mib": after[-1].rss_mib if after else windows[-1].rss_mib,
        "tcp_memory_before_mib": alone[-1].tcp_mib if alone else 0.0,
        "tcp_memory_peak_mib": max(w.tcp_mib for w in windows),
        "dropped": windows[-1].dropped,
        "windows_columns": ["phase", "echo/s", "RSS MiB", "TCP MiB", "server CPU", "own CPU"],
        "windows": [
            [w.phase, round(w.rate), round(w.rss_mib), round(w.tcp_mib), w.server_cpu, w.own_cpu]
            for w in windows
        ],
    }


def report(found: dict[str, Any]) -> None:
    alone = found["echo_alone"] or 1.0
    logger.info(
        "healthy echo round trips/s (%d connections): %.0f alone; %.0f (%.0f%%) while %d stuck "
        "connections opened, %.0f (%.0f%%) while they were held (lowest %g-s window %.0f, "
        "median %.0f); %.0f (%.0f%%) after they were dropped",
        found["healthy"], found["echo_alone"],
        found["echo_opening"], found["echo_opening"] / alone * 100, found["stuck"],
        found["echo_held"], found["echo_held"] / alone * 100, found["window_s"],
        found["echo_loaded_lowest_window"], found["echo_loaded_median_window"],
        found["echo_after"], found["echo_after"] / alone * 100,
    )  # fmt: skip
    logger.info(
        "healthy echo round trips per second of server CPU (the machine's load aside): "
        "%.0f alone, %.0f while the stuck connections were held, %.0f after",
        found["echo_per_server_cpu_s_alone"], found["echo_per_server_cpu_s_held"],
        found["echo_per_server_cpu_s_after"],
    )  # fmt: skip
    per_stuck = (found["rss_peak_mib"] - found["rss_before_mib"]) * 1024 / max(found["stuck"], 1)
    logger.info(
        "server RSS: %.0f MB before, %.0f MB peak (%.0f KiB per stuck connection), %.0f MB "
        "after they were dropped",
        found["rss_before_mib"], found["rss_peak_mib"], per_stuck, found["rss_after_mib"],
    )  # fmt: skip
    logger.info(
        "kernel TCP memory (whole machine): %.0f MB before, %.0f MB peak",
        found["tcp_memory_before_mib"], found["tcp_memory_peak_mib"],
    )  # fmt: skip
    logger.info(
        "stuck connections dropped by --websocket-send-timeout %g: %d of %d",
        found["send_timeout_s"], found["dropped"], found["stuck"],
    )  # fmt: skip
    logger.info("load average: %.2f", os.getloadavg()[0])


def pin(pid: int, cpu: str) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(pid, {int(cpu)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stuck", type=int, default=1000)
    parser.add_argument("--healthy", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=90.0, help="at most, once opening")
    parser.add_argument("--probe", type=float, default=10.0, help="echo alone, before and after")
    parser.add_argument("--window", type=float, default=1.0, help="seconds per echo sample")
    parser.add_argument("--send-timeout", default="30")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every window")
    args = parser.parse_args(argv)
    setup_logging()
    if args.verbose:
        logger.setLevel(logging.DEBUG)
    server = AsgidProcess(
        "tests.apps.slow_consumer:paced",
        "--access-log", "/dev/null", "--websocket-send-timeout", args.send_timeout,
        endpoints=["tcp:0:interface=127.0.0.1:backlog=2048"],
    )  # fmt: skip
    try:
        pin(server.proc.pid, SERVER_CPU)
        pin(0, LOAD_CPU)
        windows = asyncio.run(run(server, args))
    finally:
        server.stop()
    found = {**summary(windows, args), "window_s": args.window}
    report(found)
    logger.info("wrote %s", save_results("ws_slow", found, args.out))
    return 0 if found["dropped"] >= args.stuck else 1


if __name__ == "__main__":
    sys.exit(main())
