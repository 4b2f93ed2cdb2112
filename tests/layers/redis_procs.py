"""Start and stop private redis-server / redis-sentinel processes for the layer tests."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def require_tool(name: str) -> str:
    """Path of a Redis binary; fail under CI=true, skip locally, naming the tool."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found on PATH (install redis-server / redis-sentinel)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Wait until the server answers PING on its port (no sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                answer = sock.recv(64)
        except OSError:
            time.sleep(0.02)
            continue
        if answer.startswith((b"+PONG", b"-LOADING")):
            return
        # Waiting would not change the answer (-NOAUTH with --requirepass, ...).
        raise RuntimeError(f"redis on port {port} answered PING with {answer!r}")
    raise RuntimeError(f"redis on port {port} not ready after {timeout_s}s")


@dataclass
class RedisProc:
    port: int
    workdir: Path
    extra: list[str] = field(default_factory=list)
    binary: str = "redis-server"
    config_file: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProc:
        exe = require_tool(self.binary)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.config_file is not None:  # redis-sentinel: everything is in its file
            args = [exe, str(self.config_file), *self.extra]
        else:
            args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            args += ["--appendonly", "no", "--dir", str(self.workdir), *self.extra]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            wait_ready(self.port, self.proc)
        except BaseException:
            self.stop()  # a failed start must not leave a server behind
            raise
        return self

    def stop(self) -> None:
        """Kill the process we started, by its pid."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def cli(self, *args: str) -> str:
        exe = require_tool("redis-cli")
        out = subprocess.run(
            [exe, "-p", str(self.port), *args], capture_output=True, check=True, timeout=30
        )
        return out.stdout.decode()
