"""The direct socket write over a real TCP connection: partial sends, EAGAIN, ordering
behind Twisted's queue, and nothing written once the connection was told to end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from asgid.protocols.io.direct_write import DirectWriter
from asgid.protocols.io.kernel_buffer import UNSENT_BYTES, limit_unsent
from asgid.protocols.io.write_flow import WriteFlow
from twisted.internet import tcp
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import optionsForClientTLS
from twisted.protocols.tls import TLSMemoryBIOFactory

SMALL = 4096  # socket buffers: a few writes fill them


@dataclass
class _Port:
    _realPortNumber: int = 0


@dataclass
class Pair:
    loop: asyncio.AbstractEventLoop
    transport: tcp.Server
    writer: DirectWriter
    client: socket.socket

    def run(self) -> None:
        """Let the reactor do what it has scheduled (flushes, a pending connectionLost)."""
        self.loop.run_until_complete(asyncio.sleep(0.01))

    def drain(self) -> bytes:
        """Read everything the server sends until it closes, flushing its queue meanwhile."""
        received = bytearray()
        self.client.setblocking(False)
        idle = 0
        while idle < 50:
            self.run()
            try:
                chunk = self.client.recv(1 << 20)
            except BlockingIOError:
                idle += 1
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            idle = 0
            received += chunk
        return bytes(received)

    def read_available(self, size: int) -> bytes:
        received = bytearray()
        self.client.setblocking(False)
        idle = 0
        while len(received) < size and idle < 50:
            self.run()
            try:
                chunk = self.client.recv(size - len(received))
            except BlockingIOError:
                idle += 1
                continue
            if not chunk:
                break  # the server closed its side
            received += chunk
        return bytes(received)


@pytest.fixture
def pair() -> Iterator[Pair]:
    loop = asyncio.new_event_loop()
    reactor = AsyncioSelectorReactor(loop)
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
    client.connect(listener.getsockname())
    accepted, address = listener.accept()
    listener.close()
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
    accepted.setblocking(False)
    protocol = Protocol()
    transport = tcp.Server(accepted, protocol, address, _Port(), 1, reactor)
    protocol.makeConnection(transport)
    made = Pair(loop, transport, DirectWriter(transport), client)
    yield made
    if transport.connected:
        transport.abortConnection()
    made.run()
    client.close()
    loop.close()


def test_plain_transport_takes_the_direct_path(pair):
    pair.writer.write(b"hello")
    assert not pair.transport._tempDataLen and not pair.transport.dataBuffer
    assert pair.read_available(5) == b"hello"


def test_partial_send_queues_the_rest_in_order(pair):
    payload = bytes(range(256)) * 4096  # 1 MiB: more than both socket buffers hold
    pair.writer.write(payload)
    assert pair.transport._tempDataLen  # the socket took a part; Twisted holds the rest
    pair.transport.loseConnection()
    assert pair.drain() == payload


def test_eagain_then_queued_data_keeps_order(pair):
    sock = pair.transport.socket
    filled = bytearray()
    while True:  # fill the socket until it refuses more: the next direct send gets EAGAIN
        try:
            filled += b"f" * sock.send(b"f" * SMALL)
        except BlockingIOError:
            break
    pair.writer.write(b"second")
    assert pair.transport._tempDataLen == len(b"second")  # queued, not lost
    pair.writer.write(b"third")  # behind it, not straight to the socket
    pair.transport.loseConnection()
    assert pair.drain() == bytes(filled) + b"secondthird"


def test_direct_write_after_queued_data_waits_behind_it(pair):
    pair.transport.write(b"queued-")  # Twisted's path: sent on a later loop turn
    pair.writer.write(b"direct")
    pair.transport.loseConnection()
    assert pair.drain() == b"queued-direct"


def test_parts_go_out_unjoined_and_in_order(pair):
    parts = [b"head-", bytes(range(256)) * 4096, b"-tail"]  # more than the sockets hold
    pair.writer.write_parts(parts)
    assert pair.transport._tempDataLen  # the socket took a part; Twisted holds the rest
    pair.writer.write(b"-next")
    pair.transport.loseConnection()
    assert pair.drain() == b"".join(parts) + b"-next"


def test_parts_wait_behind_queued_data(pair):
    pair.transport.write(b"queued-")
    pair.writer.write_parts([b"a", b"b"])
    pair.transport.loseConnection()
    assert pair.drain() == b"queued-ab"


def test_no_parts_written_after_lose_connection(pair):
    pair.writer.write(b"before")
    pair.transport.loseConnection()
    pair.writer.write_parts([b"after", b"close"])
    assert pair.drain() == b"before"


class _Flow(WriteFlow):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop


def test_held_rest_goes_out_whole_and_in_order(pair):
    payload = bytes(range(256)) * 4096  # 1 MiB: more than both socket buffers hold
    rest = pair.writer.write_parts([b"head-", payload], hold=True)
    assert rest and not pair.transport._tempDataLen  # held here, not handed to Twisted
    flow = _Flow(pair.loop)
    pair.transport.registerProducer(flow, True)
    sent = pair.writer.send_rest(rest, flow)
    assert sent is not None and flow.write_paused
    assert pair.read_available(len(payload) + 5) == b"head-" + payload
    pair.run()
    assert not flow.write_paused and not rest  # sent from the write loop, no task involved
    pair.loop.run_until_complete(sent)


def test_held_rest_wakes_the_sender_only_once_all_of_it_is_sent(pair):
    payload = bytes(range(256)) * 4096
    rest = pair.writer.write_parts([payload], hold=True)
    assert rest
    flow = _Flow(pair.loop)
    pair.transport.registerProducer(flow, True)
    sent = pair.writer.send_rest(rest, flow)
    assert sent is not None
    received = pair.client.recv(SMALL)  # room for a little more, far from all of it
    assert received
    pair.run()
    assert not sent.done() and flow.write_paused and rest  # the socket filled up again
    received += pair.read_available(len(payload) - len(received))
    pair.run()
    assert sent.done() and received == payload


def test_held_rest_is_dropped_once_the_connection_is_gone(pair):
    rest = pair.writer.write_parts([bytes(1 << 20)], hold=True)
    assert rest
    pair.transport.abortConnection()
    pair.run()
    flow = _Flow(pair.loop)
    assert pair.writer.send_rest(rest, flow) is None  # nothing to wait for, nothing raised


def test_nothing_written_after_abort(pair):
    pair.writer.write(b"before")
    pair.transport.abortConnection()
    pair.writer.write(b"after abort")
    assert b"after" not in pair.drain()


def test_nothing_written_after_lose_connection(pair):
    pair.writer.write(b"before")
    pair.transport.loseConnection()
    pair.writer.write(b"after close")
    assert pair.drain() == b"before"


def test_nothing_written_after_lose_write_connection(pair):
    pair.writer.write(b"before")
    pair.transport.loseWriteConnection()
    pair.writer.write(b"after half-close")
    assert pair.read_available(64) == b"before"
    pair.client.sendall(b"still read")  # the read side stays open
    pair.transport.abortConnection()
    assert b"after" not in pair.drain()


def test_write_reports_whether_twisted_holds_bytes(pair):
    assert pair.writer.write(b"small") is False
    assert pair.writer.write(bytes(1 << 20)) is True  # more than both socket buffers
    assert pair.writer.holds()


def test_holds_after_write_parts_the_socket_did_not_take(pair):
    pair.writer.write_parts([b"HEAD", b"small"])
    assert not pair.writer.holds()
    pair.writer.write_parts([b"HEAD", bytes(1 << 20)])
    assert pair.writer.holds()


def test_write_parts_holds_the_callers_body_not_a_copy(pair):
    sock = pair.transport.socket
    while True:  # fill the socket: the next send takes nothing
        try:
            sock.send(b"f" * SMALL)
        except BlockingIOError:
            break
    body = bytes(100_000)
    pair.writer.write_parts([b"HEAD", body])
    assert pair.writer.holds()
    assert any(chunk is body for chunk in pair.transport._tempDataBuffer)


def test_hold_waits_until_twisted_has_handed_everything_over(pair):
    class Flow:
        paused = resumed = False

        def pauseProducing(self) -> None:
            self.paused = True

        def resumeProducing(self) -> None:
            self.resumed = True

    flow = Flow()
    pair.transport.registerProducer(flow, True)
    pair.writer.write(bytes(1 << 20))
    pair.writer.hold(flow)
    assert flow.paused and not flow.resumed
    pair.read_available(1 << 20)  # the client reads: Twisted's queue drains
    assert flow.resumed and not pair.writer.holds()


@pytest.mark.skipif(not hasattr(socket, "TCP_NOTSENT_LOWAT"), reason="Linux/macOS option")
def test_kernel_bound_is_set_on_the_socket_under_tls(pair):
    options = optionsForClientTLS("localhost")  # which side does not matter here
    tls = TLSMemoryBIOFactory(options, True, Factory.forProtocol(Protocol)).buildProtocol(None)
    tls.makeConnection(pair.transport)
    assert limit_unsent(tls)
    lowat = pair.transport.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT)
    assert lowat == UNSENT_BYTES


def test_unix_socket_transport_takes_the_direct_path():
    from twisted.internet import unix

    loop = asyncio.new_event_loop()
    server_side, client = socket.socketpair()
    server_side.setblocking(False)
    protocol = Protocol()
    port = _Port()
    transport = unix.Server(server_side, protocol, "", port, 1, AsyncioSelectorReactor(loop))
    protocol.makeConnection(transport)
    try:
        DirectWriter(transport).write(b"hello")
        assert not transport._tempDataLen and not transport.dataBuffer
        assert client.recv(5) == b"hello"
    finally:
        transport.abortConnection()
        loop.run_until_complete(asyncio.sleep(0.01))
        client.close()
        loop.close()


def test_other_transports_keep_twisteds_path():
    class Recorder:
        def __init__(self) -> None:
            self.written: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.written.append(data)

        def writeSequence(self, parts: list[bytes]) -> None:
            self.written.extend(parts)

    transport = Recorder()
    DirectWriter(transport).write(b"x")
    DirectWriter(transport).write_parts([b"y", b"z"])
    assert transport.written == [b"x", b"y", b"z"]


def test_autobahn_internals_are_checked_at_start_up():
    from asgid.errors import ConfigError
    from asgid.protocols.websocket.autobahn import check_autobahn_internals
    from autobahn.twisted.websocket import WebSocketServerProtocol

    check_autobahn_internals()  # the installed Autobahn is one asgid works with

    class Reshaped(WebSocketServerProtocol):  # as if a release renamed a parameter
        def sendCloseFrame(self, code=None, reason=None):
            return None

    with pytest.raises(ConfigError, match="sendCloseFrame no longer takes reasonUtf8"):
        check_autobahn_internals(Reshaped)

    class WithDefault(WebSocketServerProtocol):  # a class attribute a slot would hide
        failedByMe = False

    with pytest.raises(ConfigError, match="failedByMe is now a class attribute"):
        check_autobahn_internals(WithDefault)
