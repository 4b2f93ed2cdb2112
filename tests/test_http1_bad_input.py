"""Bad peer input gets a 4xx and a closed connection; the server goes on serving others."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.raw import RawClient
from tests.support.server import AsgidProcess

APP = "tests.apps.http:app"


@pytest.fixture(scope="module")
def server():
    proc = AsgidProcess(
        APP,
        "--limit-request-line", "200",
        "--limit-request-headers", "10",
        "--limit-request-header-bytes", "1000",
        "--max-request-body", "1000",
        "--timeout-keep-alive", "0.5",
        "--timeout-request-headers", "0.5",
    )  # fmt: skip
    yield proc
    proc.stop()


def _assert_rejected(server: AsgidProcess, request: bytes, status: int) -> bytes:
    with RawClient(server.port) as client:
        client.send(request)
        response = client.read_response()
        assert response.status == status, response
        assert response.header("connection") == "close"
        assert client.read_until_closed() == b""
    # the server still serves a normal request on a new connection
    assert httpx.get(server.url + "/ok").text == "/ok"
    return response.body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",  # header without colon
        b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",  # control byte in the target
        b"GET / HTTP/9.9\r\n\r\n",  # unknown version
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",  # bad method token
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",  # control byte in a value
        b"GET / HTTP/1.1\r\nHost: x\r\n X: folded\r\n\r\n",  # obsolete line folding
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
        b"\r\n\x16\x03\x01\x00\xa5\x01",  # TLS to a plain port
    ],
)
def test_malformed_requests_get_400(server, request_bytes):
    body = _assert_rejected(server, request_bytes, 400)
    assert body.startswith(b"Bad Request")


def test_request_line_over_limit_is_414(server):
    _assert_rejected(server, b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414)


def test_too_many_headers_is_431(server):
    headers = b"".join(b"X-%d: v\r\n" % n for n in range(11))
    _assert_rejected(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n", 431)


def test_headers_over_byte_limit_is_431(server):
    _assert_rejected(
        server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n", 431
    )


def test_endless_header_value_is_431_without_buffering_it(server):
    with RawClient(server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        try:
            for _ in range(100):  # never ends the line: the server must stop it
                client.send(b"v" * 1000)
        except OSError:
            pass  # closed on us while sending: what we want
        data = client.read_until_closed()
        assert data.startswith(b"HTTP/1.1 431") or data == b""
    assert httpx.get(server.url + "/ok").status_code == 200


def test_declared_body_over_limit_is_413(server):
    _assert_rejected(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413)


def test_chunked_body_over_limit_is_413(server):
    with RawClient(server.port) as client:
        client.send(b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        client.send(b"3e8\r\n" + b"a" * 1000 + b"\r\n")
        client.send(b"3e8\r\n" + b"a" * 1000 + b"\r\n")
        response = client.read_response()
        assert response.status == 413
        assert client.read_until_closed() == b""
    assert httpx.get(server.url + "/ok").status_code == 200


def test_bad_request_after_pipelined_one_waits_for_its_answer(server):
    # The 400 must not overtake the answer the first (slow) request is owed.
    with RawClient(server.port) as client:
        client.send(
            b"GET /slow?seconds=0.2 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost x\r\n\r\n"
        )
        first = client.read_response()
        assert first.status == 200 and first.body == b"slow"
        second = client.read_response()
        assert second.status == 400
        assert client.read_until_closed() == b""


def test_idle_keep_alive_connection_closes(server):
    with RawClient(server.port) as client:
        client.send(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().status == 200
        started = time.monotonic()
        assert client.is_closed(timeout=5)
        assert 0.3 < time.monotonic() - started < 3


def test_slow_request_head_is_dropped(server):
    with RawClient(server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        data = client.read_until_closed()
        assert 0.3 < time.monotonic() - started < 3
        assert data.startswith(b"HTTP/1.1 408")


def test_trickled_head_is_dropped_although_bytes_keep_coming(server):
    with RawClient(server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        with pytest.raises(OSError):
            while time.monotonic() - started < 5:
                client.send(b"X-A: b\r\n"[:1])
                time.sleep(0.05)
        assert time.monotonic() - started < 3


def test_silent_connection_is_dropped(server):
    with RawClient(server.port) as client:
        started = time.monotonic()
        assert client.is_closed(timeout=5)
        assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host field.
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        # RFC 9110 §15.6.6: versions other than 1.0/1.1 on an HTTP/1 connection.
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET /\r\n\r\n", 505),  # HTTP/0.9
        # RFC 9112 §6.1: a transfer coding we cannot decode must not reach the app raw.
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ],
)
def test_head_rules_llhttp_lets_through(server, request_bytes, status):
    _assert_rejected(server, request_bytes, status)


def test_http10_without_host_is_served(server):
    with RawClient(server.port) as client:
        client.send(b"GET /ok HTTP/1.0\r\n\r\n")
        assert client.read_response().status == 200


def test_refusal_reaches_a_client_that_is_still_uploading(server):
    # The server answers 413 as soon as it reads the head. A client that goes on sending
    # must be able to read that answer before the connection is reset: the server closes
    # its write side and drains input for a while (lingering close) instead of closing
    # at once, which would reset a connection with unread input (RFC 9112 §9.6).
    since = server.mark()
    import socket
    import threading

    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
    stop = threading.Event()
    reset_at: list[float] = []

    def upload() -> None:
        chunk = b"x" * 65536
        try:
            while not stop.is_set():
                sock.sendall(chunk)
        except OSError:
            reset_at.append(time.monotonic())

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    try:
        server.wait_for("rejected a request: 413", since=since)
        time.sleep(0.3)  # not synchronisation: the window a slow client would leave
        sock.settimeout(10)
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            assert data, "connection closed before the answer arrived"
            received += data
        read_at = time.monotonic()
        assert received.startswith(b"HTTP/1.1 413 ")
        assert not reset_at or reset_at[0] > read_at, (
            "the upload was reset before the answer was read"
        )
    finally:
        stop.set()
        sock.close()
        sender.join(5)
