"""The handshake is read once: heads llhttp and Autobahn could read differently get 400.

Plus in-memory checks of the ``WebSocketCycle`` state machine with a recording wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httptools
import pytest
from asgid.asgi.websocket import INBOX_HIGH_WATER, WebSocketCycle
from asgid.errors import ClientDisconnected, ProtocolError, UnexpectedMessage
from asgid.protocols.websocket.handshake import head_problem
from autobahn.websocket.protocol import parseHttpHeader
from hypothesis import given, settings, strategies as st

from tests.support.server import AsgidProcess
from tests.support.ws_frames import TEXT, RawSocket, frame

KEY = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


def head(*extra: bytes) -> bytes:
    return (
        b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        + KEY
        + b"Sec-WebSocket-Version: 13\r\n"
        + b"".join(extra)
        + b"\r\n"
    )


SMUGGLING = [
    pytest.param(b"X-A: a\x0bSec-WebSocket-Protocol: evil\r\n", id="VT-in-value"),
    pytest.param(b"X-A: a\x0cb\r\n", id="FF-in-value"),
    pytest.param(b"X-A: a\x1cb\r\n", id="FS-in-value"),
    pytest.param(b"X-A: a\x1db\r\n", id="GS-in-value"),
    pytest.param(b"X-A: a\x1eb\r\n", id="RS-in-value"),
    pytest.param(b"X-A: a\x85Sec-WebSocket-Protocol: evil\r\n", id="NEL-in-value"),
    pytest.param(b"X-A: \xc3\x85\r\n", id="utf8-with-NEL-byte"),
    pytest.param(b"X-A: a\xa0\r\n", id="NBSP-at-value-end"),
    pytest.param(b"X\x0bA: a\r\n", id="VT-in-name"),
    pytest.param(b"X\x85A: a\r\n", id="NEL-in-name"),
    pytest.param(b"X-A: a\rb\r\n", id="bare-CR"),
    pytest.param(b"X-A: a\nX-B: b\r\n", id="bare-LF"),
    pytest.param(b"X-A: a\r\n folded\r\n", id="obs-fold"),
    pytest.param(b"X-A: a\x00b\r\n", id="NUL"),
    pytest.param(b"X-A: a\x7fb\r\n", id="DEL"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[AsgidProcess]:
    proc = AsgidProcess("tests.apps.ws:by_path")
    yield proc
    proc.stop()


@pytest.mark.parametrize("extra", SMUGGLING)
def test_differential_bytes_get_400_before_autobahn(server: AsgidProcess, extra: bytes) -> None:
    assert head_problem(head(extra)) is not None
    with RawSocket(server.port) as sock:
        sock.send(head(extra))
        status = sock.open_response()
        assert status == 400
        assert sock.closed_by_server()


def test_clean_handshake_is_accepted(server: AsgidProcess) -> None:
    assert head_problem(head(b"X-A: caf\xc3\xa9 \xe2\x80\xa8 ok\r\n")) is None
    with RawSocket(server.port) as sock:
        sock.send(head(b"X-A: caf\xc3\xa9\r\n"))
        assert sock.open_response() == 101


def _llhttp_headers(data: bytes) -> list[tuple[bytes, bytes]] | None:
    class Collect:
        def __init__(self) -> None:
            self.headers: list[tuple[bytes, bytes]] = []

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name.lower(), value))

    collect = Collect()
    try:
        httptools.HttpRequestParser(collect).feed_data(data)
    except httptools.HttpParserUpgrade:
        pass
    except httptools.HttpParserError:
        return None
    return collect.headers


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(min_size=0, max_size=12), st.binary(min_size=0, max_size=6))
def test_parsers_agree_on_every_head_that_passes(value: bytes, name_tail: bytes) -> None:
    data = head(b"X-T" + name_tail + b": " + value + b"\r\n")
    ours = _llhttp_headers(data)
    if ours is None or head_problem(data) is not None:
        return  # refused before Autobahn reads anything
    _, theirs, counts = parseHttpHeader(data)
    assert sum(counts.values()) == len(ours)
    for key, got in ours:
        assert theirs[key.decode("latin-1")] == got.strip(b" \t").decode("latin-1")


# -- WebSocketCycle in memory ------------------------------------------------------------------
class RecordingWire:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.paused = False

    def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None:
        self.calls.append(("accept", subprotocol, headers))

    def deny(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, end: bool) -> None:
        self.calls.append(("deny", status, body, end))

    def send_message(self, data: bytes, binary: bool) -> None:
        self.calls.append(("send", data, binary))

    def close(self, code: int, reason: bytes) -> None:
        self.calls.append(("close", code, reason))

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def make_cycle() -> tuple[WebSocketCycle, RecordingWire]:
    wire = RecordingWire()
    scope = {"type": "websocket", "subprotocols": ["a"], "path": "/"}
    return WebSocketCycle(scope, wire, asyncio.get_running_loop()), wire


async def test_cycle_accept_send_close_and_one_disconnect() -> None:
    cycle, wire = make_cycle()
    assert await cycle.receive() == {"type": "websocket.connect"}
    with pytest.raises(UnexpectedMessage):
        await cycle.send({"type": "websocket.send", "text": "early"})
    await cycle.send({"type": "websocket.accept", "subprotocol": "a", "headers": [(b"x", b"1")]})
    cycle.feed_text("hi", 2)
    cycle.feed_bytes(b"\x00")
    assert await cycle.receive() == {"type": "websocket.receive", "text": "hi"}
    assert await cycle.receive() == {"type": "websocket.receive", "bytes": b"\x00"}
    await cycle.send({"type": "websocket.send", "text": ""})
    await cycle.send({"type": "websocket.close", "code": 4000, "reason": "r" * 200})
    with pytest.raises(ClientDisconnected):
        await cycle.send({"type": "websocket.send", "text": "late"})
    cycle.disconnect(4000, "r")
    cycle.disconnect(1006)
    assert await cycle.receive() == {"type": "websocket.disconnect", "code": 4000, "reason": "r"}
    with pytest.raises(ClientDisconnected):
        await cycle.receive()
    assert wire.calls[0] == ("accept", "a", [(b"x", b"1")])
    assert wire.calls[1] == ("send", b"", False)
    assert wire.calls[2] == ("close", 4000, b"r" * 123)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.accept", "subprotocol": "not-offered"},
        {"type": "websocket.accept", "headers": [(b"sec-websocket-accept", b"x")]},
        {"type": "websocket.accept", "headers": [(b"x", b"a\r\nb")]},
        {"type": "websocket.http.response.start", "status": "200"},
        {"type": "http.response.start", "status": 200},
        {"no": "type"},
    ],
)
async def test_cycle_refuses_bad_handshake_answers(message: dict[str, object]) -> None:
    cycle, _ = make_cycle()
    await cycle.receive()
    with pytest.raises(ProtocolError):
        await cycle.send(message)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.send", "text": "a", "bytes": b"b"},
        {"type": "websocket.send"},
        {"type": "websocket.send", "text": b"bytes"},
        {"type": "websocket.close", "code": 1005},
        {"type": "websocket.close", "code": 2000},
        {"type": "websocket.close", "reason": b"bytes"},
    ],
)
async def test_cycle_refuses_bad_messages_after_accept(message: dict[str, object]) -> None:
    cycle, _ = make_cycle()
    await cycle.receive()
    await cycle.send({"type": "websocket.accept"})
    with pytest.raises(ProtocolError):
        await cycle.send(message)


async def test_cycle_denial_and_close_before_accept() -> None:
    cycle, wire = make_cycle()
    await cycle.send({"type": "websocket.close"})
    assert wire.calls == [("deny", 403, b"", True)]
    cycle, wire = make_cycle()
    await cycle.send({"type": "websocket.http.response.start", "status": 418, "headers": []})
    await cycle.send({"type": "websocket.http.response.body", "body": b"a", "more_body": True})
    await cycle.send({"type": "websocket.http.response.body", "body": b"b"})
    assert wire.calls == [("deny", 418, b"a", False), ("deny", 0, b"b", True)]


async def test_cycle_inbox_pauses_and_resumes_reading() -> None:
    cycle, wire = make_cycle()
    await cycle.receive()
    await cycle.send({"type": "websocket.accept"})
    chunk = b"x" * 65536
    while not wire.paused:
        cycle.feed_bytes(chunk)
    assert cycle._buffered > INBOX_HIGH_WATER
    while wire.paused:
        await cycle.receive()
    assert cycle._buffered <= INBOX_HIGH_WATER // 4


def test_upgrade_after_a_keep_alive_request_and_pipelined(server: AsgidProcess) -> None:
    plain = b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with RawSocket(server.port) as sock:
        sock.send(plain + head())  # pipelined: the upgrade waits for the first response
        assert sock.open_response() == 500  # by_path answers no HTTP (an error page)
        length = int(sock.header("content-length") or 0)
        sock._take(length)
        assert sock.open_response() == 101
        sock.send(frame(TEXT, b"after upgrade"))
        assert sock.read_frame().payload == b"after upgrade"
