"""HTTP/2 conformance at the frame level (h2spec's ground): every protocol error gets the
right GOAWAY or RST_STREAM code, and the connection is then closed, over h2c and TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame

from tests.support.h2frames import (
    COMPRESSION_ERROR,
    ENABLE_PUSH,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    INITIAL_WINDOW_SIZE,
    MAX_FRAME_SIZE,
    PREFACE,
    PROTOCOL_ERROR,
    STREAM_CLOSED,
    RawH2,
)
from tests.support.server import AsgidProcess

APP = "tests.apps.h2:app"


@pytest.fixture(scope="module")
def server() -> Iterator[AsgidProcess]:
    proc = AsgidProcess(APP, "--access-log", "/dev/null")
    yield proc
    proc.stop()


@pytest.fixture
def conn(server: AsgidProcess) -> Iterator[RawH2]:
    with RawH2(server.host, server.port) as client:
        yield client


def connection_error(conn: RawH2, code: int) -> None:
    """A GOAWAY with ``code`` arrives, then the server closes the connection."""
    goaway = conn.expect_goaway()
    assert goaway.error_code == code, goaway
    conn.expect_closed(timeout=3)


def stream_or_connection_error(conn: RawH2, stream_id: int, code: int) -> None:
    """RFC 9113 §5.4.2: a stream error may also be answered as a connection error."""
    frame = conn.expect(
        lambda f: (
            isinstance(f, GoAwayFrame)
            or (isinstance(f, RstStreamFrame) and f.stream_id == stream_id)
        )
    )
    assert frame.error_code == code, frame


def test_preface_not_followed_by_settings(conn: RawH2) -> None:
    conn.send(PREFACE, conn.ping())
    connection_error(conn, PROTOCOL_ERROR)


def test_bad_preface_over_tls(tls_server: AsgidProcess, tls_context: ssl.SSLContext) -> None:
    """With ALPN h2 the bytes must be the preface (over h2c they are read as HTTP/1.1)."""
    with RawH2(tls_server.host, tls_server.port, tls=tls_context) as client:
        client.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 9)
        connection_error(client, PROTOCOL_ERROR)


def test_uppercase_header_name(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, extra=[("X-Upper", "1")]))
    stream_or_connection_error(conn, 1, PROTOCOL_ERROR)


def test_unknown_pseudo_header(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, extra=[(":foo", "bar")]))
    stream_or_connection_error(conn, 1, PROTOCOL_ERROR)


def test_missing_method(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, pseudo=[(":scheme", "http"), (":path", "/")]))
    stream_or_connection_error(conn, 1, PROTOCOL_ERROR)


def _trailers(stream_id: int, conn: RawH2) -> HeadersFrame:
    frame = HeadersFrame(stream_id, flags=["END_HEADERS", "END_STREAM"])
    frame.data = conn.encoder.encode([("x-checksum", "0")])
    return frame


@pytest.mark.parametrize(
    ("length", "body", "ending"),
    [
        pytest.param(["10"], [b"12345"], "data", id="short-body"),
        pytest.param(["3"], [b"12345"], "data", id="long-body"),
        pytest.param(["3"], [b"12", b"34"], "open", id="long-body-not-ended"),
        pytest.param(["10"], [b"12345"], "trailers", id="short-body-then-trailers"),
        pytest.param(["5"], [], "headers", id="length-without-data"),
        pytest.param(["five"], [b"12345"], "data", id="not-a-number"),
        pytest.param(["-5"], [b"12345"], "data", id="negative"),
        pytest.param(["5", "6"], [b"12345"], "data", id="two-values"),
    ],
)
def test_content_length_problem_is_a_stream_error(
    conn: RawH2, length: list[str], body: list[bytes], ending: str
) -> None:
    """RFC 9113 §8.1.1: a content-length that is no number, or that the DATA does not
    match, makes the request malformed: RST_STREAM PROTOCOL_ERROR, and the connection
    serves the next stream."""
    conn.handshake()
    extra = [("content-length", value) for value in length]
    frames = [conn.headers(1, "/echo", method="POST", extra=extra, end_stream=ending == "headers")]
    frames += [conn.data(1, chunk) for chunk in body]
    if ending == "data":
        frames[-1] = conn.data(1, body[-1], end_stream=True)
    elif ending == "trailers":
        frames.append(_trailers(1, conn))
    conn.send(*frames)
    assert conn.expect_rst(1).error_code == PROTOCOL_ERROR
    conn.send(conn.headers(3))
    assert conn.body(3) == b"Hello, world!"
    assert not any(isinstance(f, GoAwayFrame) for f in conn.frames)


@pytest.mark.parametrize("ending", ["data", "trailers"])
def test_body_matching_content_length_is_served(conn: RawH2, ending: str) -> None:
    conn.handshake()
    extra = [("content-length", "5"), ("content-length", "5")]
    frames = [
        conn.headers(1, "/echo", method="POST", extra=extra, end_stream=False),
        conn.data(1, b"12"),
        conn.data(1, b"345", end_stream=ending == "data"),
    ]
    if ending == "trailers":
        frames.append(_trailers(1, conn))
    conn.send(*frames)
    assert conn.body(1) == b"12345"


def test_initial_window_too_large_is_flow_control_error(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.settings({INITIAL_WINDOW_SIZE: 2**31}))
    connection_error(conn, FLOW_CONTROL_ERROR)


@pytest.mark.parametrize(
    "setting", [{ENABLE_PUSH: 2}, {MAX_FRAME_SIZE: 100}, {MAX_FRAME_SIZE: 2**24}]
)
def test_invalid_settings_values(conn: RawH2, setting: dict[int, int]) -> None:
    conn.handshake()
    conn.send(conn.settings(setting))
    connection_error(conn, PROTOCOL_ERROR)


def test_data_on_half_closed_remote_stream_is_stream_closed(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, "/hold"), conn.data(1, b"late"))
    assert conn.expect_rst(1).error_code == STREAM_CLOSED


def test_data_on_idle_stream(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.data(5, b"nobody asked"))
    connection_error(conn, PROTOCOL_ERROR)


def test_headers_on_closed_stream(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1))
    conn.body(1)
    conn.send(conn.headers(1))
    stream_or_connection_error(conn, 1, STREAM_CLOSED)


def test_stream_id_going_down(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(5))
    conn.body(5)
    conn.send(conn.headers(3))
    connection_error(conn, PROTOCOL_ERROR)


def test_connection_window_overflow(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.window_update(0, 2**31 - 1))
    connection_error(conn, FLOW_CONTROL_ERROR)


def test_stream_window_overflow(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, "/hold"), conn.window_update(1, 2**31 - 1))
    stream_or_connection_error(conn, 1, FLOW_CONTROL_ERROR)


def test_window_update_of_zero(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.window_update(0, 0))
    connection_error(conn, PROTOCOL_ERROR)


def test_oversized_frame(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, "/echo", method="POST", end_stream=False), conn.data(1, b"x" * 16385))
    connection_error(conn, FRAME_SIZE_ERROR)


def test_hpack_error(conn: RawH2) -> None:
    conn.handshake()
    frame = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
    frame.data = b"\xff\xff\xff\x7f"  # indexed field far beyond any table
    conn.send(frame)
    connection_error(conn, COMPRESSION_ERROR)


def test_priority_self_dependency(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.priority(1, depends_on=1))
    stream_or_connection_error(conn, 1, PROTOCOL_ERROR)


def test_continuation_on_another_stream(conn: RawH2) -> None:
    conn.handshake()
    block = conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
    headers = HeadersFrame(1, data=block[:3], flags=["END_STREAM"])
    conn.send(headers, conn.continuation(3, block[3:], end=True))
    connection_error(conn, PROTOCOL_ERROR)


def test_frame_between_headers_and_continuation(conn: RawH2) -> None:
    conn.handshake()
    block = conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
    headers = HeadersFrame(1, data=block[:3], flags=["END_STREAM"])
    conn.send(headers, conn.ping(), conn.continuation(1, block[3:], end=True))
    connection_error(conn, PROTOCOL_ERROR)


def test_headers_split_over_continuation_works(conn: RawH2) -> None:
    conn.handshake()
    block = conn.encoder.encode(
        [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "x")]
    )
    headers = HeadersFrame(1, data=block[:2], flags=["END_STREAM"])
    conn.send(headers, conn.continuation(1, block[2:4]), conn.continuation(1, block[4:], end=True))
    assert conn.body(1) == b"Hello, world!"


def test_negative_send_window_resumes_after_window_update(conn: RawH2) -> None:
    """RFC 9113 §6.9.2: a smaller INITIAL_WINDOW_SIZE can make a window negative."""
    conn.handshake({INITIAL_WINDOW_SIZE: 100})
    conn.send(conn.headers(1, "/big/1000"))
    first = conn.expect(lambda f: isinstance(f, DataFrame) and f.stream_id == 1)
    assert len(first.data) == 100
    conn.send(conn.settings({INITIAL_WINDOW_SIZE: 0}), conn.window_update(0, 10_000))
    conn.expect(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)
    conn.send(conn.window_update(1, 100))  # window -100 -> 0: still nothing may be sent
    conn.send(conn.ping())
    conn.expect(lambda f: f.type == 0x6 and "ACK" in f.flags)
    assert not [f for f in conn.frames if isinstance(f, DataFrame)][1:]
    conn.send(conn.window_update(1, 900))
    rest = conn.body(1)
    assert len(first.data) + len(rest) == 1000


def test_rst_stream_then_other_streams_still_served(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, "/hold"), conn.rst(1), conn.headers(3))
    assert conn.body(3) == b"Hello, world!"


def test_protocol_error_over_tls_closes_connection(
    tls_server: AsgidProcess, tls_context: ssl.SSLContext
) -> None:
    """Unlike twisted.web's HTTP/2, the TLS connection really ends after the GOAWAY."""
    with RawH2(tls_server.host, tls_server.port, tls=tls_context) as client:
        assert client.sock.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]
        client.handshake()
        client.send(client.window_update(0, 0))
        connection_error(client, PROTOCOL_ERROR)


