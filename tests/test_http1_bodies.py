"""Big request and response bodies over HTTP/1.1 arrive byte-exact, on both loops.

Bodies are read in big reads while a body is in flight, handed to a waiting app without
pausing reading, and big response chunks are written beside their head and chunk framing
(``DirectWriter.write_parts``) instead of being copied into one string with them. These
tests send bodies whose bytes differ everywhere, with Content-Length and chunked, read
the answers fast and slowly (so the socket takes only part of a write), and check that
the connection goes on afterwards; and that an app reading slowly still gets bounded
messages (reading pauses).
"""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from asgid.protocols.http1.protocol import BODY_READ_BYTES, HIGH_WATER

from tests.apps.http import PATTERN
from tests.support.raw import RawClient
from tests.support.server import AsgidProcess

APP = "tests.apps.http:app"
LOOPS = ["uvloop", "asyncio"]
MIB = 1024 * 1024


@pytest.fixture(scope="module", params=LOOPS)
def server(request):
    proc = AsgidProcess(APP, "--loop", request.param)
    yield proc
    proc.stop()


def _body(size: int) -> bytes:
    return os.urandom(size)


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    """``body`` in chunks of the given sizes, cycled, then the last chunk."""
    out = []
    start = index = 0
    while start < len(body):
        piece = body[start : start + sizes[index % len(sizes)]]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        start += len(piece)
        index += 1
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def _post(path: str, length: int) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), length)


def _post_chunked(path: str) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode()


def test_big_post_echoes_exactly_with_content_length(server):
    with RawClient(server.port, timeout=30) as client:
        for size in (3 * MIB + 7, MIB, 16 * 1024, 100):
            body = _body(size)
            client.send(_post("/echo", size) + body)
            response = client.read_response()
            assert response.status == 200
            assert response.header("content-length") == str(size)
            assert response.body == body
        client.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().body == b"/after"


def test_big_chunked_post_echoes_exactly(server):
    body = _body(2 * MIB + 3)
    with RawClient(server.port, timeout=30) as client:
        # Chunks smaller and bigger than a read, and a head sent apart from the body.
        client.send(_post_chunked("/echo"))
        client.send(_chunked(body, [300 * 1024, 1, 17, 70 * 1024, MIB]))
        assert client.read_response().body == body
        client.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().body == b"/after"


def test_big_chunks_stream_back_chunked_exactly(server):
    """Each request chunk is sent back as one response chunk, without Content-Length."""
    body = _body(3 * MIB)
    with RawClient(server.port, timeout=30) as client:
        client.send(_post_chunked("/echo-stream") + _chunked(body, [MIB, 20 * 1024, 5]))
        response = client.read_response()
        assert response.header("transfer-encoding") == "chunked"
        assert response.body == body
        client.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().body == b"/after"


def test_big_echo_to_a_slow_reader_arrives_whole(server):
    """The socket takes part of each write; the rest goes out later, in order."""
    size = 4 * MIB
    body = _body(size)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    try:
        sock.sendall(_post("/echo", size) + body)
        received = bytearray()
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, rest = bytes(received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        received = bytearray(rest)
        reads = 0
        while len(received) < size:
            chunk = sock.recv(16 * 1024)
            assert chunk, "connection closed mid-body"
            received += chunk
            reads += 1
            if reads % 16 == 0:
                time.sleep(0.002)  # read slowly, so the server's writes stay partial
        assert bytes(received) == body
    finally:
        sock.close()


def _pattern(size: int) -> bytes:
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


@pytest.mark.parametrize("length", ["", "1"], ids=["chunked", "content-length"])
@pytest.mark.parametrize("chunk", [MIB, 9 * MIB])  # the second is more than a socket holds
def test_big_streamed_chunks_reach_a_slow_reader_whole(server, length, chunk):
    """Each chunk the socket takes only part of waits in the app's send() until the rest
    went out; the bytes arrive in order, and the connection goes on."""
    size = 2 * chunk + 5
    path = f"/pattern?size={size}&chunk={chunk}&length={length}"
    with RawClient(server.port, timeout=30) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        client.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        time.sleep(0.05)  # not reading yet: the server's socket fills, its sends go partial
        response = client.read_response()
        assert response.body == _pattern(size)
        client.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().body == b"/after"


@pytest.mark.parametrize("chunk", [20 * 1024, 300 * 1024, 3 * MIB])
def test_big_streamed_chunks_arrive_in_order(server, chunk):
    size = 3 * MIB + 1
    with RawClient(server.port, timeout=30) as client:
        for length in ("", "1"):
            client.send(
                b"GET /pattern?size=%d&chunk=%d&length=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                % (size, chunk, length.encode())
            )
            assert client.read_response().body == _pattern(size)


def test_slow_app_gets_bounded_messages(server):
    """Reading pauses while the app has not taken what is buffered: no message is bigger
    than the high-water mark plus one read, however fast the client sends."""
    total = 8 * MIB
    with RawClient(server.port, timeout=30) as client:
        client.send(_post("/count?pace=0.002", total))
        block = b"b" * MIB
        for _ in range(total // MIB):
            client.send(block)
        result = json.loads(client.read_response().body)
    assert result["bytes"] == total
    assert result["biggest"] <= HIGH_WATER + BODY_READ_BYTES


@pytest.mark.parametrize("together", [True, False], ids=["same-read", "later-read"])
def test_head_after_a_big_body_is_still_checked(server, together):
    """The bytes kept to check a request line start where the body ended, whether the
    next head came in the body's last read or in a later one."""
    body = _body(300 * 1024) + b"\r\n"  # a line start before the pipelined head
    loose = b"GET  /loose HTTP/1.1\r\nHost: x\r\n\r\n"
    with RawClient(server.port, timeout=30) as client:
        client.send(_post("/echo", len(body)) + body + (loose if together else b""))
        assert client.read_response().body == body
        if not together:
            client.send(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.read_response().body == b"/fine"
            client.send(loose)
        assert client.read_response().status == 400
