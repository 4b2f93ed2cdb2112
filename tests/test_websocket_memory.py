"""``WebSocketConnection`` in memory: StringTransport + MemoryReactorClock, bytes fed one at
a time, so timers (connect timeout, keepalive, lifetime) run on a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

from asgid.asgi.websocket import MESSAGE_OVERHEAD
from asgid.config import Config
from asgid.protocols.io.context import ServerContext
from asgid.protocols.websocket.autobahn import autobahn_factory
from asgid.protocols.websocket.connection import WebSocketConnection
from asgid.protocols.websocket.timers import CLOSE_HANDSHAKE_S
from asgid.types import ASGIApp
from twisted.internet.testing import MemoryReactorClock, StringTransport

from tests.apps.ws import by_path
from tests.support.ws_frames import CLOSE, CONT, PING, PONG, TEXT, frame, handshake_request


class Peer:
    """Reads the server's frames out of a StringTransport."""

    def __init__(self, transport: StringTransport) -> None:
        self.transport = transport

    def frames(self) -> list[tuple[int, bytes]]:
        data = self.transport.value()
        self.transport.clear()
        out = []
        while data:
            length = data[1] & 0x7F
            start = 2
            if length == 126:
                length, start = int.from_bytes(data[2:4], "big"), 4
            out.append((data[0] & 0xF, data[start : start + length]))
            data = data[start + length :]
        return out


async def open_socket(
    path: str = "/echo", app: ASGIApp = by_path, **config: Any
) -> tuple[WebSocketConnection, StringTransport, MemoryReactorClock]:
    clock = MemoryReactorClock()
    ctx = ServerContext(
        config=Config(app="tests.apps.ws:by_path", **config),
        app=app,
        reactor=clock,
        loop=asyncio.get_running_loop(),
    )
    scope = {
        "type": "websocket",
        "path": path,
        "subprotocols": [],
        "headers": [],
        "query_string": b"",
    }
    protocol = WebSocketConnection(ctx, scope)
    protocol.factory = autobahn_factory(ctx)
    transport = StringTransport()
    protocol.makeConnection(transport)
    for byte in handshake_request("127.0.0.1", path):
        protocol.dataReceived(bytes([byte]))
    for _ in range(20):  # let the app task run and accept
        await asyncio.sleep(0)
        if transport.value():
            break
    return protocol, transport, clock


