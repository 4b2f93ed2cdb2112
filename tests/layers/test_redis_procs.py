"""The Redis process helper of the layer tests cleans up after a failed start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from .redis_procs import RedisProc, free_port


def test_failed_readiness_check_kills_the_server_it_started(tmp_path: Path) -> None:
    # With requirepass the readiness PING is refused (NOAUTH) although the server is up.
    server = RedisProc(free_port(), tmp_path / "redis", ["--requirepass", "s3cret"])
    with pytest.raises(RuntimeError, match="NOAUTH"):
        server.start()
    assert server.proc is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_started_server_answers_and_stops(tmp_path: Path) -> None:
    server = RedisProc(free_port(), tmp_path / "redis").start()
    try:
        assert server.cli("PING").strip() == "PONG"
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
