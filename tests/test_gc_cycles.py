"""Serving leaves no reference cycles: nothing for ``gc.collect()`` to find, on every protocol.

A request that leaves cycles behind makes garbage that only the cyclic collector frees,
and its full passes, which walk the whole heap, were the tail of the latency
distribution. The server runs ``tests/apps/gc_probe.py``, which keeps everything any
collection finds (``DEBUG_SAVEALL``) and reports it at ``GET /gc``. Every workload here
ends with its connection closed and the server seen to close its side before the count
is taken, so connection objects are counted too.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable

import pytest
from hyperframe.frame import HeadersFrame

from tests.support.h2frames import RawH2
from tests.support.server import AsgidProcess
from tests.support.ws_frames import CLOSE, TEXT, RawSocket, close_payload, frame

APP = "tests.apps.gc_probe:app"
LOOPS = ["uvloop", "asyncio"]


def _port(server: AsgidProcess) -> int:
    return int(server.addresses[0].rsplit(":", 1)[1])


def found_garbage(port: int) -> dict[str, object]:
    """What collections found since the last call (on a connection the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /gc HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    result: dict[str, object] = json.loads(body)
    return result


def end_and_wait(sock: socket.socket) -> None:
    """Close our side and read until the server has closed its side too.

    The server closes its socket in the same call that tells the protocol the connection
    is lost, so once we read EOF its connection objects are already released.
    """
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(5)
    while sock.recv(65536):
        pass


def assert_no_cycles(
    server: AsgidProcess, workload: Callable[[int], None], allowed: tuple[str, ...] = ()
) -> None:
    """Run ``workload`` twice; the second run must leave nothing but ``allowed`` types.

    The first run imports what a protocol imports lazily and builds one-time caches
    (some of which, like ``dataclass(slots=True)``'s discarded class, are garbage once).
    """
    port = _port(server)
    workload(port)
    found_garbage(port)
    workload(port)
    found = found_garbage(port)
    types: dict[str, int] = found["types"]  # type: ignore[assignment]
    left = {name: n for name, n in types.items() if not name.startswith(allowed)}
    assert not left, f"serving left reference cycles: {left}"


def http1_workload(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(20):
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"hello"
    for body in (b"x" * 100_000, iter([b"chunk"] * 10)):
        conn.request("POST", "/", body=body)  # Content-Length, then chunked
        assert conn.getresponse().read() == b"hello"
    for _ in range(3):
        conn.request("GET", "/error")
        response = conn.getresponse()
        response.read()
        assert response.status == 500
    assert conn.sock is not None
    end_and_wait(conn.sock)
    conn.close()
    for _ in range(3):  # connections the server closes
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            while sock.recv(65536):
                pass


def http2_workload(port: int) -> None:
    with RawH2("127.0.0.1", port) as client:
        client.handshake()
        for number in range(20):
            stream_id = 2 * number + 1
            client.send(client.headers(stream_id))
            assert client.body(stream_id) == b"hello"
        client.send(client.headers(41, method="POST", end_stream=False))
        client.send(client.data(41, b"x" * 1000, end_stream=True))
        assert client.body(41) == b"hello"
        client.send(client.headers(43, "/error"))
        status = client.expect(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 43)
        assert status.stream_id == 43
        client.body(43)
        end_and_wait(client.sock)


def websocket_workload(port: int) -> None:
    for closer in ("client", "server-reply", "abrupt"):
        with RawSocket(port) as ws:
            assert ws.open() == 101
            for _ in range(30):
                ws.send(frame(TEXT, b"x" * 32))
                assert ws.read_until(TEXT).payload == b"x" * 32
            if closer == "abrupt":
                end_and_wait(ws.sock)
                continue
            ws.send(frame(CLOSE, close_payload(1000)))
            assert ws.read_until(CLOSE).close_code == 1000
            assert ws.closed_by_server()


@pytest.mark.parametrize("loop", LOOPS)
def test_http1_requests_and_connections_leave_no_cycles(asgid, loop: str) -> None:
    assert_no_cycles(asgid(APP, "--loop", loop), http1_workload)


@pytest.mark.parametrize("loop", LOOPS)
def test_http2_streams_and_connection_leave_no_cycles(asgid, loop: str) -> None:
    # h2's H2Connection refers to itself (its frame dispatch table holds its own bound
    # methods), so each HTTP/2 connection, never a stream, leaves that one cycle of h2's.
    h2_own = (
        "h2.",
        "hpack.",
        "builtins.",
        "collections.deque",
        "asgid.protocols.http2.setup.BoundedH2Connection",  # an H2Connection, same cycle
        "asgid.protocols.http2.setup.LocalSettings",  # h2's Settings, held by that cycle
        "asgid.protocols.http2.setup.LengthUncheckedStream",  # h2's stream, in that cycle
    )
    assert_no_cycles(asgid(APP, "--loop", loop), http2_workload, allowed=h2_own)


@pytest.mark.parametrize("loop", LOOPS)
def test_websocket_messages_and_connections_leave_no_cycles(asgid, loop: str) -> None:
    assert_no_cycles(asgid(APP, "--loop", loop), websocket_workload)
