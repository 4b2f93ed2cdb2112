"""--send-timeout: a response send() stuck behind a client that takes nothing (an HTTP/2
window never opened, an HTTP/1.1 socket never read) resets the stream or drops the
connection; the app's send raises and it gets http.disconnect; the server keeps serving."""

from __future__ import annotations

import socket

import pytest

from tests.support.h2frames import CANCEL, INITIAL_WINDOW_SIZE, RawH2
from tests.support.server import run_cli

APP = "tests.apps.h2:app"
LOOPS = ["uvloop", "asyncio"]


def _app_saw_the_timeout(server) -> None:
    server.wait_for("flood send raised ClientDisconnected", timeout=15)
    server.wait_for("flood receive gave http.disconnect", timeout=5)


@pytest.mark.parametrize("loop", LOOPS)
def test_h2_stream_without_window_is_reset(asgid, loop):
    server = asgid(APP, "--loop", loop, "--send-timeout", "1", "--access-log", "/dev/null")
    with RawH2(server.host, server.port) as client:
        client.handshake({INITIAL_WINDOW_SIZE: 0})  # no stream may receive DATA
        client.send(client.headers(1, "/flood"))
        assert client.expect_rst(1, timeout=15).error_code == CANCEL
        _app_saw_the_timeout(server)
        # Only that stream ended: the connection serves the next one.
        client.send(client.headers(3), client.window_update(3, 1000))
        assert client.body(3) == b"Hello, world!"
    assert server.output.count("--send-timeout") == 1


@pytest.mark.parametrize("path", ["/flood", "/pathflood"], ids=["body", "sendfile"])
@pytest.mark.parametrize("loop", LOOPS)
def test_http1_client_that_never_reads_is_dropped(asgid, loop, path):
    server = asgid(APP, "--loop", loop, "--send-timeout", "1", "--access-log", "/dev/null")
    with socket.create_connection((server.host, server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        # From here on the client reads nothing.
        _app_saw_the_timeout(server)
        sock.settimeout(10)
        with pytest.raises(ConnectionResetError):  # aborted: nothing queued is flushed
            while sock.recv(1 << 20):
                pass
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.makefile("rb").read().endswith(b"Hello, world!")
    assert server.output.count("--send-timeout") == 1


def test_negative_send_timeout_is_refused():
    result = run_cli(APP, "--send-timeout", "-1")
    assert result.returncode != 0
    assert "--send-timeout must be zero or more seconds" in result.stderr + result.stdout