def test_server_keeps_serving_after_protocol_errors(server: AsgidProcess) -> None:
    with RawH2(server.host, server.port) as client:
        client.send(b"garbage that is no preface at all........")
        client.expect_closed()
    with RawH2(server.host, server.port) as client:
        client.handshake()
        client.send(client.headers(1))
        assert client.body(1) == b"Hello, world!"


BASE = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "x")]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param([(":method", "GET"), (":scheme", "http"), (":path", "")], id="empty-path"),
        pytest.param([*BASE, (":method", "GET")], id="duplicate-method"),
        pytest.param(
            [(":method", "GET"), ("x-a", "1"), (":scheme", "http"), (":path", "/")],
            id="pseudo-after-regular",
        ),
        pytest.param([*BASE, (":status", "200")], id="response-pseudo-in-request"),
        pytest.param([*BASE, ("connection", "keep-alive")], id="connection-specific"),
        pytest.param([*BASE, ("te", "gzip")], id="te-not-trailers"),
        pytest.param([(":method", "GET"), (":path", "/")], id="missing-scheme"),
        pytest.param([(":scheme", "http"), (":path", "/")], id="missing-method"),
        pytest.param([*BASE, (":foo", "bar")], id="unknown-pseudo"),
        pytest.param([*BASE, ("X-Upper", "1")], id="uppercase-name"),
        pytest.param([*BASE, ("x-a", "1 ")], id="value-trailing-space"),
        pytest.param([*BASE, ("x-a", "\t1")], id="value-leading-tab"),
        pytest.param([*BASE, ("x-a", " ")], id="value-only-space"),
        pytest.param([*BASE, ("x-a", "a\x00b")], id="value-nul"),
        pytest.param([*BASE, ("x-a", "a\r\nb: c")], id="value-crlf"),
        pytest.param([*BASE, ("", "1")], id="empty-name"),
    ],
)
def test_malformed_request_is_a_stream_error(conn: RawH2, fields: list[tuple[str, str]]) -> None:
    """RFC 9113 §8.1.1 / §8.2.1 / §8.3: a malformed request is a stream error (RST_STREAM
    PROTOCOL_ERROR), and the connection goes on serving the next stream."""
    conn.handshake()
    conn.send(conn.headers(1, pseudo=fields))
    assert conn.expect_rst(1).error_code == PROTOCOL_ERROR
    conn.send(conn.headers(3))
    assert conn.body(3) == b"Hello, world!"
    assert not any(isinstance(f, GoAwayFrame) for f in conn.frames)


