"""WebSocket benchmarks: echo round trips/s with Node's ``ws`` client, and KiB per idle socket.

    .venv/bin/python tests/benchmarks/ws_bench.py [--connections 100] [--round-trips 1000]

The client is an independent implementation (Node.js and the npm package ``ws``, installed
on first use into ``tests/benchmarks/.node``), pinned to CPU 1; each server serves
``bench_app.py`` pinned to CPU 0. Per round, each server in turn: 100 connections each
send a 32-byte text message and wait for its echo, 1,000 times in a row, all at once
(round trips/s over the whole run). Once per server (first round): RSS with ``--idle``
sockets open minus RSS with one, per socket. Results go to ``results/ws.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (  # noqa: E402
    ALL_SERVERS,
    HERE,
    LOAD_CPU,
    RESULTS,
    Server,
    save_results,
    setup_logging,
    versions,
)

logger = logging.getLogger("bench.ws")
NODE_DIR = HERE / ".node"
CLIENT = HERE / "ws_client.cjs"
WS_PACKAGE = "ws@8"


def node_modules() -> Path:
    """The folder holding the ``ws`` package, installed with npm on first use."""
    modules = NODE_DIR / "node_modules"
    if not (modules / "ws" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed (Debian package npm); it installs the client")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR),
             WS_PACKAGE],
            check=True,
        )  # fmt: skip
    return modules


def client(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WS_MODULES": str(node_modules())}
    return subprocess.Popen(
        ["taskset", "-c", LOAD_CPU, "node", str(CLIENT), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def echo_rate(url: str, connections: int, round_trips: int) -> float:
    proc = client("echo", url, str(connections), str(round_trips), "32")
    out, _ = proc.communicate(timeout=300)
    if proc.returncode:
        raise RuntimeError(f"the echo client failed ({proc.returncode})")
    return float(json.loads(out.strip().splitlines()[-1])["rate"])


def idle_kib(server: Server, url: str, sockets: int) -> float:
    """RSS growth per idle WebSocket (server and its worker processes)."""
    one = client("idle", url, "1")
    assert one.stdout is not None and one.stdin is not None
    json.loads(one.stdout.readline())
    before = server.rss_kib()
    many = client("idle", url, str(sockets))
    assert many.stdout is not None and many.stdin is not None
    opened = json.loads(many.stdout.readline())["open"]
    after = server.rss_kib()
    for proc in (many, one):
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.communicate(timeout=60)
    return (after - before) / max(opened, 1)


def run(args: argparse.Namespace, servers: list[str]) -> dict[str, Any]:
    rates: dict[str, list[float]] = {name: [] for name in servers}
    idle: dict[str, list[float]] = {name: [] for name in servers}
    for round_no in range(1, args.rounds + 1):
        for name in servers:
            try:
                with Server(name) as server:
                    url = f"ws://127.0.0.1:{server.port}/"
                    echo_rate(url, 5, 20)  # warm-up
                    rates[name].append(echo_rate(url, args.connections, args.round_trips))
                    if round_no == 1 and args.idle:
                        idle[name].append(idle_kib(server, url, args.idle))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                logger.error("round %d %s failed: %s", round_no, name, exc)
                continue
            logger.info(
                "round %d %-9s %8.0f round trips/s%s", round_no, name, rates[name][-1],
                f"  {idle[name][-1]:.1f} KiB per idle socket" if round_no == 1 and idle[name]
                else "",
            )  # fmt: skip
    rows = [
        {"key": "ws_echo", "unit": "round trips/s", "higher_is_better": True, "values": rates,
         "title": f"WebSocket echo, {args.connections} connections x {args.round_trips:,} "
                  "round trips of 32-byte text (Node ws client)"},
        {"key": "ws_idle", "unit": "KiB", "higher_is_better": False, "values": idle,
         "title": f"KiB per idle WebSocket ({args.idle:,} idle)"},
    ]  # fmt: skip
    return {"bench": "ws", "rounds": args.rounds, "rows": rows}


def main() -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=int, default=5000, help="idle sockets (0: skip)")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for ws.json")
    args = parser.parse_args()
    servers = args.servers.split(",")
    payload = run(args, servers)
    payload["versions"] = versions(servers)
    logger.info("wrote %s", save_results("ws", payload, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
