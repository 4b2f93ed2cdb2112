"""H2Protocol in memory: StringTransport + MemoryReactorClock, client bytes fed in any split."""

from __future__ import annotations

import asyncio

from asgid.config import Config
from asgid.protocols.http2.protocol import H2Protocol
from asgid.protocols.io.context import ServerContext
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
)
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet.testing import MemoryReactorClock, StringTransport


async def echo_app(scope, receive, send):  # type: ignore[no-untyped-def]
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
    await send({"type": "http.response.body", "body": b"got:" + body})
    await send({"type": "http.response.trailers", "headers": [(b"x-len", b"%d" % len(body))]})


class Harness:
    def __init__(self, loop: asyncio.AbstractEventLoop, config: Config | None = None) -> None:
        self.reactor = MemoryReactorClock()
        self.ctx = ServerContext(
            config=config or Config(), app=echo_app, reactor=self.reactor, loop=loop
        )
        self.proto = H2Protocol(self.ctx)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        self.client = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.client.initiate_connection()
        self.events: list[object] = []

    def request(self, stream_id: int, body: bytes) -> bytes:
        headers = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "x")]
        self.client.send_headers(stream_id, headers)
        self.client.send_data(stream_id, body, end_stream=True)
        return self.client.data_to_send()

    async def pump(self) -> None:
        """Let app tasks run, then hand what the server wrote to the client."""
        for _ in range(5):
            await asyncio.sleep(0)
        data = self.transport.value()
        self.transport.clear()
        if data:
            self.events += self.client.receive_data(data)
            out = self.client.data_to_send()
            if out:
                self.proto.dataReceived(out)


async def test_request_fed_one_byte_at_a_time() -> None:
    harness = Harness(asyncio.get_running_loop())
    for byte in harness.request(1, b"hello"):
        harness.proto.dataReceived(bytes([byte]))
    for _ in range(5):
        await harness.pump()
    assert any(isinstance(e, ResponseReceived) for e in harness.events)
    data = b"".join(e.data for e in harness.events if isinstance(e, DataReceived))
    assert data == b"got:hello"
    trailers = [e for e in harness.events if isinstance(e, TrailersReceived)]
    assert trailers and trailers[0].headers == [(b"x-len", b"5")]
    assert any(isinstance(e, StreamEnded) for e in harness.events)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8))
def test_any_split_of_two_requests_gives_two_responses(cuts: list[int]) -> None:
    async def scenario() -> None:
        harness = Harness(asyncio.get_running_loop())
        wire = harness.request(1, b"a" * 100) + harness.request(3, b"b" * 200)
        points = sorted({c % len(wire) for c in cuts} | {0, len(wire)})
        for start, end in zip(points, points[1:], strict=False):
            harness.proto.dataReceived(wire[start:end])
        for _ in range(5):
            await harness.pump()
        bodies = {e.stream_id: e.data for e in harness.events if isinstance(e, DataReceived)}
        assert bodies == {1: b"got:" + b"a" * 100, 3: b"got:" + b"b" * 200}
        assert not [e for e in harness.events if isinstance(e, StreamReset)]
        harness.proto.connectionLost(None)

    asyncio.run(scenario())


async def test_connection_lost_disconnects_every_stream_and_forgets_connection() -> None:
    harness = Harness(asyncio.get_running_loop())
    headers = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "x")]
    harness.client.send_headers(1, headers)  # body never ends: the app waits
    harness.proto.dataReceived(harness.client.data_to_send())
    await harness.pump()
    assert harness.proto in harness.ctx.connections
    stream = harness.proto.streams[1]
    harness.proto.connectionLost(None)
    assert stream.cycle is not None and stream.cycle.disconnected
    assert harness.proto not in harness.ctx.connections


def _terminated(harness: Harness) -> list[ConnectionTerminated]:
    data = harness.transport.value()
    harness.transport.clear()
    if data:
        harness.events += harness.client.receive_data(data)
    return [e for e in harness.events if isinstance(e, ConnectionTerminated)]


async def test_idle_connection_gets_goaway_on_the_reactor_clock() -> None:
    harness = Harness(asyncio.get_running_loop())  # --timeout-keep-alive 5 (the default)
    harness.proto.dataReceived(harness.client.data_to_send())
    harness.reactor.advance(4.9)
    assert _terminated(harness) == []
    harness.reactor.advance(0.2)
    [goaway] = _terminated(harness)
    assert goaway.error_code == ErrorCodes.NO_ERROR
    harness.proto.connectionLost(None)


async def test_a_stream_moves_the_idle_deadline() -> None:
    harness = Harness(asyncio.get_running_loop())
    harness.proto.dataReceived(harness.client.data_to_send())
    harness.reactor.advance(4.0)
    harness.proto.dataReceived(harness.request(1, b"x"))
    await harness.pump()  # answered and closed at 4 s: idle from then on
    harness.reactor.advance(4.0)  # 8 s after the start, 4 s after the stream
    assert _terminated(harness) == []
    harness.reactor.advance(1.1)
    assert len(_terminated(harness)) == 1
    harness.proto.connectionLost(None)


async def test_ping_budget_is_per_window_of_reactor_time() -> None:
    # 100 PINGs per 10 s (CVE-2019-9512): a window that passed on the reactor's clock
    # starts a new budget; going over it within one window is ENHANCE_YOUR_CALM.
    harness = Harness(asyncio.get_running_loop(), Config(timeout_keep_alive_s=60.0))
    harness.proto.dataReceived(harness.client.data_to_send())
    for round_ in range(2):
        for n in range(100):
            harness.client.ping(b"%08d" % n)
        harness.proto.dataReceived(harness.client.data_to_send())
        assert _terminated(harness) == [], f"round {round_}"
        harness.reactor.advance(10.1)
    for n in range(101):
        harness.client.ping(b"%08d" % n)
    harness.proto.dataReceived(harness.client.data_to_send())
    [goaway] = _terminated(harness)
    assert goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM
    harness.proto.connectionLost(None)
