"""SIGTERM/SIGINT over a real process: drain in-flight work, refuse new work, exit cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.tools import require_tool

KEEP_ALIVE_GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"ok"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def wait_refused(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.02)
    raise AssertionError(f"port {port} still accepts connections")


def test_sigterm_drains_in_flight_and_closes_idle(asgid):
    server = asgid("tests.apps.ops:app", "--graceful-timeout", "10")
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    idle.sendall(KEEP_ALIVE_GET)
    assert read_response(idle).endswith(b"ok")
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.get, server.url + "/slow?s=1.5", timeout=10)
        server.wait_for("MARK slow start")
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        server.wait_for("SIGTERM received")
        assert idle.recv(1) == b""  # the idle keep-alive connection is closed at once
        assert time.monotonic() - started < 1.0
        wait_refused(server.port)
        response = slow.result()
    idle.close()
    assert response.status_code == 200 and response.text == "slow done"
    assert server.wait(10) == 0
    output = server.output
    assert "MARK lifespan shutdown" in output
    assert output.index("GET /slow") < output.index("MARK lifespan shutdown")


def test_graceful_timeout_aborts_a_stuck_request(asgid):
    server = asgid("tests.apps.ops:stuck", "--graceful-timeout", "0.5")
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(httpx.get, server.url + "/stuck", timeout=10)
        server.wait_for("MARK stuck start")
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # aborted: FIN or RST
            stuck.result()
    assert server.wait(10) == 0
    assert 0.4 < time.monotonic() - started < 5
    assert "graceful timeout (0.5s): aborting 1 connection(s)" in server.output
    assert "MARK lifespan shutdown" in server.output


def test_second_sigint_exits_at_once(asgid):
    server = asgid("tests.apps.ops:stuck", "--graceful-timeout", "60")
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(httpx.get, server.url + "/stuck", timeout=10)
        server.wait_for("MARK stuck start")
        server.signal(signal.SIGINT)
        server.wait_for("SIGINT received")
        started = time.monotonic()
        server.signal(signal.SIGINT)
        assert server.wait(10) == 130
        assert time.monotonic() - started < 3
        with pytest.raises(httpx.HTTPError):
            stuck.result()


def test_sd_notify_ready_and_stopping(asgid, tmp_path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(path))
        notify.settimeout(10)
        server = asgid("tests.apps.ops:app", env={"NOTIFY_SOCKET": str(path)})
        assert notify.recv(100) == b"READY=1"
        server.signal(signal.SIGTERM)
        assert notify.recv(100) == b"STOPPING=1"
        assert server.wait() == 0


def test_sigterm_closes_websockets_going_away_and_drains_http2(asgid):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    curl = require_tool("curl", "curl")
    server = asgid("tests.apps.ops:app", "--graceful-timeout", "10")
    ws_url = server.url.replace("http", "ws") + "/ws"
    with connect(ws_url) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"
        # curl, not httpx: httpcore fails every open stream on GOAWAY, even NO_ERROR ones.
        h2 = subprocess.Popen(
            [curl, "-s", "--http2-prior-knowledge", "-w", " %{http_version}",
             server.url + "/slow?s=1"],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        server.wait_for("MARK slow start")
        server.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        out, _ = h2.communicate(timeout=10)
    assert out == "slow done 2"
    assert server.wait(10) == 0
    assert "MARK lifespan shutdown" in server.output


SLOW_IMPORT = """
import sys
import time
from pathlib import Path

sys.stderr.write("slow app: importing\\n")
sys.stderr.flush()
while not Path(__file__).with_name("release").exists():  # a start-up that takes its time
    time.sleep(0.05)
app = None
"""


def test_ctrl_c_while_the_app_imports_exits_130_without_traceback(asgid, tmp_path):
    (tmp_path / "slow_import.py").write_text(SLOW_IMPORT)
    server = asgid("slow_import:app", "--app-dir", str(tmp_path), expect_ready=False)
    server.wait_for("slow app: importing")
    server.signal(signal.SIGINT)
    assert server.wait(10) == 130
    assert "interrupted while starting" in server.output
    assert "Traceback" not in server.output
