"""The attacks of ``make attacks``, once each: the attacker is cut off and the server's
memory stays bounded (no timing assertions; the figures come from ``make attacks``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import psutil
import pytest
from asgid.protocols.http2.guard import FloodDetected, FloodGuard
from asgid.protocols.io.penalties import FORGET_S, MAX_ADDRESSES, Penalties
from asgid.protocols.switcher import not_tls
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, PingFrame, SettingsFrame
from OpenSSL import SSL
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from tests.attacks import attacks
from tests.support.h2frames import PREFACE, RawH2
from tests.support.server import AsgidProcess
from tests.support.tls_certs import TLSFiles

RSS_MARGIN = 64 * 2**20  # what one attack may add to the server's resident memory
CUT_OFF = {
    "rapid reset": attacks.rapid_reset,
    "CONTINUATION flood": attacks.continuation_flood,
    "HPACK bomb": attacks.hpack_bomb,
    "SETTINGS flood": attacks.settings_flood,
    "PING flood": attacks.ping_flood,
    "oversized header list": attacks.oversized_headers,
}


@pytest.fixture(scope="module")
def server(tls_files: TLSFiles) -> Iterator[AsgidProcess]:
    proc = AsgidProcess(
        "tests.apps.h2:app",
        "--access-log", "/dev/null", "--timeout-request-headers", "2",
        endpoints=["tcp:0:interface=127.0.0.1", tls_files.endpoint()],
    )  # fmt: skip
    yield proc
    proc.stop()


@pytest.fixture
def rss_bounded(server: AsgidProcess) -> Iterator[None]:
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss
    yield
    assert process.memory_info().rss - before < RSS_MARGIN
    with httpx.Client(http1=False, http2=True) as client:  # still serving
        assert client.get(server.url + "/").status_code == 200


@pytest.mark.parametrize("attack", CUT_OFF.values(), ids=CUT_OFF.keys())
def test_h2_attacker_is_cut_off(server, rss_bounded, attack):
    outcome = attack(server.port)
    assert outcome.stopped, outcome
    assert outcome.cut_off.startswith("GOAWAY"), outcome


def test_streams_beyond_the_limit_are_refused_one_by_one(server, rss_bounded):
    """RFC 9113 §5.1.2: 150 held streams against the default limit of 100: the 50 extra
    ones are refused (RST_STREAM), the connection is not ended for it."""
    outcome = attacks.streams_held(server.port, hold_s=1.0)
    assert outcome.work.startswith("150 streams opened, 50 refused"), outcome


def test_zero_window_hold_keeps_memory_bounded(server, rss_bounded):
    attacks.zero_window_hold(server.port, hold_s=1.0)


@pytest.mark.parametrize("attack", [attacks.tls_garbage, attacks.tls_trickle])
def test_tls_attacker_is_cut_off(server, rss_bounded, attack):
    tls_port = int(server.addresses[1].rsplit(":", 1)[1])
    outcome = attack(tls_port)
    assert outcome.cut_off in ("closed", "reset"), outcome


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_stream_reset_in_the_read_that_opened_it_starts_no_app(asgid, loop):
    """Rapid reset's HEADERS + RST_STREAM pairs, each pair in one write: no app instance
    is started for any of them (nothing to start and cancel); the connection serves on."""
    server = asgid("tests.apps.h2:app", "--loop", loop, "--access-log", "/dev/null")
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        for stream_id in range(1, 2 * 50, 2):
            conn.send(conn.headers(stream_id, "/counted"), conn.rst(stream_id))
        conn.send(conn.headers(101, "/count"))
        assert conn.body(101) == b"0"
        conn.send(conn.headers(103, "/counted", end_stream=False))
        conn.send(conn.headers(105, "/count"))
        assert conn.body(105) == b"1"  # a stream not reset at once starts its app as ever


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_flooding_address_waits_before_its_next_connection_is_read(asgid, loop):
    """After a flood from 127.0.0.1, a new connection from it is accepted but not read
    until the wait ends; a connection from it established before is served as ever."""
    server = asgid(
        "tests.apps.h2:app", "--loop", loop, "--access-log", "/dev/null",
        "--flood-penalty-max", "48",  # the first flood's wait: 48 / 16 = 3 s
    )  # fmt: skip
    with RawH2(server.host, server.port) as established:
        established.handshake()
        outcome = attacks.ping_flood(server.port)
        assert outcome.cut_off.startswith("GOAWAY ENHANCE_YOUR_CALM"), outcome
        with RawH2(server.host, server.port) as held:
            held.send(PREFACE, SettingsFrame(0), held.headers(1))
            for stream_id in (1, 3):  # two round trips: the loop has run past the accept
                established.send(established.headers(stream_id))
                assert established.body(stream_id) == b"Hello, world!"
            held.sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # not a byte answered yet
                held.sock.recv(1, socket.MSG_PEEK)
            held.sock.settimeout(5)
            assert held.body(1, timeout=30) == b"Hello, world!"  # then served


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_no_wait_with_the_penalty_off(asgid, loop):
    server = asgid(
        "tests.apps.h2:app", "--loop", loop, "--access-log", "/dev/null",
        "--flood-penalty-max", "0",
    )  # fmt: skip
    for _ in range(3):
        assert attacks.settings_flood(server.port).cut_off.startswith("GOAWAY ENHANCE_YOUR_CALM")
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        conn.send(conn.headers(1))
        assert conn.body(1) == b"Hello, world!"


def test_penalty_doubles_is_capped_and_forgotten():
    clock = Clock()
    penalties = Penalties(clock, max_wait_s=2.0)
    assert penalties.wait_s("192.0.2.1") == 0.0
    waits = []
    for _ in range(7):
        penalties.flooded("192.0.2.1")
        waits.append(penalties.wait_s("192.0.2.1"))
    assert waits == [0.125, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert penalties.wait_s("192.0.2.2") == 0.0  # another address
    assert penalties.wait_s(None) == 0.0  # a unix socket's peer
    clock.advance(1.5)
    assert penalties.wait_s("192.0.2.1") == 0.5  # counted from the cut-off
    clock.advance(FORGET_S)
    penalties.flooded("192.0.2.1")
    assert penalties.wait_s("192.0.2.1") == 0.125  # a quiet minute: from the start again
    for i in range(MAX_ADDRESSES):
        penalties.flooded(f"10.0.{i // 256}.{i % 256}")
    assert penalties.wait_s("192.0.2.1") == 0.0  # the oldest address made room
    assert penalties.wait_s("10.0.0.0") == 0.125
    off = Penalties(clock, max_wait_s=0.0)
    off.flooded("192.0.2.1")
    assert off.wait_s("192.0.2.1") == 0.0


def _frames(*frames: object) -> bytes:
    return b"".join(f.serialize() for f in frames)  # type: ignore[attr-defined]


def test_flood_budgets_are_spent_from_frame_headers_before_h2_parses():
    """Frames split anywhere across reads are counted once; answers (ACK) and the bytes
    of a DATA payload that look like frame headers are not counted."""
    guard = FloodGuard(Clock())
    pings = [PingFrame(0, opaque_data=b"12345678") for _ in range(100)]
    fake_pings = _frames(*pings[:5])  # a payload that looks like frames
    data = PREFACE + _frames(
        SettingsFrame(0), SettingsFrame(0, flags=["ACK"]), PingFrame(0, flags=["ACK"]),
        DataFrame(1, data=fake_pings), *pings,
    )  # fmt: skip
    for start in range(0, len(data), 7):  # 7-byte reads: every header split somewhere
        guard.count_frames(data[start : start + 7])
    assert guard.settings._count == 1
    with pytest.raises(FloodDetected, match="PING"):
        guard.count_frames(_frames(PingFrame(0, opaque_data=b"12345678")))
    guard = FloodGuard(Clock())
    continuations = [ContinuationFrame(1, data=b"x") for _ in range(64)]
    guard.count_frames(PREFACE + _frames(HeadersFrame(1, data=b"x"), *continuations))
    with pytest.raises(FloodDetected, match="CONTINUATION"):
        guard.count_frames(_frames(ContinuationFrame(1, data=b"x")))


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_garbage_for_a_client_hello_makes_the_address_wait(asgid, tls_files, loop):
    """Bytes that are no TLS count as a flood: the next TLS connection from that address is
    not read until the wait ends; one established before is served as ever."""
    server = asgid(
        "tests.apps.h2:app", "--loop", loop, "--access-log", "/dev/null",
        "--flood-penalty-max", "48",  # the first wait: 3 s
        endpoints=["tcp:0:interface=127.0.0.1", tls_files.endpoint()],
    )  # fmt: skip
    tls_port = int(server.addresses[1].rsplit(":", 1)[1])
    with httpx.Client(http1=False, http2=True, verify=tls_files.client_context()) as client:
        url = f"https://localhost:{tls_port}/"
        assert client.get(url).status_code == 200
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as garbage:
            garbage.sendall(b"\x16\x09" + b"x" * 1000)  # a record of no TLS version
            assert attacks._closed(garbage) in ("closed", "reset")
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as held:
            held.sendall(attacks._client_hello())
            for _ in range(2):  # two round trips: the loop has run past the accept
                assert client.get(url).status_code == 200
            held.setblocking(False)
            with pytest.raises(BlockingIOError):  # no ServerHello yet
                held.recv(1, socket.MSG_PEEK)
            held.settimeout(30)
            assert held.recv(5)[:1] == b"\x16"  # then the handshake goes on


def test_only_bytes_that_are_no_tls_count_as_a_flood():
    def lost(reason: str) -> Failure:
        return Failure(SSL.Error([("SSL routines", "", reason)]))

    assert not_tls(lost("wrong version number"))
    assert not not_tls(lost("tlsv1 alert unknown ca"))  # the client does not trust us
    assert not not_tls(lost("http request"))  # plain HTTP to the TLS port
    assert not not_tls(Failure(ConnectionResetError()))