def test_pseudo_header_in_trailers(conn: RawH2) -> None:
    conn.handshake()
    trailers = HeadersFrame(1, flags=["END_HEADERS", "END_STREAM"])
    trailers.data = conn.encoder.encode([(":method", "GET")])
    conn.send(
        conn.headers(1, "/echo", method="POST", end_stream=False), conn.data(1, b"x"), trailers
    )
    assert conn.expect_rst(1).error_code == PROTOCOL_ERROR
    conn.send(conn.headers(3))
    assert conn.body(3) == b"Hello, world!"


def test_malformed_stream_flood_is_cut_off(conn: RawH2) -> None:
    """Malformed requests spend the rapid-reset budget: 300 of them end the connection."""
    conn.handshake()
    try:
        conn.send(*[conn.headers(i, extra=[("x-a", " 1")]) for i in range(1, 2 * 300, 2)])
    except OSError:
        pass  # the server may close before it has read everything
    connection_error(conn, ENHANCE_YOUR_CALM)


@pytest.mark.parametrize(
    "raw, code",
    [
        pytest.param(
            b"\x00\x00\x00\x01\x05\x00\x00\x00\x02", PROTOCOL_ERROR, id="headers-even-stream"
        ),
        pytest.param(
            b"\x00\x00\x04\x05\x04\x00\x00\x00\x01\x00\x00\x00\x02",
            PROTOCOL_ERROR,
            id="client-push-promise",
        ),
        pytest.param(
            b"\x00\x00\x08\x07\x00\x00\x00\x00\x01" + b"\x00" * 8,
            PROTOCOL_ERROR,
            id="goaway-on-stream",
        ),
        pytest.param(
            b"\x00\x00\x00\x04\x00\x00\x00\x00\x01", PROTOCOL_ERROR, id="settings-on-stream"
        ),
        pytest.param(
            b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"\x00" * 5,
            FRAME_SIZE_ERROR,
            id="settings-bad-length",
        ),
        pytest.param(
            b"\x00\x00\x06\x04\x01\x00\x00\x00\x00" + b"\x00" * 6,
            FRAME_SIZE_ERROR,
            id="settings-ack-with-payload",
        ),
        pytest.param(
            b"\x00\x00\x07\x06\x00\x00\x00\x00\x00" + b"\x00" * 7,
            FRAME_SIZE_ERROR,
            id="ping-bad-length",
        ),
        pytest.param(
            b"\x00\x00\x08\x06\x00\x00\x00\x00\x01" + b"\x00" * 8,
            PROTOCOL_ERROR,
            id="ping-on-stream",
        ),
        pytest.param(
            b"\x00\x00\x03\x08\x00\x00\x00\x00\x00\x00\x00\x01",
            FRAME_SIZE_ERROR,
            id="window-update-bad-length",
        ),
        pytest.param(
            b"\x00\x00\x04\x03\x00\x00\x00\x00\x00\x00\x00\x00\x08",
            PROTOCOL_ERROR,
            id="rst-on-stream-0",
        ),
        pytest.param(
            b"\x00\x00\x04\x03\x00\x00\x00\x00\x01\x00\x00\x00\x08",
            PROTOCOL_ERROR,
            id="rst-on-idle-stream",
        ),
        pytest.param(
            b"\x00\x00\x03\x00\x00\x00\x00\x00\x00abc", PROTOCOL_ERROR, id="data-on-stream-0"
        ),
    ],
)
def test_bad_frames_are_connection_errors(conn: RawH2, raw: bytes, code: int) -> None:
    conn.handshake()
    conn.send(raw)
    connection_error(conn, code)


