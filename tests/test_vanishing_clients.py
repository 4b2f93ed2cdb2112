"""Clients that vanish mid-request (FIN or RST) leave no descriptor behind, on both loops.

uvloop stops polling a socket once it reports an error (a peer's RST); a read that still
returned the bytes sent before the reset used to leave such sockets open for good.
"""

from __future__ import annotations

import os
import socket
import struct

import httpx
import pytest

from tests.support.raw import wait_until
from tests.support.server import AsgidProcess

PARTIAL_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Unfinished: hea",  # an unfinished head
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort",  # short body
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
    b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n",  # complete, to an app that waits
]
CONNECTIONS = 1000
BATCH = 100
RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _vanish_in_batches(port: int) -> None:
    for first in range(0, CONNECTIONS, BATCH):
        batch = []
        for number in range(first, first + BATCH):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(PARTIAL_REQUESTS[number % len(PARTIAL_REQUESTS)])
            batch.append(sock)
        for number, sock in enumerate(batch):
            if number % 2:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
            sock.close()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_descriptors_return_to_baseline(asgid, loop):
    # A backlog above the batch size: with Twisted's 50, dropped SYNs would make each
    # batch wait a second for the client's retransmission.
    server: AsgidProcess = asgid(
        "tests.apps.http:app", "--loop", loop, endpoints=["tcp:0:interface=127.0.0.1:backlog=1024"]
    )
    assert httpx.get(server.url + "/path").status_code == 200  # lazy set-up done
    pid = server.proc.pid
    baseline = _open_fds(pid)
    _vanish_in_batches(server.port)
    wait_until(lambda: _open_fds(pid) <= baseline, timeout=20)
    # Every app instance that had a complete request was told its client left.
    waiting = CONNECTIONS // len(PARTIAL_REQUESTS)
    wait_until(lambda: server.output.count("disconnect delivered") == waiting, timeout=20)
    assert httpx.get(server.url + "/path").status_code == 200


def test_reactor_shape_is_checked_at_start_up():
    from asgid.errors import ConfigError
    from asgid.reactor import check_reactor_internals
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    check_reactor_internals(AsyncioSelectorReactor)

    class Reshaped(AsyncioSelectorReactor):  # as if Twisted had renamed _readOrWrite
        def addReader(self, reader):
            return None

    with pytest.raises(ConfigError, match="--loop asyncio"):
        check_reactor_internals(Reshaped)
