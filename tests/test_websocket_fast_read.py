"""The plain-frame reader (``frames.read_message``) beside Autobahn's parser.

Every branch of ``read_message`` on its own, then the property that matters: any byte
stream, cut anywhere, gives exactly the same output (echoes, Close frames, close codes and
reasons, TCP close) whether plain frames are read by ``read_message`` or by Autobahn.
"""

from __future__ import annotations

import asyncio
import struct

import pytest
from asgid.config import Config
from asgid.protocols.io.context import ServerContext
from asgid.protocols.websocket.autobahn import autobahn_factory
from asgid.protocols.websocket.connection import WebSocketConnection
from asgid.protocols.websocket.frames import MAX_FAST_LENGTH, read_message, unmask
from autobahn.websocket.utf8validator import Utf8Validator
from hypothesis import HealthCheck, example, given, settings, strategies as st
from twisted.internet.testing import MemoryReactorClock, StringTransport

from tests.apps.ws import echo
from tests.support.ws_frames import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    _mask,
    close_payload,
    frame,
    handshake_request,
)

KEY = b"\x37\xfa\x21\x3d"
NO_LIMIT = MAX_FAST_LENGTH


def masked(first: int, length_bytes: bytes, payload: bytes, key: bytes = KEY) -> bytes:
    """A frame with its length field written exactly as given (MASK bit added)."""
    return bytes([first, length_bytes[0] | 0x80]) + length_bytes[1:] + key + _mask(payload, key)


# -- read_message, branch by branch -----------------------------------------------------------
@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 126, 127, 1024, 1025, 4096, 65535])
def test_text_and_binary_of_every_length_class(length: int) -> None:
    payload = bytes(i % 95 + 32 for i in range(length))
    text = frame(TEXT, payload, key=KEY)
    assert read_message(text, 0, NO_LIMIT) == (payload.decode(), len(text))
    binary = frame(BINARY, payload, key=KEY)
    assert read_message(binary, 0, NO_LIMIT) == (payload, len(binary))


def test_frames_one_after_another() -> None:
    data = frame(TEXT, "ü".encode(), key=KEY) + frame(BINARY, b"\x00\xff", key=b"\0\0\0\0")
    message, end = read_message(data, 0, NO_LIMIT)  # type: ignore[misc]
    assert message == "ü"
    assert read_message(data, end, NO_LIMIT) == (b"\x00\xff", len(data))
    assert read_message(data, len(data), NO_LIMIT) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(frame(TEXT, b"x", fin=False, key=KEY), id="first-fragment"),
        pytest.param(frame(CONT, b"x", key=KEY), id="continuation"),
        pytest.param(frame(TEXT, b"x", rsv=4, key=KEY), id="rsv1"),
        pytest.param(frame(BINARY, b"x", rsv=2, key=KEY), id="rsv2"),
        pytest.param(frame(TEXT, b"x", rsv=1, key=KEY), id="rsv3"),
        pytest.param(frame(PING, b"x", key=KEY), id="ping"),
        pytest.param(frame(PONG, b"x", key=KEY), id="pong"),
        pytest.param(frame(CLOSE, close_payload(1000), key=KEY), id="close"),
        pytest.param(frame(3, b"x", key=KEY), id="reserved-data-opcode"),
        pytest.param(frame(11, b"x", key=KEY), id="reserved-control-opcode"),
        pytest.param(frame(TEXT, b"x" * 10, masked=False), id="unmasked"),
        pytest.param(frame(BINARY, b"x" * 200, masked=False), id="unmasked-16-bit"),
        pytest.param(frame(BINARY, bytes(65536), key=KEY), id="64-bit-length"),
        pytest.param(masked(0x82, b"\x7f" + struct.pack("!Q", 5), b"hello"), id="64-bit-short"),
        pytest.param(masked(0x82, b"\x7e" + struct.pack("!H", 5), b"hello"), id="16-bit-short"),
        pytest.param(masked(0x82, b"\x7e" + struct.pack("!H", 125), b"h" * 125), id="16-bit-125"),
        pytest.param(frame(TEXT, b"\xff", key=KEY), id="invalid-utf8"),
        pytest.param(frame(TEXT, b"\xed\xa0\x80", key=KEY), id="surrogate"),
        pytest.param(frame(TEXT, b"\xc0\xaf", key=KEY), id="overlong"),
        pytest.param(frame(TEXT, b"\xf4\x90\x80\x80", key=KEY), id="over-u10ffff"),
        pytest.param(frame(TEXT, "€".encode()[:2], key=KEY), id="truncated-code-point"),
    ],
)
def test_everything_else_is_left_to_autobahn(data: bytes) -> None:
    assert read_message(data, 0, NO_LIMIT) is None


