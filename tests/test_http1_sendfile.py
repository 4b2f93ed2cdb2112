"""``http.response.pathsend`` over HTTP/1.1 on plain TCP goes through ``os.sendfile``.

The bytes must arrive whole and in order whatever the framing, after a slow reader made
the socket full many times over, and a keep-alive connection must go on afterwards.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.apps.files import PATTERN

APP = "tests.apps.files:app"
LOOPS = ["uvloop", "asyncio"]


def expected(size: int) -> bytes:
    return (PATTERN * (size // 256 + 1))[:size]


def read_response(sock: socket.socket, buffer: bytes = b"", pause_s: float = 0.0):
    """One response off a keep-alive socket: (head, body, leftover)."""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    length = next(
        (int(line.split(":")[1]) for line in lines if line.startswith("content-length")), None
    )
    if length is not None:
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-body"
            rest += chunk
            if pause_s:
                time.sleep(pause_s)  # a slow reader, so the server's socket fills up
        return head, rest[:length], rest[length:]
    body = b""
    while True:  # chunked
        while b"\r\n" not in rest:
            rest += sock.recv(65536)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            rest += sock.recv(65536)
        body, rest = body + rest[:size], rest[size + 2 :]
        if size == 0:
            return head, body, rest


@pytest.mark.parametrize("loop", LOOPS)
def test_pathsend_framings_and_keep_alive(asgid, loop: str) -> None:
    server = asgid(APP, "--loop", loop)
    port = int(server.addresses[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        leftover = b""
        for target, size in [("/300000", 300_000), ("/70000?chunked", 70_000), ("/0", 0)]:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            head, body, leftover = read_response(sock, leftover)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert body == expected(size), target
        sock.sendall(b"HEAD /5000 HTTP/1.1\r\nHost: t\r\n\r\nGET /10 HTTP/1.1\r\nHost: t\r\n\r\n")
        while leftover.count(b"\r\n\r\n") < 1:
            leftover += sock.recv(65536)
        head, _, leftover = leftover.partition(b"\r\n\r\n")
        assert b"content-length: 5000" in head.lower()  # and no body: the next head follows
        head, body, _ = read_response(sock, leftover)
        assert body == expected(10)


@pytest.mark.parametrize("loop", LOOPS)
def test_pathsend_to_a_slow_reader_arrives_whole(asgid, loop: str) -> None:
    server = asgid(APP, "--loop", loop)
    port = int(server.addresses[0].rsplit(":", 1)[1])
    size = 8 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(f"GET /{size} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        _, body, _ = read_response(sock, pause_s=0.0005)
        assert body == expected(size)
        sock.sendall(b"GET /10 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[1] == expected(10)


def test_file_shorter_than_its_length_closes_the_connection(asgid) -> None:
    server = asgid(APP)
    port = int(server.addresses[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /short HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-length: 2000" in head.lower()
    assert body == expected(1000)  # then the server closed instead of a desynchronised stream
    assert "1000 bytes short of its content-length" in server.wait_for("bytes short")
