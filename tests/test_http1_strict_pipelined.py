"""Every head refused as a connection's first request is refused the same way when it comes
pipelined after another request's body: in the same write, split across writes, after a
body of any size, after an upgrade served as plain HTTP (RFC 9112 §11.2)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.raw import RawClient
from tests.support.server import AsgidProcess
from tests.test_http1_strict import MALFORMED, NOT_IMPLEMENTED

LOOPS = ["uvloop", "asyncio"]
REFUSED = {name: (head, 400) for name, head in MALFORMED.items()} | {
    name: (head, 501) for name, head in NOT_IMPLEMENTED.items()
}
BIG = 300_000  # past one 256 KiB body read


def cl_request(size: int, fill: bytes = b"b") -> tuple[bytes, bytes]:
    body = (fill * size)[:size]
    head = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size
    return head + body, body


def chunked_request(size: int) -> tuple[bytes, bytes]:
    body = b"c" * size
    head = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + b"%x\r\n" % size + body + b"\r\n0\r\n\r\n", body


FIRSTS = {
    "after Content-Length body": cl_request(3),
    "after chunked body": chunked_request(3),
    "after 300 kB Content-Length body": cl_request(BIG),
    "after 300 kB chunked body": chunked_request(BIG),
}


@pytest.fixture(scope="module", params=LOOPS)
def server(request):
    proc = AsgidProcess("tests.apps.http:app", "--loop", request.param)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def table_server():
    """The whole table runs on the default loop, as test_http1_strict does; the paths
    themselves are tried on both loops below."""
    proc = AsgidProcess("tests.apps.http:app")
    yield proc
    proc.stop()


def assert_second_refused(server: AsgidProcess, writes: list[bytes], body: bytes, status: int):
    """The first request is answered, the second refused and the connection closed; a
    new connection is served."""
    with RawClient(server.port) as client:
        try:
            for data in writes:
                client.send(data)
        except (ConnectionResetError, BrokenPipeError):
            pass  # refused while the rest of a long request was still on its way
        first = client.read_response()
        assert (first.status, first.body) == (200, body)
        second = client.read_response()
        assert second.status == status, second
        assert second.header("connection") == "close"
        assert client.read_until_closed() == b""
    assert httpx.get(server.url + "/path").text == "/path"


def split_points(first: bytes, head: bytes) -> list[int]:
    """A few places to cut a pipelined pair, the same on every run: in the first request's
    body, at the boundary, in the second request line, in the second head's fields."""
    end = len(first)
    return [end - 1, end, end + 2, end + len(head) // 2, end + len(head) - 1]


@pytest.mark.parametrize("first", FIRSTS.values(), ids=FIRSTS.keys())
@pytest.mark.parametrize("name", REFUSED)
def test_refused_head_pipelined_in_the_same_write(table_server, first, name):
    (request, body), (head, status) = first, REFUSED[name]
    assert_second_refused(table_server, [request + head], body, status)


@pytest.mark.parametrize("first", list(FIRSTS.values())[:2], ids=list(FIRSTS)[:2])
@pytest.mark.parametrize("name", REFUSED)
def test_refused_head_pipelined_split_across_writes(table_server, first, name):
    (request, body), (head, status) = first, REFUSED[name]
    data = request + head
    for cut in split_points(request, head):
        assert_second_refused(table_server, [data[:cut], data[cut:]], body, status)


LOOSE_LINES = [b"GET  /x HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /x  HTTP/1.1\r\nHost: a\r\n\r\n"]


@pytest.mark.parametrize("loose", LOOSE_LINES, ids=["before target", "before version"])
def test_loose_request_line_split_at_every_byte(server, loose):
    """Two spaces in a request line that starts mid-line, right after a body."""
    request, body = cl_request(3)
    data = request + loose
    for cut in range(1, len(data)):
        assert_second_refused(server, [data[:cut], data[cut:]], body, 400)


@pytest.mark.parametrize(
    "size",
    [1, 65_536 - 48, 65_536 - 47, 65_536 - 46, 262_144, 65_536 + 262_144 - 50, BIG],
)
@pytest.mark.parametrize("loose", LOOSE_LINES, ids=["before target", "before version"])
def test_loose_request_line_after_bodies_of_every_size(server, size, loose):
    """Bodies ending just before, at and after a read's end (64 KiB while a head is read,
    256 KiB while a body is), and bodies whose last byte is not a newline."""
    request, body = cl_request(size, b"0123456789")
    assert_second_refused(server, [request + loose], body, 400)
    assert_second_refused(server, [request, loose], body, 400)


def test_a_loose_line_later_on_the_connection_does_not_refuse_an_earlier_one(server):
    with RawClient(server.port) as client:
        client.send(b"GET /path HTTP/1.1\r\nHost: a\r\n\r\nGET  / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert client.read_response().body == b"/path"
        assert client.read_response().status == 400


UPGRADE = b"POST /echo HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: foo\r\n"
INNER = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        UPGRADE + b"Content-Length: %d\r\n\r\n" % len(INNER) + INNER,
        UPGRADE
        + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(INNER)
        + INNER
        + b"\r\n0\r\n\r\n",
    ],
    ids=["Content-Length", "chunked"],
)
def test_body_of_a_refused_upgrade_is_its_body_not_a_request(server, request_bytes):
    """llhttp stops after an upgrade request's head; served as plain HTTP, the body that
    follows is the app's, and nothing after it is read as a request."""
    for cut in (len(request_bytes), len(UPGRADE) + 10, len(request_bytes) - 5):
        with RawClient(server.port) as client:
            client.send(request_bytes[:cut])
            client.send(request_bytes[cut:] + b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
            response = client.read_response()
            assert (response.status, response.body) == (200, INNER)
            assert response.header("connection") == "close"
            assert client.read_until_closed() == b""


@pytest.mark.parametrize("name", ["two spaces before target", "CL then TE", "no Host", "TE gzip"])
def test_refused_head_after_an_upgrade_served_as_plain_http(server, name):
    head, status = REFUSED[name]
    first = b"GET /path HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n"
    assert_second_refused(server, [first + head], b"/path", status)
    assert_second_refused(server, [first, head], b"/path", status)


@pytest.mark.parametrize("name", ["two spaces before target", "obs-fold space", "CL hex"])
def test_refused_head_after_head_and_expect_continue(server, name):
    head, status = REFUSED[name]
    with RawClient(server.port) as client:
        client.send(b"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n" + head)
        assert client.read_response(head_request=True).status == 200
        second = client.read_response()
        assert (second.status, second.header("connection")) == (status, "close")
    expect = b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    assert_second_refused(server, [expect + b"abc" + head], b"abc", status)