def test_an_incomplete_frame_is_left_to_autobahn() -> None:
    for data in (frame(TEXT, b"hello", key=KEY), frame(BINARY, b"h" * 300, key=KEY)):
        for cut in range(len(data)):
            assert read_message(data[:cut], 0, NO_LIMIT) is None
        assert read_message(data, 0, NO_LIMIT) is not None


def test_limit_is_inclusive() -> None:
    data = frame(BINARY, b"x" * 200, key=KEY)
    assert read_message(data, 0, 200) == (b"x" * 200, len(data))
    assert read_message(data, 0, 199) is None
    assert read_message(frame(TEXT, b"", key=KEY), 0, 0) == ("", 6)


@given(st.binary(max_size=3000), st.binary(min_size=4, max_size=4))
def test_unmask_is_the_xor_of_the_repeated_key(payload: bytes, key: bytes) -> None:
    assert unmask(payload, key) == _mask(payload, key)


def autobahn_accepts(payload: bytes) -> bool:
    """What Autobahn's validator says of ``payload`` as one whole text message."""
    validator = Utf8Validator()
    valid, ended, _, _ = validator.validate(payload)
    return bool(valid and ended)


UTF8_EDGES = [
    b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe0\x9f\xbf", b"\xed\x9f\xbf",
    b"\xed\xa0\x80", b"\xef\xbf\xbf", b"\xef\xbf\xbe", b"\xf0\x90\x80\x80", b"\xf0\x8f\xbf\xbf",
    b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xc0\x80", b"\xc1\xbf",
    b"\x80", b"\xbf", b"\xfe", b"\xff", b"\xe2\x82", b"\xf0\x9f\x98",
]  # fmt: skip


@settings(max_examples=400)
@given(
    st.lists(
        st.sampled_from(UTF8_EDGES)
        | st.binary(max_size=6)
        | st.text(max_size=4).map(lambda t: t.encode("utf-8", "surrogatepass")),
        max_size=8,
    ).map(b"".join)
)
def test_python_utf8_decoding_accepts_what_autobahn_accepts(payload: bytes) -> None:
    try:
        payload.decode("utf-8")
        decodes = True
    except UnicodeDecodeError:
        decodes = False
    assert decodes == autobahn_accepts(payload)


# -- the same output with and without the plain-frame reader --------------------------------
class Connection:
    """One WebSocket in memory (echo app), Autobahn alone reading frames unless ``fast``."""

    def __init__(self, fast: bool, **config: object) -> None:
        self.loop = asyncio.new_event_loop()
        ctx = ServerContext(
            config=Config(app="tests.apps.ws:echo", ping_interval_s=0.0, **config),
            app=echo,
            reactor=MemoryReactorClock(),
            loop=self.loop,
        )
        scope = {"type": "websocket", "path": "/", "subprotocols": [], "headers": []}
        self.proto = WebSocketConnection(ctx, scope)
        self.proto.factory = autobahn_factory(ctx)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        if not fast:
            self.proto._fast_limit = -1
        self.proto.dataReceived(handshake_request("127.0.0.1"))
        self.run()
        assert self.transport.value().startswith(b"HTTP/1.1 101 ")
        self.transport.clear()

    def run(self) -> None:
        for _ in range(8):
            self.loop.run_until_complete(asyncio.sleep(0))

    def feed(self, chunks: list[bytes]) -> tuple[bytes, bool]:
        for chunk in chunks:
            self.proto.dataReceived(chunk)
            self.run()
        return self.transport.value(), bool(self.transport.disconnecting)

    def close(self) -> None:
        self.proto.connectionLost()
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.run()
        self.loop.close()


def same_output(chunks: list[bytes], **config: object) -> tuple[bytes, bool]:
    fast, slow = Connection(True, **config), Connection(False, **config)
    try:
        assert fast.proto._fast_limit >= 0
        result = fast.feed(chunks)
        assert result == slow.feed(chunks)
        return result
    finally:
        fast.close()
        slow.close()


