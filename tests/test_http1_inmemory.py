"""HTTP1Protocol in memory: StringTransport + MemoryReactorClock, input fed a byte at a time.

The fast layer under the real-socket tests: parser paths (with hypothesis), timers driven
by a fake clock, and framing details that are awkward to provoke over a socket.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote, unquote_to_bytes

import pytest
from asgid.config import Config
from asgid.protocols.http1.protocol import HTTP1Protocol
from asgid.protocols.io.context import ServerContext
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet.testing import MemoryReactorClock, StringTransport


class Harness:
    """One connection to an ``HTTP1Protocol`` running ``app`` on a private event loop."""

    def __init__(self, app, **config: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = MemoryReactorClock()
        ctx = ServerContext(config=Config(**config), app=app, reactor=self.clock, loop=self.loop)
        self.proto = HTTP1Protocol(ctx)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def feed(self, data: bytes, bytewise: bool = True) -> None:
        if bytewise:
            for index in range(len(data)):
                self.proto.dataReceived(data[index : index + 1])
        else:
            self.proto.dataReceived(data)
        self.run()

    def run(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            self.loop.run_until_complete(asyncio.sleep(0))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.run()

    @property
    def output(self) -> bytes:
        return self.transport.value()

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def close(self) -> None:
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.run(3)
        self.loop.close()


@pytest.fixture
def harness():
    made: list[Harness] = []

    def make(app, **config: object) -> Harness:
        made.append(Harness(app, **config))
        return made[-1]

    yield make
    for item in made:
        item.close()


async def echo_path(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode() + b":" + body})


async def streamed(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"a", "more_body": True})
    await send({"type": "http.response.body", "body": b"b"})


def test_pipelined_requests_fed_bytewise_answer_in_order(harness):
    h = harness(echo_path)
    h.feed(
        b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"POST /three HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxy"
    )
    out = h.output
    assert out.index(b"/one:") < out.index(b"/two:abc") < out.index(b"/three:xy")
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert not h.closed


def test_head_response_streamed_has_no_body_framing(harness):
    h = harness(streamed)
    h.feed(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, rest = h.output.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head
    assert rest.startswith(b"HTTP/1.1 200 OK")  # no stray "0\r\n\r\n" before the next answer
    assert rest.endswith(b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n")


def test_header_timeout_answers_408(harness):
    h = harness(echo_path, timeout_request_headers_s=2.0)
    h.feed(b"GET / HTTP/1.1\r\nHost")
    h.advance(1.9)
    assert not h.closed
    h.advance(0.2)
    assert h.output.startswith(b"HTTP/1.1 408")
    assert h.closed


def test_idle_connection_closes_silently(harness):
    h = harness(echo_path, timeout_keep_alive_s=5.0, timeout_request_headers_s=10.0)
    h.advance(10.1)
    assert h.closed and h.output == b""


def test_keep_alive_timeout_after_response(harness):
    h = harness(echo_path, timeout_keep_alive_s=3.0)
    h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in h.output
    h.advance(2.9)
    assert not h.closed
    h.advance(0.2)
    assert h.closed


def test_short_header_deadline_is_not_delayed_by_a_longer_idle_timer(harness):
    h = harness(echo_path, timeout_keep_alive_s=30.0, timeout_request_headers_s=1.0)
    h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    h.advance(0.5)
    h.feed(b"GET /slowly")  # the idle timer waits 30 s; this head may take only 1 s
    h.advance(1.1)
    assert h.closed
    assert h.output.count(b"HTTP/1.1 408") == 1


def test_head_waiting_behind_a_slow_request_is_not_timed_out(harness):
    gate = asyncio.Event()

    async def app(scope, receive, send):
        if scope["path"] == "/slow":
            await gate.wait()
        await echo_path(scope, receive, send)

    h = harness(app, timeout_request_headers_s=1.0, timeout_keep_alive_s=30.0)
    h.feed(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\nGET /par",
        bytewise=False,
    )
    h.advance(5.0)
    assert not h.closed
    gate.set()
    h.run()
    h.feed(b"tial HTTP/1.1\r\nHost: x\r\n\r\n")
    assert h.output.count(b"200 OK") == 3 and not h.closed


def test_expect_continue_after_app_reads(harness):
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await echo_path(scope, receive, send)

    h = harness(app)
    h.feed(b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert h.output == b""
    gate.set()
    h.run()
    assert h.output == b"HTTP/1.1 100 Continue\r\n\r\n"
    h.feed(b"ok")
    assert h.output.endswith(b"/c:ok")


def test_rejection_waits_for_earlier_response(harness):
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await echo_path(scope, receive, send)

    h = harness(app)
    h.feed(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n", bytewise=False)
    assert h.output == b""
    gate.set()
    h.run()
    first, _, second = h.output.partition(b"/first:")
    assert first.startswith(b"HTTP/1.1 200 OK")
    assert second.startswith(b"HTTP/1.1 400")
    assert h.closed


def test_oversized_head_without_line_end_is_cut_off(harness):
    h = harness(echo_path, limit_request_line_bytes=100, limit_request_header_bytes=200)
    h.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX: ", bytewise=False)
    for _ in range(10):
        h.proto.dataReceived(b"v" * 1000)
    assert h.output.startswith(b"HTTP/1.1 431")
    assert h.closed


# -- hypothesis: the request parser path ---------------------------------------------
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ0123456789-", min_size=1, max_size=12)
FRAMING = {"content-length", "transfer-encoding", "connection", "expect", "upgrade", "te", "host"}
SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#%"),
    min_size=1,
    max_size=10,
)
VALUE = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,;=/\"'",
    max_size=20,
).map(str.strip)


@st.composite
def requests(draw):
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]))
    segments = draw(st.lists(SEGMENT, max_size=4))
    raw_path = ("/" + "/".join(quote(s, safe="") for s in segments)).encode("ascii")
    query = draw(st.sampled_from([b"", b"a=1", b"x=%20y&z", b"q=caf%C3%A9"]))
    headers = draw(
        st.lists(
            st.tuples(TOKEN.filter(lambda n: n.lower() not in FRAMING), VALUE),
            max_size=6,
        )
    )
    body = draw(st.binary(max_size=50))
    cuts = draw(st.lists(st.integers(min_value=1, max_value=400), max_size=8))
    return method, raw_path, query, headers, body, cuts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_parser_path_builds_the_scope(request):
    method, raw_path, query, headers, body, cuts = request
    seen = []

    async def app(scope, receive, send):
        seen.append(scope)
        await echo_path(scope, receive, send)

    target = raw_path + (b"?" + query if query else b"")
    wire = b"%s %s HTTP/1.1\r\n" % (method.encode(), target)
    for name, value in headers:
        wire += name.encode() + b": " + value.encode() + b"\r\n"
    wire += b"host: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    h = Harness(app)
    try:
        position = 0
        for cut in sorted(cuts):
            h.proto.dataReceived(wire[position:cut])
            position = max(position, cut)
        h.proto.dataReceived(wire[position:])
        h.run()
        assert len(seen) == 1
        scope = seen[0]
        assert scope["method"] == method
        assert scope["raw_path"] == raw_path
        assert scope["path"] == unquote_to_bytes(raw_path).decode("utf-8")
        assert scope["query_string"] == query
        expected = [(n.lower().encode(), v.encode()) for n, v in headers]
        assert scope["headers"][: len(expected)] == expected
        assert h.output.endswith(scope["path"].encode() + b":" + body)
    finally:
        h.close()


async def answer_without_reading(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"early"})


def test_unread_body_remainder_is_dropped_then_next_request_served(harness):
    h = harness(answer_without_reading)
    h.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
    assert h.output.endswith(b"early") and b"connection: close" not in h.output
    h.feed(b"defGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert h.output.count(b"early") == 2 and not h.closed


def test_client_stalling_in_a_dropped_body_is_timed_out(harness):
    h = harness(answer_without_reading, timeout_keep_alive_s=2.0)
    h.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
    h.advance(1.9)
    assert not h.closed
    h.advance(0.2)
    assert h.closed
