"""HTTP clients that read nothing of a large response: the kernel holds at most about
``kernel_buffer.CONNECTION_UNSENT_BYTES`` of it for each (without the bound Linux lets a
socket's send buffer grow to 4 MiB, ``net.ipv4.tcp_wmem``), whether the body is streamed
by the app or sent from a file (``sendfile``), and other clients are still answered.
Socket queues are read from Linux's /proc/net/tcp."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from asgid.protocols.io.kernel_buffer import CONNECTION_UNSENT_BYTES

from tests.support.h2frames import INITIAL_WINDOW_SIZE, RawH2
from tests.test_websocket_slow_consumers import tcp_queues

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads socket queues from /proc/net/tcp"
)
STUCK = 3
# One send() may overshoot the bound by what it was given (64 KiB here, a sendfile call
# by a segment or so), and a few KiB are in flight to a client whose window is 4 KiB.
KERNEL_BOUND = CONNECTION_UNSENT_BYTES + 256 * 1024


def stuck_client(port: int, target: str) -> socket.socket:
    """A client that asks for ``target`` with a tiny receive buffer and reads nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return sock


def settled_send_queue(server_port: int, client_port: int, timeout_s: float = 20.0) -> int:
    """The server's send queue towards one client once it stopped growing for a second."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        queued = tcp_queues()[(server_port, client_port)][0]
        if queued != last:
            last, since = queued, time.monotonic()
        elif time.monotonic() - since >= 1.0 and queued > 0:
            return queued
        time.sleep(0.05)
    raise AssertionError(f"send queue still moving after {timeout_s} s (last {last} bytes)")


def answers_hello(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello")


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_streamed_response_to_clients_that_read_nothing(asgid, loop):
    server = asgid("tests.apps.slow_consumer:http_flood", "--loop", loop)
    with ExitStack() as stack:
        clients = [stack.enter_context(stuck_client(server.port, "/flood")) for _ in range(STUCK)]
        for client in clients:
            port = client.getsockname()[1]
            server.wait_for(f"client {port}: a send waits", timeout=20)
            assert settled_send_queue(server.port, port) <= KERNEL_BOUND
        assert answers_hello(server.port)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_file_response_to_clients_that_read_nothing(asgid, loop):
    server = asgid("tests.apps.files:app", "--loop", loop)
    size = 24 * 1024 * 1024
    with ExitStack() as stack:
        clients = [stack.enter_context(stuck_client(server.port, f"/{size}")) for _ in range(STUCK)]
        for client in clients:
            assert settled_send_queue(server.port, client.getsockname()[1]) <= KERNEL_BOUND


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_http2_client_that_opens_its_window_and_reads_nothing(asgid, loop):
    """HTTP/2 flow control lets the client choose how much it is sent: a window of 2 GiB
    that it never reads is bounded by the kernel allowance alone."""
    server = asgid("tests.apps.slow_consumer:http_flood", "--loop", loop)
    big = 2**31 - 1
    with RawH2("127.0.0.1", server.port) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.handshake({INITIAL_WINDOW_SIZE: big})
        client.send(client.window_update(0, big - 65535), client.headers(1, "/flood"))
        port = client.sock.getsockname()[1]
        server.wait_for(f"client {port}: a send waits", timeout=20)
        assert settled_send_queue(server.port, port) <= KERNEL_BOUND
        assert answers_hello(server.port)