def test_unknown_frame_type_is_ignored(conn: RawH2) -> None:
    conn.handshake()
    conn.send(b"\x00\x00\x03\xee\x00\x00\x00\x00\x00abc", conn.headers(1))
    assert conn.body(1) == b"Hello, world!"


def test_unknown_frame_inside_header_block(conn: RawH2) -> None:
    conn.handshake()
    block = conn.encoder.encode(BASE)
    headers = HeadersFrame(1, data=block[:3], flags=["END_STREAM"])
    conn.send(
        headers, b"\x00\x00\x00\xee\x00\x00\x00\x00\x00", conn.continuation(1, block[3:], end=True)
    )
    connection_error(conn, PROTOCOL_ERROR)


def test_data_beyond_our_window_is_flow_control_error(conn: RawH2) -> None:
    conn.handshake()
    frames = [conn.headers(1, "/stall", method="POST", end_stream=False)]
    frames += [conn.data(1, b"x" * 16384) for _ in range(5)]  # 80 KiB > 65,535
    conn.send(*frames)
    stream_or_connection_error(conn, 1, FLOW_CONTROL_ERROR)


def test_padding_longer_than_frame(conn: RawH2) -> None:
    conn.handshake()
    conn.send(conn.headers(1, "/echo", method="POST", end_stream=False))
    conn.send(b"\x00\x00\x02\x00\x08\x00\x00\x00\x01\x05x")  # pad length 5 in a 2-byte frame
    connection_error(conn, PROTOCOL_ERROR)


def test_window_size_one_sends_one_byte(conn: RawH2) -> None:
    conn.handshake({INITIAL_WINDOW_SIZE: 1})
    conn.send(conn.headers(1))
    frame = conn.expect(lambda f: isinstance(f, DataFrame))
    assert len(frame.data) == 1


def test_initial_window_raised_after_headers_lets_data_flow(conn: RawH2) -> None:
    conn.handshake({INITIAL_WINDOW_SIZE: 0})
    conn.send(conn.headers(1))
    conn.expect(lambda f: isinstance(f, HeadersFrame))
    conn.send(conn.settings({INITIAL_WINDOW_SIZE: 1}))
    frame = conn.expect(lambda f: isinstance(f, DataFrame))
    assert len(frame.data) == 1
