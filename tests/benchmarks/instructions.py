"""CPU instructions per HTTP/1.1 request and per WebSocket round trip, counted by callgrind.

    .venv/bin/python tests/benchmarks/instructions.py [--requests 3000] [--servers asgid uvicorn]

Wall-clock figures swing with whatever else runs on the machine; instruction counts do not
(two runs agree within 0.1%), so they show what a change to a hot path saves even on a
busy machine. Each server runs under ``valgrind --tool=callgrind`` (about 50 times slower,
so the counts, not the rates, are the result). After a warm-up the counters are zeroed,
then one keep-alive connection makes ``--requests`` ``GET /`` requests (``h2load --h1
-c 1``) and, on a new server, one WebSocket makes as many 32-byte text echoes (the
``websockets`` client), and on a third a tenth as many WebSockets are opened, echo once
and close; the counters are dumped and divided by the count. ``--work startup`` counts
the instructions from the process start to its first ``200`` (dumped right after it, no
warm-up, nothing divided): the start-up figure that does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import HERE, REPO, free_port, server_command, setup_logging  # noqa: E402

logger = logging.getLogger("bench.instructions")
WARM_UP = 500
MESSAGE = "x" * 32


class Callgrind:
    """One server process under callgrind; ``count()`` gives the instructions since ``zero()``."""

    def __init__(self, name: str, out_dir: Path) -> None:
        self.port = free_port()
        self.out = out_dir / f"{name}.{self.port}"
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{REPO}"}
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}.%p",
            *server_command(name, self.port),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server under callgrind exited with {self.proc.returncode}")
            result = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", self.url("http")],
                capture_output=True,
                text=True,
            )
            if result.stdout == "200":
                return
            time.sleep(0.5)  # polling a slow start-up, not synchronising a test
        raise RuntimeError("server under callgrind did not answer in time")

    def url(self, scheme: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}/"

    def zero(self) -> None:
        subprocess.run(
            ["callgrind_control", "-z", str(self.proc.pid)], check=True, capture_output=True
        )

    def count(self) -> int:
        subprocess.run(
            ["callgrind_control", "-d", str(self.proc.pid)], check=True, capture_output=True
        )
        dumps = sorted(self.out.parent.glob(f"{self.out.name}.{self.proc.pid}.*"))
        text = dumps[-1].read_text(errors="replace")
        found = re.search(r"^summary: (\d+)", text, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no summary line in {dumps[-1]}")
        return int(found.group(1))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def http_requests(server: Callgrind, requests: int) -> None:
    out = subprocess.run(
        ["h2load", "--h1", "-n", str(requests), "-c", "1", server.url("http")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if f"{requests} succeeded" not in out:
        raise RuntimeError(f"h2load did not complete every request:\n{out}")


def websocket_echoes(server: Callgrind, count: int) -> None:
    # The first upgrade imports Autobahn, which takes seconds under callgrind.
    with connect(server.url("ws"), compression=None, open_timeout=120) as ws:
        for _ in range(count):
            ws.send(MESSAGE)
            if ws.recv() != MESSAGE:
                raise RuntimeError("the echo differs from what was sent")


def websocket_opens(server: Callgrind, count: int) -> None:
    for _ in range(count):
        with connect(server.url("ws"), compression=None, open_timeout=120) as ws:
            ws.send(MESSAGE)
            if ws.recv() != MESSAGE:
                raise RuntimeError("the echo differs from what was sent")


WORKLOADS = {"http": http_requests, "ws": websocket_echoes, "ws-open": websocket_opens}


def measure(name: str, work: str, count: int, out_dir: Path) -> float:
    run = WORKLOADS[work]
    server = Callgrind(name, out_dir)
    try:
        run(server, min(WARM_UP, count))
        server.zero()
        run(server, count)
        return server.count() / count
    finally:
        server.stop()


def startup_instructions(name: str, out_dir: Path) -> int:
    """From exec to the first 200 (the readiness poll's request), in one process."""
    server = Callgrind(name, out_dir)
    try:
        return server.count()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests and echoes counted")
    parser.add_argument("--servers", nargs="+", default=["asgid"], help="asgid, uvicorn, ...")
    parser.add_argument(
        "--work", nargs="+", default=list(WORKLOADS), help=" ".join([*WORKLOADS, "startup"])
    )
    args = parser.parse_args()
    setup_logging()
    with tempfile.TemporaryDirectory(prefix="callgrind-") as tmp:
        for name in args.servers:
            if "startup" in args.work:
                count = startup_instructions(name, Path(tmp))
                logger.info("%-10s %7.1fM instructions to the first 200", name, count / 1e6)
            for work, unit, count in (
                ("http", "request", args.requests),
                ("ws", "32-byte echo", args.requests),
                ("ws-open", "WebSocket opened, one echo, closed", args.requests // 10),
            ):
                if work not in args.work:
                    continue
                per = measure(name, work, count, Path(tmp))
                logger.info("%-10s %7.1fk instructions per %s", name, per / 1000, unit)


if __name__ == "__main__":
    main()
