"""``--limit-concurrency`` (503 + Retry-After on HTTP/1.1, HTTP/2 and WebSocket handshakes)
and ``--backlog`` on the listening socket."""

from __future__ import annotations

import subprocess
import threading
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

APP = "tests.apps.ops:app"
LOOPS = ["uvloop", "asyncio"]


def _hold_two(server, client: httpx.Client) -> list[threading.Thread]:
    """Two /slow requests in flight (the limit), both seen started by the app."""
    threads = [
        threading.Thread(target=client.get, args=(server.url + "/slow?s=2",)) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while server.output.count("MARK slow start") < 2:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.02)
    return threads


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2"])
def test_over_the_limit_is_answered_503_with_retry_after(asgid, loop, http2):
    server = asgid(APP, "--limit-concurrency", "2", "--loop", loop)
    with httpx.Client(http1=not http2, http2=http2, timeout=10) as client:
        threads = _hold_two(server, client)
        refused = client.get(server.url + "/pid")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        for thread in threads:
            thread.join(10)
        assert client.get(server.url + "/pid").status_code == 200


@pytest.mark.parametrize("loop", LOOPS)
def test_websocket_handshakes_count_against_the_limit(asgid, loop):
    server = asgid(APP, "--limit-concurrency", "2", "--loop", loop)
    with httpx.Client(timeout=10) as client:
        threads = _hold_two(server, client)
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5)
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "1"
        for thread in threads:
            thread.join(10)
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:  # an open WebSocket is not in flight
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
        assert httpx.get(server.url + "/pid").status_code == 200


def _listen_backlog(port: int) -> int:
    """The accept queue size of the listening socket on ``port`` (ss: Send-Q)."""
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[2])


def test_backlog_applies_to_bind_and_port(asgid):
    server = asgid(APP, "--backlog", "123", "-b", "127.0.0.1", "-p", "0", endpoints=())
    assert _listen_backlog(server.port) == 123


def test_default_backlog_is_2048_not_twisteds_50(asgid):
    server = asgid(APP, "-b", "127.0.0.1", "-p", "0", endpoints=())
    with open("/proc/sys/net/core/somaxconn") as f:
        cap = int(f.read())
    assert _listen_backlog(server.port) == min(2048, cap)
