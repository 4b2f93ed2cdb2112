"""Shared helpers for the benchmarks: the peer-server venv, free ports, process start/stop.

Benchmarks are not collected by pytest; run them by hand (``make bench``). Peer servers
(daphne, uvicorn, hypercorn, channels_redis) go into their own venv so the project's
environment never depends on them.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS_VENV = Path(__file__).resolve().parent / ".venv-peers"
PEER_PACKAGES = [
    "daphne",
    "uvicorn[standard]",
    "hypercorn",
    "channels_redis",
    "uvloop",
    "httptools",
]


def peers_bin(name: str) -> str:
    """Path of a peer's executable, creating the peers venv on first use."""
    if not (PEERS_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    exe = PEERS_VENV / "bin" / name
    if not exe.exists():
        subprocess.run(
            [str(PEERS_VENV / "bin" / "pip"), "install", "-q", *PEER_PACKAGES], check=True
        )
    return str(exe)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def start(command: Sequence[str], port: int, cpu: str | None = "0") -> subprocess.Popen[bytes]:
    """Start a server pinned to ``cpu`` (the load generator gets the other core)."""
    prefix = ["taskset", "-c", cpu] if cpu is not None else []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [*prefix, *command],
        cwd=str(REPO),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def write_section(title: str, body: str, path: Path = REPO / "docs" / "benchmarks.md") -> None:
    """Replace (or append) one ``## title`` section of docs/benchmarks.md."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = f"## {title}\n"
    start_at = text.find(heading)
    if start_at == -1:
        text = text.rstrip("\n") + "\n\n" + heading + body.rstrip("\n") + "\n"
    else:
        end_at = text.find("\n## ", start_at + len(heading))
        end_at = len(text) if end_at == -1 else end_at + 1
        text = (
            text[:start_at]
            + heading
            + body.rstrip("\n")
            + "\n"
            + ("\n" + text[end_at:] if end_at < len(text) else "")
        )
    path.write_text(text)
