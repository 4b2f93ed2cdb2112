"""--websocket-send-timeout: an app's send() stuck behind a client that reads nothing ends
the connection; the app sees websocket.disconnect 1006 and its send raises."""

from __future__ import annotations

import socket

import pytest

from tests.support.server import run_cli
from tests.support.ws_frames import RawSocket, handshake_request


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_send_to_a_client_that_stopped_reading_times_out(asgid, loop):
    server = asgid("tests.apps.slow_consumer:app", "--loop", loop, "--websocket-send-timeout", "1")
    with RawSocket(server.port) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.send(handshake_request("x", "/"))
        assert client.open_response() == 101
        # From here on the client reads nothing.
        server.wait_for("send raised ClientDisconnected", timeout=20)
        server.wait_for("receive gave websocket.disconnect code 1006", timeout=5)
        assert client.closed_by_server(timeout=10)
    assert server.output.count("--websocket-send-timeout") == 1


def test_negative_send_timeout_is_refused():
    result = run_cli("tests.apps.slow_consumer:app", "--websocket-send-timeout", "-1")
    assert result.returncode != 0
    assert "--websocket-send-timeout must be zero or more seconds" in result.stderr + result.stdout