async def test_handshake_and_echo_fed_byte_by_byte() -> None:
    protocol, transport, _ = await open_socket()
    head, _, rest = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    transport.clear()
    for byte in frame(TEXT, b"one byte at a time"):
        protocol.dataReceived(bytes([byte]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert Peer(transport).frames() == [(TEXT, b"one byte at a time")]
    protocol.connectionLost()


async def test_keepalive_ping_pong_and_ping_timeout() -> None:
    protocol, transport, clock = await open_socket(ping_interval_s=20.0, ping_timeout_s=30.0)
    transport.clear()
    peer = Peer(transport)
    clock.advance(19.9)
    assert peer.frames() == []
    clock.advance(0.2)
    [(opcode, payload)] = peer.frames()
    assert opcode == PING
    protocol.dataReceived(frame(PONG, payload))  # answered: the next ping comes later
    clock.advance(29.0)
    assert not transport.disconnecting
    clock.advance(1.1)  # 20 s after the pong: the next ping
    [(opcode, _)] = peer.frames()
    assert opcode == PING
    clock.advance(30.1)  # unanswered
    assert transport.disconnected or transport.disconnecting
    protocol.connectionLost()


async def test_lifetime_ends_between_pings_on_the_same_timer() -> None:
    protocol, transport, clock = await open_socket(
        websocket_timeout_s=50.0, ping_interval_s=20.0, ping_timeout_s=30.0
    )
    transport.clear()
    peer = Peer(transport)
    for _ in range(2):  # pings at 20 s and 40 s, both answered
        clock.advance(20.0)
        [(opcode, payload)] = peer.frames()
        assert opcode == PING
        protocol.dataReceived(frame(PONG, payload))
    assert len(clock.getDelayedCalls()) == 1  # the next ping or the lifetime end, not both
    clock.advance(9.9)
    assert peer.frames() == []
    clock.advance(0.2)  # 50 s: closed as its lifetime ends, before the ping due at 60 s
    [(opcode, payload)] = peer.frames()
    assert (opcode, payload[:2]) == (CLOSE, (1000).to_bytes(2, "big"))
    protocol.connectionLost()


async def test_lifetime_ends_while_a_pong_is_awaited() -> None:
    protocol, transport, clock = await open_socket(
        websocket_timeout_s=25.0, ping_interval_s=20.0, ping_timeout_s=30.0
    )
    transport.clear()
    clock.advance(20.1)
    [(opcode, _)] = Peer(transport).frames()
    assert opcode == PING  # not answered
    clock.advance(5.0)
    [(opcode, payload)] = Peer(transport).frames()
    assert (opcode, payload[:2]) == (CLOSE, (1000).to_bytes(2, "big"))
    assert not transport.disconnecting  # closed with a Close frame, not dropped as unanswered
    protocol.connectionLost()


async def test_lifetime_timeout_closes_1000() -> None:
    protocol, transport, clock = await open_socket(websocket_timeout_s=60.0, ping_interval_s=0.0)
    transport.clear()
    clock.advance(60.1)
    [(opcode, payload)] = Peer(transport).frames()
    assert (opcode, payload[:2]) == (CLOSE, (1000).to_bytes(2, "big"))
    protocol.connectionLost()


async def test_connect_timeout_answers_503() -> None:
    protocol, transport, clock = await open_socket("/silent", websocket_connect_timeout_s=5.0)
    assert transport.value() == b""
    clock.advance(5.1)
    assert transport.value().startswith(b"HTTP/1.1 503 ")
    assert transport.disconnecting
    protocol.connectionLost()


async def test_graceful_shutdown_closes_1001() -> None:
    protocol, transport, _ = await open_socket(ping_interval_s=0.0)
    transport.clear()
    protocol.graceful_shutdown()
    [(opcode, payload)] = Peer(transport).frames()
    assert (opcode, payload[:2]) == (CLOSE, (1001).to_bytes(2, "big"))
    protocol.connectionLost()


async def test_close_handshake_waits_its_time_then_ends_with_a_fin() -> None:
    # Autobahn's own timer for this runs in whole-second buckets and aborts (RST), which
    # could fire at once and destroy the Close frame before the peer read it.
    protocol, transport, clock = await open_socket(ping_interval_s=0.0)
    transport.clear()
    protocol.graceful_shutdown()
    clock.advance(CLOSE_HANDSHAKE_S - 0.1)
    assert not transport.disconnecting  # the peer may still answer our Close
    clock.advance(0.2)
    assert transport.disconnecting
    assert not getattr(transport, "aborting", False)
    protocol.connectionLost()


async def test_app_that_ignores_the_disconnect_is_cancelled_on_the_reactor_clock() -> None:
    cancelled: list[str] = []

    async def stubborn(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        try:
            await asyncio.get_running_loop().create_future()  # never reads the disconnect
        except asyncio.CancelledError:
            cancelled.append(scope["path"])
            raise

    protocol, transport, clock = await open_socket(
        "/stubborn", stubborn, ping_interval_s=0.0, application_close_timeout_s=7.0
    )
    protocol.dataReceived(frame(CLOSE, (1000).to_bytes(2, "big")))
    protocol.connectionLost()
    assert protocol.instance is not None
    clock.advance(6.9)
    await asyncio.sleep(0)
    assert cancelled == [] and not protocol.instance.task.done()
    clock.advance(0.2)
    for _ in range(3):
        await asyncio.sleep(0)
    assert cancelled == ["/stubborn"] and protocol.instance.task.done()


async def test_plain_text_frames_count_their_payload_not_their_header() -> None:
    # Read without Autobahn (plain_reader), a text message counts towards the inbox's
    # high-water mark by its size in bytes, as Autobahn's path counts it.
    async def unread(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await asyncio.get_running_loop().create_future()  # reads nothing more

    protocol, transport, clock = await open_socket(
        "/unread", unread, ping_interval_s=0.0, application_close_timeout_s=1.0
    )
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    protocol.dataReceived(frame(TEXT, b"a" * 125) + frame(TEXT, "\u00e9".encode() * 100))
    cycle = protocol.cycle
    assert cycle is not None
    assert cycle._buffered == 125 + 200 + 2 * MESSAGE_OVERHEAD
    protocol.connectionLost()
    clock.advance(1.1)
    await asyncio.sleep(0)


async def test_an_open_websocket_keeps_only_what_it_uses() -> None:
    # Autobahn's state sits in slots; the instance dict holds only names that Twisted or
    # Autobahn also define on their classes (a slot would hide those).
    protocol, transport, _ = await open_socket(ping_interval_s=0.0)
    assert set(vars(protocol)) <= {
        "factory", "connected", "transport", "peer", "_valid_events", "_results", "_listeners",
    }  # fmt: skip
    # what Autobahn reads only while it answers the handshake is let go
    assert protocol.http_headers is None and protocol.http_request_data is None
    # made on first use: a write queue asgid never needs, a validator plain frames never need
    assert protocol._send_queue is None and protocol._utf8validator is None
    transport.clear()
    protocol.dataReceived(frame(TEXT, b"plain"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert Peer(transport).frames() == [(TEXT, b"plain")]
    assert protocol._utf8validator is None
    protocol.dataReceived(frame(TEXT, b"frag", fin=False) + frame(CONT, "mént".encode()))
    for _ in range(3):
        await asyncio.sleep(0)
    assert Peer(transport).frames() == [(TEXT, "fragmént".encode())]
    assert protocol._utf8validator is not None
    assert protocol._send_queue is None
    protocol.connectionLost()
