"""WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through the same ASGI WebSocket code."""

from __future__ import annotations

import json
import os
import signal
import struct
from collections.abc import Iterator

import pytest
from hpack import Decoder
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

from tests.support.h2frames import RawH2
from tests.support.server import AsgidProcess

ENABLE_CONNECT_PROTOCOL = 0x8


@pytest.fixture(scope="module")
def server() -> Iterator[AsgidProcess]:
    proc = AsgidProcess("tests.apps.h2:app", "--access-log", "/dev/null")
    yield proc
    proc.stop()


def connect(conn: RawH2, stream_id: int, path: str, extra: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
    pseudo = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("sec-websocket-version", "13"),
        *extra,
    ]
    conn.send(conn.headers(stream_id, pseudo=pseudo, end_stream=False))


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.2), payload under 126 bytes."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def read_ws_frames(data: bytes) -> list[tuple[int, bytes]]:
    frames = []
    while data:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        offset = 2
        if length == 126:
            (length,) = struct.unpack("!H", data[2:4])
            offset = 4
        elif length == 127:
            (length,) = struct.unpack("!Q", data[2:10])
            offset = 10
        frames.append((opcode, data[offset : offset + length]))
        data = data[offset + length :]
    return frames


def test_settings_enable_connect_protocol(server: AsgidProcess) -> None:
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        settings = next(f for f in conn.frames if isinstance(f, SettingsFrame))
        assert settings.settings.get(ENABLE_CONNECT_PROTOCOL) == 1


def test_websocket_over_http2(server: AsgidProcess) -> None:
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        connect(conn, 1, "/chat?room=1", [("sec-websocket-protocol", "chat")])
        head = conn.expect(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
        fields = dict(Decoder().decode(bytes(head.data)))
        assert fields[":status"] == "200"
        assert "sec-websocket-accept" not in fields
        payload = b""
        while True:
            frame = conn.expect(lambda f: isinstance(f, DataFrame) and f.stream_id == 1)
            payload += bytes(frame.data)
            frames = read_ws_frames(payload) if len(payload) > 2 else []
            if any(op == 0x8 for op, _ in frames):
                break
        text = next(body for op, body in frames if op == 0x1)
        scope = json.loads(text)
        assert scope["type"] == "websocket" and scope["http_version"] == "2"
        assert scope["path"] == "/chat" and scope["query_string"] == "room=1"
        assert scope["scheme"] == "ws" and scope["subprotocols"] == ["chat"]
        assert ["host", "localhost"] in scope["headers"]
        conn.send(conn.data(1, ws_frame(0x8, b"\x03\xe8")))  # answer the close
        conn.expect(lambda f: f.stream_id == 1 and "END_STREAM" in f.flags)
        # the connection still serves plain requests
        conn.send(conn.headers(3))
        assert conn.body(3) == b"Hello, world!"


def ws_frame_any(opcode: int, payload: bytes) -> bytes:
    """A masked client frame of any size."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        head = bytes([0x80 | opcode, 0x80 | len(payload)])
    elif len(payload) < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", len(payload))
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", len(payload))
    return head + mask + masked


def collect_ws(conn: RawH2, stream_id: int, until_bytes: int) -> bytes:
    """Read the stream's DATA (returning credit) until ``until_bytes`` arrived."""
    payload = b""
    while len(payload) < until_bytes:
        frame = conn.expect(lambda f: isinstance(f, DataFrame) and f.stream_id == stream_id)
        payload += bytes(frame.data)
        if frame.data:
            n = len(frame.data)
            conn.send(conn.window_update(0, n), conn.window_update(stream_id, n))
    return payload


def granted(conn: RawH2, stream_id: int) -> int:
    return sum(
        f.window_increment for f in conn.frames if f.type == 0x8 and f.stream_id == stream_id
    )


def test_websocket_echo_of_a_large_message_both_ways(server: AsgidProcess) -> None:
    """200 KB each way: more than one flow-control window in both directions."""
    since = server.mark()
    message = os.urandom(200_000)
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        connect(conn, 1, "/echo")
        conn.expect(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
        wire = ws_frame_any(0x2, message)
        sent = 0
        while sent < len(wire):
            chunk = wire[sent : sent + 16384]
            # stay inside the server's stream window: wait for WINDOW_UPDATEs as we go
            while sent + len(chunk) > 65535 + granted(conn, 1):
                conn.expect(lambda f: f.type == 0x8 and f.stream_id == 1)
            conn.send(conn.data(1, chunk))
            sent += len(chunk)
        echoed = collect_ws(conn, 1, 10 + len(message))
        opcode, body = read_ws_frames(echoed)[0]
        assert opcode == 0x2 and body == message
        conn.send(conn.data(1, ws_frame(0x8, b"\x03\xe8")))
        reply = collect_ws(conn, 1, 4)
        assert read_ws_frames(reply)[0][0] == 0x8
        conn.expect(lambda f: f.stream_id == 1 and "END_STREAM" in f.flags)
    server.wait_for("ws_echo disconnected with code 1000", since=since)


def test_rst_stream_disconnects_the_websocket(server: AsgidProcess) -> None:
    since = server.mark()
    with RawH2(server.host, server.port) as conn:
        conn.handshake()
        connect(conn, 1, "/echo")
        conn.expect(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
        conn.send(conn.rst(1))
        server.wait_for("ws_echo disconnected with code 1006", since=since)
        conn.send(conn.headers(3))
        assert conn.body(3) == b"Hello, world!"


def test_graceful_shutdown_closes_websocket_streams_with_1001() -> None:
    proc = AsgidProcess("tests.apps.h2:app", "--access-log", "/dev/null")
    try:
        with RawH2(proc.host, proc.port) as conn:
            conn.handshake()
            connect(conn, 1, "/echo")
            conn.expect(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
            proc.signal(signal.SIGTERM)
            close = collect_ws(conn, 1, 4)
            opcode, body = read_ws_frames(close)[0]
            assert opcode == 0x8 and body[:2] == b"\x03\xe9"  # 1001 going away
            try:
                conn.send(conn.data(1, ws_frame(0x8, b"\x03\xe9")))
            except OSError:
                pass  # a slow reply may find the closing handshake timed out already
            conn.expect_closed(timeout=10)
        assert proc.wait(10) == 0
    finally:
        proc.stop()
