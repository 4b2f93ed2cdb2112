"""Processes around the Django demo's tests: a private redis-server and manage.py commands."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.net import free_port
from tests.support.server import REPO
from tests.support.tools import require_tool

DEMO_DIR = REPO / "django_demo"


def _wait_for_redis(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Poll with PING until the server answers (never sleep as synchronisation)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} not ready after {timeout_s}s")


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throw-away redis-server on a free port, without persistence; yields its URL."""
    binary = require_tool("redis-server", "redis-server")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_redis(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(10)


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``django_demo/manage.py`` from the repository root, as ``make demo`` does."""
    result = subprocess.run(
        [sys.executable, str(DEMO_DIR / "manage.py"), *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout
