"""Keep-alive, pipelining, chunked bodies, HEAD, 100-continue, Connection: close, HTTP/1.0."""

from __future__ import annotations

import httpx
import pytest

from tests.support.raw import RawClient
from tests.support.server import AsgidProcess

APP = "tests.apps.http:app"


@pytest.fixture(scope="module")
def server():
    proc = AsgidProcess(APP)
    yield proc
    proc.stop()


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with RawClient(server.port) as client:
        for number in range(5):
            client.send(b"GET /n%d HTTP/1.1\r\nHost: x\r\n\r\n" % number)
            response = client.read_response()
            assert response.status == 200
            assert response.body == b"/n%d" % number
            assert response.header("connection") is None
            assert response.header("content-length") == str(len(response.body))
            assert response.header("server") == "asgid"
            assert response.header(
                "date",
            ).endswith("GMT")


def test_pipelined_requests_answered_in_order(server):
    # The first request is the slowest: its answer must still come first (RFC 9112 §9.3.2).
    requests = b"".join(
        b"GET /p%d?delay=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (n, delay)
        for n, delay in enumerate([b"0.2", b"0", b"0.05", b"0"])
    )
    requests += b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    requests += b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n"
    with RawClient(server.port) as client:
        client.send(requests)
        bodies = [client.read_response().body for _ in range(6)]
    assert bodies == [b"/p0", b"/p1", b"/p2", b"/p3", b"hello", b"/last"]


def test_pipelined_after_unread_body_is_parsed_from_the_right_place(server):
    # /no-read answers without reading its (small) body; the next request follows it.
    requests = (
        b"POST /no-read HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with RawClient(server.port) as client:
        client.send(requests)
        first = client.read_response()
        assert first.body == b"not reading your body"
        assert client.read_response().body == b"/after"


def test_unread_body_sent_later_is_discarded_and_connection_kept(server):
    with RawClient(server.port) as client:
        client.send(b"POST /no-read HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        first = client.read_response()
        assert first.header("connection") is None
        client.send(b"world" + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_response().body == b"/next"


def test_large_unread_chunked_body_closes_the_connection(server):
    with RawClient(server.port) as client:
        client.send(
            b"POST /no-read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        )
        response = client.read_response()
        assert response.header("connection") == "close"
        assert client.is_closed()


def test_chunked_request_and_chunked_response(server):
    with RawClient(server.port) as client:
        client.send(
            b"POST /echo-stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
        )
        while b"hello\r\n" not in client.buffer:  # the first chunk is echoed before the rest
            assert client._fill()
        client.send(b"6;ext=1\r\n world\r\n0\r\n\r\n")
        response = client.read_response()
        assert response.header("transfer-encoding") == "chunked"
        assert response.header("content-length") is None
        assert response.body == b"hello world"
        # still usable afterwards
        client.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n"
        )
        response = client.read_response()
        assert response.header("content-length") == "3" and response.body == b"abc"


def test_streamed_response_to_http10_is_close_delimited(server):
    with RawClient(server.port) as client:
        client.send(b"GET /head-streamed HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = client.read_response()
        assert response.header("transfer-encoding") is None
        assert response.header("connection") == "close"
        assert response.body == b"part1part2"


def test_http10_keep_alive(server):
    with RawClient(server.port) as client:
        client.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        response = client.read_response()
        assert response.header("connection") == "keep-alive" and response.body == b"/a"
        client.send(b"GET /b HTTP/1.0\r\n\r\n")
        response = client.read_response()
        assert response.header("connection") == "close" and response.body == b"/b"
        assert client.is_closed()


def test_connection_close_is_honoured_and_later_bytes_ignored(server):
    with RawClient(server.port) as client:
        # llhttp flags data after "Connection: close"; the first request still gets its answer
        client.send(
            b"GET /slow?seconds=0.1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        response = client.read_response()
        assert response.status == 200 and response.body == b"slow"
        assert response.header("connection") == "close"
        assert client.read_until_closed() == b""


def test_app_connection_close_header_closes(server):
    with RawClient(server.port) as client:
        client.send(b"GET /conn-close HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response()
        assert response.header("connection") == "close" and response.body == b"bye"
        assert client.is_closed()


def test_head_keeps_app_content_length_and_sends_no_body(server):
    with RawClient(server.port) as client:
        client.send(b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response(head_request=True)
        assert response.status == 200 and response.header("content-length") == "5"
        # a streamed HEAD answer gets no chunked framing and no terminating chunk
        client.send(b"HEAD /head-streamed HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response(head_request=True)
        assert response.header("transfer-encoding") is None
        client.send(b"GET /head HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response()
        assert response.body == b"hello"
        assert client.buffer == b""


def test_expect_100_continue_only_when_app_reads(server, tmp_path):
    since = server.mark()
    gate = tmp_path / "gate"
    with RawClient(server.port) as client:
        client.send(
            b"POST /continue?gate=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n" % str(gate).encode()
        )
        server.wait_for("app waiting before receive", since=since)
        assert client.nothing_received(0.3)
        gate.touch()
        interim = client.read_response()
        assert interim.status == 100
        client.send(b"data")
        response = client.read_response()
        assert response.body == b"got 4"


def test_expect_100_continue_not_sent_when_app_answers_first(server):
    with RawClient(server.port) as client:
        client.send(
            b"POST /no-read HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        response = client.read_response()
        assert response.status == 200
        # the client never got its 100: the connection cannot be reused safely
        assert response.header("connection") == "close"


def test_content_length_vs_chunked_choice(server):
    small = httpx.get(server.url + "/a")
    assert small.headers["content-length"] == "2"
    streamed = httpx.get(server.url + "/head-streamed")
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert streamed.content == b"part1part2"


def test_wrong_content_length_from_app_closes(server):
    since = server.mark()
    with RawClient(server.port) as client:
        client.send(b"GET /long-length HTTP/1.1\r\nHost: x\r\n\r\n")
        response = client.read_response()
        assert response.body == b"too"
        assert client.read_until_closed() == b""
    server.wait_for("more body than its content-length", since=since)
    assert server.output.count("more body than its content-length") == 1
    with RawClient(server.port) as client:
        client.send(b"GET /short-length HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionError):
            client.read_response()
    server.wait_for("bytes short of its content-length", since=since)


def test_no_100_continue_for_http10(server, tmp_path):
    gate = tmp_path / "gate"
    gate.touch()
    with RawClient(server.port) as client:
        client.send(
            b"POST /continue?gate=%s HTTP/1.0\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n" % str(gate).encode()
        )
        assert client.nothing_received(0.3)
        client.send(b"data")
        response = client.read_response()
        assert response.status == 200 and response.body == b"got 4"