TEXTS = st.text(max_size=40) | st.sampled_from(["", "x" * 125, "é" * 63, "😀" * 40, "a" * 400])
BAD_UTF8 = st.sampled_from([b"\xff", b"a\xed\xa0\x80", b"\xc0\xaf", b"ok\xf4\x90\x80\x80", b"\xe2"])
KEYS = st.binary(min_size=4, max_size=4)


@st.composite
def frames(draw: st.DrawFn) -> bytes:  # noqa: C901 - one branch per kind of frame
    kind = draw(st.sampled_from(
        ["text", "text", "binary", "binary", "bad-utf8", "fragments", "ping", "pong", "rsv",
         "opcode", "unmasked", "non-minimal", "big-binary", "close", "continuation"]
    ))  # fmt: skip
    key = draw(KEYS)
    if kind == "text":
        return frame(TEXT, draw(TEXTS).encode(), key=key)
    if kind == "binary":
        return frame(BINARY, draw(st.binary(max_size=300)), key=key)
    if kind == "bad-utf8":
        return frame(TEXT, draw(BAD_UTF8), key=key)
    if kind == "fragments":
        data = draw(TEXTS).encode() + draw(st.sampled_from([b"", b"", b"\xff", b"\xe2\x82"]))
        cut = draw(st.integers(0, len(data)))
        ping = frame(PING, b"p", key=key) if draw(st.booleans()) else b""
        return frame(TEXT, data[:cut], fin=False, key=key) + ping + frame(CONT, data[cut:], key=key)
    if kind == "ping":
        return frame(PING, draw(st.binary(max_size=125)), key=key)
    if kind == "pong":
        return frame(PONG, draw(st.binary(max_size=10)), key=key)
    if kind == "rsv":
        return frame(TEXT, b"r", rsv=draw(st.integers(1, 7)), key=key)
    if kind == "opcode":
        return frame(draw(st.sampled_from([3, 7, 11, 15])), b"o", key=key)
    if kind == "unmasked":
        return frame(BINARY, b"u", masked=False)
    if kind == "non-minimal":
        payload = draw(st.binary(max_size=125))
        width = draw(st.sampled_from([b"\x7e" + struct.pack("!H", len(payload)),
                                      b"\x7f" + struct.pack("!Q", len(payload))]))  # fmt: skip
        return masked(0x82, width, payload, key)
    if kind == "big-binary":
        return frame(BINARY, bytes(draw(st.sampled_from([1100, 65535, 65536]))), key=key)
    if kind == "close":
        return frame(CLOSE, close_payload(draw(st.sampled_from([1000, 1001, 4000, 1005]))), key=key)
    return frame(CONT, b"c", key=key)


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    data = b"".join(draw(st.lists(frames(), min_size=1, max_size=6)))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
@example([frame(TEXT, b"hi", key=KEY) * 3 + frame(PING, b"", key=KEY) + frame(TEXT, b"!", key=KEY)])
def test_plain_frames_read_here_or_by_autobahn_give_the_same_output(chunks: list[bytes]) -> None:
    same_output(chunks, websocket_max_message_bytes=0, websocket_max_frame_bytes=0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_the_same_output_under_small_size_limits(chunks: list[bytes]) -> None:
    same_output(chunks, websocket_max_message_bytes=300, websocket_max_frame_bytes=200)


def test_a_message_at_the_limit_passes_and_one_byte_over_closes_1009() -> None:
    at = frame(BINARY, b"a" * 200, key=KEY)
    over = frame(BINARY, b"a" * 201, key=KEY)
    output, _ = same_output([at, over], websocket_max_message_bytes=200)
    assert output.startswith(b"\x82\x7e\x00\xc8" + b"a" * 200 + b"\x88")
    assert struct.unpack("!H", output[206:208]) == (1009,)


def test_echoes_in_order_around_a_fragmented_message() -> None:
    data = (
        frame(TEXT, b"one", key=KEY)
        + frame(TEXT, b"t", fin=False, key=KEY)
        + frame(PING, b"p", key=KEY)
        + frame(CONT, b"wo", key=KEY)
        + frame(BINARY, b"3", key=KEY)
    )
    output, closed = same_output([data[:5], data[5:]])
    assert output == b"\x8a\x01p\x81\x03one\x81\x03two\x82\x013"  # the pong goes out at once
    assert not closed
