"""WebSocket clients that never read, against an app sending each 64 KiB per second: the
server's memory stays bounded and healthy connections on the same process keep their
echo rate (``--websocket-send-timeout`` drops the stuck ones).

    .venv/bin/python tests/benchmarks/ws_slow_consumers.py [--stuck 1000] [--seconds 60]

Phase 1: ``--healthy`` connections echo small messages for ``--probe`` seconds (their
baseline rate). Phase 2: ``--stuck`` connections open ``/paced`` and never read; for
``--seconds`` the healthy connections keep echoing while the server's RSS is sampled.
Prints the baseline and loaded echo rates, the RSS before, peak and after, and how many
stuck connections the server dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.server import AsgidProcess  # noqa: E402
from tests.support.ws_frames import handshake_request  # noqa: E402

logger = logging.getLogger("bench.ws_slow")


async def echo_rate(url: str, connections: int, seconds: float) -> float:
    """Round trips per second over ``connections`` sockets echoing as fast as they can."""
    from websockets.asyncio.client import connect

    done = 0

    async def one() -> None:
        nonlocal done
        async with connect(url) as ws:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await ws.send("x" * 32)
                await ws.recv()
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    return done / (time.monotonic() - started)


def open_stuck(port: int, count: int) -> list[socket.socket]:
    """``count`` handshakes to /paced; the sockets then read nothing at all."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(handshake_request("localhost", "/paced"))
        sockets.append(sock)
    return sockets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stuck", type=int, default=1000)
    parser.add_argument("--healthy", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--probe", type=float, default=10.0)
    parser.add_argument("--send-timeout", default="30")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = AsgidProcess(
        "tests.apps.slow_consumer:paced",
        "--access-log", "/dev/null", "--websocket-send-timeout", args.send_timeout,
        endpoints=["tcp:0:interface=127.0.0.1:backlog=2048"],
    )  # fmt: skip
    try:
        process = psutil.Process(server.proc.pid)
        url = f"ws://127.0.0.1:{server.port}/echo"
        baseline = asyncio.run(echo_rate(url, args.healthy, args.probe))
        rss_before = process.memory_info().rss
        stuck = open_stuck(server.port, args.stuck)
        peak = rss_before
        loaded: list[float] = []
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            loaded.append(asyncio.run(echo_rate(url, args.healthy, args.probe)))
            peak = max(peak, process.memory_info().rss)
        dropped = server.output.count("--websocket-send-timeout")
        rss_after = process.memory_info().rss
        for sock in stuck:
            sock.close()
    finally:
        server.stop()
    mib = 2**20
    logger.info(
        "echo round trips/s: %.0f alone, %s with %d stuck readers (%.0f%% of alone at the end)",
        baseline, ", ".join(f"{rate:.0f}" for rate in loaded), args.stuck,
        loaded[-1] / baseline * 100,
    )  # fmt: skip
    logger.info(
        "server RSS: %.0f MB before, %.0f MB peak, %.0f MB at the end; %d stuck connections "
        "dropped by --websocket-send-timeout %s",
        rss_before / mib, peak / mib, rss_after / mib, dropped, args.send_timeout,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
