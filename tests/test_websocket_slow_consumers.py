"""Issue #13, WebSocket clients that read nothing while the app sends without pause: each
costs the server at most the message it is sending in user space and about
``kernel_buffer.UNSENT_BYTES`` in the kernel, and a healthy client of the same process
still gets its echoes. Socket queues are read from Linux's /proc/net/tcp."""

from __future__ import annotations

import re
import socket
from contextlib import ExitStack
from pathlib import Path

import pytest
from asgid.protocols.io.kernel_buffer import UNSENT_BYTES

from tests.support.ws_frames import TEXT, RawSocket, frame, handshake_request

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads socket queues from /proc/net/tcp"
)
STUCK = 4
# Unsent bytes the kernel may hold past TCP_NOTSENT_LOWAT (one send() can overshoot it by
# a segment) plus what is in flight to a client whose window is a few KiB; the kernel's
# own limit without TCP_NOTSENT_LOWAT is 4 MiB (net.ipv4.tcp_wmem).
KERNEL_BOUND = 4 * UNSENT_BYTES


def tcp_queues() -> dict[tuple[int, int], tuple[int, int]]:
    """(local port, remote port) -> (send queue, receive queue) of each IPv4 TCP socket."""
    queues = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        sent, received = (int(count, 16) for count in fields[4].split(":"))
        queues[(local, remote)] = (sent, received)
    return queues


def last_waiting_send(output: str, port: int) -> int:
    """Payload bytes of the sends that returned before the app's latest waiting one."""
    found = re.findall(rf"client {port}: a send waits after (\d+) bytes sent", output)
    return int(found[-1])


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_clients_that_read_nothing_cost_a_bounded_buffer(asgid, loop):
    server = asgid("tests.apps.slow_consumer:flood", "--loop", loop)
    with ExitStack() as stack:
        stuck = []
        for _ in range(STUCK):
            client = stack.enter_context(RawSocket(server.port))
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.send(handshake_request("x", "/flood"))
            assert client.open_response() == 101
            stuck.append((client, client.sock.getsockname()[1]))
        # From here on they read nothing, so each app's send() comes to wait.
        for _, port in stuck:
            server.wait_for(f"client {port}: a send waits", timeout=20)
        queues = tcp_queues()
        output = server.output
        for client, port in stuck:
            in_server_kernel = queues[(server.port, port)][0]
            in_client = queues[(port, server.port)][1] + len(client.buffer)
            # A send() that returned left nothing in user space: all of it is in the kernel.
            assert in_server_kernel + in_client >= last_waiting_send(output, port)
            assert in_server_kernel <= KERNEL_BOUND
        with RawSocket(server.port) as healthy:
            assert healthy.open("/echo") == 101
            for n in range(3):
                healthy.send(frame(TEXT, b"ping %d" % n))
                assert healthy.read_frame().payload == b"ping %d" % n
