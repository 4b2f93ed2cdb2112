"""Known HTTP/2 attacks, each sent as raw frames: every one is bounded and answered with GOAWAY."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hyperframe.frame import GoAwayFrame, HeadersFrame

from tests.support.h2frames import (
    ENHANCE_YOUR_CALM,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    RawH2,
)
from tests.support.server import AsgidProcess


@pytest.fixture(scope="module")
def server() -> Iterator[AsgidProcess]:
    proc = AsgidProcess(
        "tests.apps.h2:app", "--access-log", "/dev/null", "--h2-max-concurrent-streams", "10"
    )
    yield proc
    proc.stop()


@pytest.fixture
def conn(server: AsgidProcess) -> Iterator[RawH2]:
    with RawH2(server.host, server.port) as client:
        client.handshake()
        yield client


def goaway_then_closed(conn: RawH2, *codes: int) -> None:
    goaway = conn.expect_goaway()
    assert goaway.error_code in codes, goaway
    conn.expect_closed(timeout=3)


def test_header_list_too_large(conn: RawH2) -> None:
    block = conn.encoder.encode(
        [(":method", "GET"), (":scheme", "http"), (":path", "/")]
        + [(f"x-big-{i}", "v" * 1000) for i in range(80)]
    )
    conn.send(*conn.header_block(1, block))
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def test_hpack_bomb(conn: RawH2) -> None:
    """One 4 KB entry in the dynamic table, then referenced again and again (CVE-2016-6581)."""
    pseudo = conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
    value = b"b" * 4000
    # RFC 7541 §6.2.1 literal with incremental indexing, new name; then §6.1 index 62.
    literal = b"\x40\x06x-bomb" + b"\x7f" + _varint(len(value) - 127) + value
    frame = HeadersFrame(
        1, data=pseudo + literal + b"\xbe" * 100, flags=["END_HEADERS", "END_STREAM"]
    )
    conn.send(frame)
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_continuation_flood(conn: RawH2) -> None:
    """CVE-2024-27316 style: endless CONTINUATION frames without END_HEADERS."""
    block = conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
    frames = [HeadersFrame(1, data=block, flags=["END_STREAM"])]
    frames += [conn.continuation(1, b"") for _ in range(100)]
    conn.send(*frames)
    goaway_then_closed(conn, PROTOCOL_ERROR, ENHANCE_YOUR_CALM)


def test_rapid_reset(conn: RawH2) -> None:
    """CVE-2023-44487: open and cancel streams as fast as possible."""
    frames = []
    for stream_id in range(1, 2 * 300, 2):
        frames += [conn.headers(stream_id, "/hold"), conn.rst(stream_id)]
    try:
        conn.send(*frames)
    except OSError:
        pass  # the server may close before it has read everything
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def test_ping_flood(conn: RawH2) -> None:
    """CVE-2019-9512."""
    conn.send(*[conn.ping() for _ in range(150)])
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def test_settings_flood(conn: RawH2) -> None:
    """CVE-2019-9515."""
    conn.send(*[conn.settings({}) for _ in range(150)])
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def test_priority_flood(conn: RawH2) -> None:
    """CVE-2019-9513 (PRIORITY frames for ever-new streams)."""
    conn.send(*[conn.priority(i, depends_on=i + 2) for i in range(1, 2 * 1200, 2)])
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def test_empty_data_flood(conn: RawH2) -> None:
    """CVE-2019-9518 (zero-length DATA frames)."""
    conn.send(conn.headers(1, "/hold", end_stream=False), *[conn.data(1, b"") for _ in range(300)])
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def test_stream_beyond_max_concurrent_streams_is_refused_alone(conn: RawH2) -> None:
    """RFC 9113 §5.1.2: the 11th open stream with --h2-max-concurrent-streams 10 is a
    stream error (REFUSED_STREAM); the ten others and the connection keep going."""
    conn.send(*[conn.headers(i, "/hold") for i in range(1, 2 * 11, 2)])
    refused = conn.expect_rst(21)
    assert refused.error_code == REFUSED_STREAM, refused
    conn.send(conn.rst(1), conn.headers(23))
    assert conn.body(23) == b"Hello, world!"
    assert not any(isinstance(f, GoAwayFrame) for f in conn.frames)


def test_refused_stream_flood_is_cut_off(conn: RawH2) -> None:
    """Opening streams beyond the limit over and over spends the rapid-reset budget."""
    held = [conn.headers(i, "/hold") for i in range(1, 2 * 10, 2)]
    refused = [conn.headers(i) for i in range(21, 21 + 2 * 150, 2)]
    try:
        conn.send(*held, *refused)
        conn.send(*[conn.headers(i) for i in range(321, 321 + 2 * 150, 2)])
    except OSError:
        pass  # the server may close before it has read everything
    goaway_then_closed(conn, ENHANCE_YOUR_CALM)


def test_server_still_serves_after_attacks(server: AsgidProcess) -> None:
    with RawH2(server.host, server.port) as client:
        client.handshake()
        client.send(client.headers(1))
        assert client.body(1) == b"Hello, world!"


def test_late_frames_for_a_just_closed_stream_are_harmless(server: AsgidProcess) -> None:
    """h2 remembers the last 1024 closed streams (not 65536, to bound memory); frames still
    in flight for a stream that just closed must not end the connection."""
    with RawH2(server.host, server.port) as client:
        client.handshake()
        for stream_id in range(1, 2 * 40, 2):
            client.send(client.headers(stream_id))
            assert client.body(stream_id) == b"Hello, world!"
        client.send(client.window_update(1, 1000), client.rst(3), client.window_update(79, 10))
        client.send(client.headers(81))
        assert client.body(81) == b"Hello, world!"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_stream_errors_leave_the_connection_serving(asgid, loop: str) -> None:
    """A refused stream (RFC 9113 §5.1.2) and a malformed one (§8.1.1) are each reset
    alone, on either loop; the connection then serves a normal request."""
    server = asgid(
        "tests.apps.h2:app", "--loop", loop, "--access-log", "/dev/null",
        "--h2-max-concurrent-streams", "2",
    )  # fmt: skip
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        conn.send(*[conn.headers(i, "/hold") for i in (1, 3, 5)])
        assert conn.expect_rst(5).error_code == REFUSED_STREAM
        conn.send(conn.rst(1), conn.headers(7, extra=[("x-a", "trailing ")]))
        assert conn.expect_rst(7).error_code == PROTOCOL_ERROR
        conn.send(conn.headers(9))
        assert conn.body(9) == b"Hello, world!"
        assert not any(isinstance(f, GoAwayFrame) for f in conn.frames)
