"""RFC 6455 conformance with raw frames: the ground Autobahn|Testsuite cases 1-13 cover.

One server process serves the whole module; every test opens its own raw socket and
writes frames by hand (``tests.support.ws_frames``), valid and invalid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.server import AsgidProcess
from tests.support.ws_frames import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    RawSocket,
    close_payload,
    deflate,
    frame,
    inflate,
)

DEFLATE = ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]


@pytest.fixture(scope="module")
def server() -> Iterator[AsgidProcess]:
    proc = AsgidProcess(
        "tests.apps.ws:echo",
        "--websocket-max-message-size",
        "65536",
        "--websocket-max-frame-size",
        "32768",
    )
    yield proc
    proc.stop()


@pytest.fixture
def ws(server: AsgidProcess) -> Iterator[RawSocket]:
    with RawSocket(server.port) as sock:
        assert sock.open("/") == 101
        yield sock


def test_text_binary_and_empty_echo(ws: RawSocket) -> None:
    for opcode, payload in (
        (TEXT, "héllo".encode()),
        (BINARY, b"\x00\xff"),
        (TEXT, b""),
        (BINARY, b""),
        (BINARY, os.urandom(70000 // 4)),
        (TEXT, b"x" * 126),
    ):
        ws.send(frame(opcode, payload))
        got = ws.read_frame()
        assert (got.opcode, got.payload, got.fin, got.rsv) == (opcode, payload, True, 0)


def test_fragmented_text_split_inside_a_utf8_sequence(ws: RawSocket) -> None:
    data = "κόσμε€".encode()
    ws.send(frame(TEXT, data[:1], fin=False))
    ws.send(frame(CONT, data[1:3], fin=False))
    ws.send(frame(CONT, b"", fin=False))
    ws.send(frame(CONT, data[3:]))
    assert ws.read_frame().payload == data


def test_interleaved_pings_inside_fragments(ws: RawSocket) -> None:
    ws.send(frame(TEXT, b"frag", fin=False))
    ws.send(frame(PING, b"ping-1"))
    ws.send(frame(CONT, b"ment", fin=False))
    ws.send(frame(PING, b""))
    ws.send(frame(CONT, b"ed"))
    pongs = [ws.read_frame(), ws.read_frame()]
    assert [(p.opcode, p.payload) for p in pongs] == [(PONG, b"ping-1"), (PONG, b"")]
    assert ws.read_frame().payload == b"fragmented"


def test_ping_payload_echoed_in_pong(ws: RawSocket) -> None:
    payload = bytes(range(125))
    ws.send(frame(PING, payload))
    got = ws.read_frame()
    assert (got.opcode, got.payload) == (PONG, payload)
    ws.send(frame(PONG, b"unsolicited"))  # §5.5.3: an unsolicited pong is ignored
    ws.send(frame(TEXT, b"still open"))
    assert ws.read_frame().payload == b"still open"


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(
            [frame(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")],
            id="surrogate",
        ),
        pytest.param([frame(TEXT, b"\xff")], id="invalid-byte"),
        pytest.param(
            [frame(TEXT, b"\xce", fin=False), frame(CONT, b"\x41")], id="invalid-across-fragments"
        ),
        pytest.param([frame(TEXT, b"ok\xe2\x82")], id="truncated-sequence"),
        pytest.param([frame(CLOSE, close_payload(1000, b"\xff\xfe"))], id="close-reason"),
    ],
)
def test_invalid_utf8_closes_1007(ws: RawSocket, frames: list[bytes]) -> None:
    for data in frames:
        ws.send(data)
    assert ws.expect_close() == 1007
    assert ws.closed_by_server()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(frame(TEXT, b"x", rsv=1), id="rsv1-without-extension"),
        pytest.param(frame(TEXT, b"x", rsv=2), id="rsv2"),
        pytest.param(frame(PING, b"", rsv=4), id="rsv-on-control"),
        pytest.param(frame(3, b"x"), id="reserved-data-opcode-3"),
        pytest.param(frame(7, b""), id="reserved-data-opcode-7"),
        pytest.param(frame(0xB, b""), id="reserved-control-opcode-11"),
        pytest.param(frame(0xF, b"x"), id="reserved-control-opcode-15"),
        pytest.param(frame(PING, b"x" * 126), id="ping-over-125"),
        pytest.param(frame(PING, b"x", fin=False), id="fragmented-ping"),
        pytest.param(frame(CLOSE, b"x" * 126), id="close-over-125"),
        pytest.param(frame(CONT, b"x"), id="continuation-first"),
        pytest.param(frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), id="text-inside-fragments"),
        pytest.param(frame(TEXT, b"x", masked=False), id="unmasked-client-frame"),
        pytest.param(frame(CLOSE, b"\x03"), id="close-payload-1-byte"),
    ],
)
def test_protocol_errors_close_1002(ws: RawSocket, data: bytes) -> None:
    ws.send(data)
    assert ws.expect_close() == 1002
    assert ws.closed_by_server()


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes_close_1002(ws: RawSocket, code: int) -> None:
    ws.send(frame(CLOSE, close_payload(code)))
    assert ws.expect_close() == 1002


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
)
def test_valid_close_codes_are_echoed(ws: RawSocket, code: int) -> None:
    ws.send(frame(CLOSE, close_payload(code, b"bye")))
    got = ws.read_frame()
    assert (got.opcode, got.close_code) == (CLOSE, code)
    assert ws.closed_by_server()


def test_empty_close_is_answered(ws: RawSocket) -> None:
    ws.send(frame(CLOSE))
    got = ws.read_frame()
    assert got.opcode == CLOSE
    assert ws.closed_by_server()


def test_nothing_is_processed_after_close(ws: RawSocket) -> None:
    ws.send(frame(CLOSE, close_payload(1000)) + frame(TEXT, b"after close"))
    assert ws.read_frame().opcode == CLOSE
    assert ws.closed_by_server()
    assert ws.buffer == b""


def test_frame_over_the_frame_limit_closes_1009(ws: RawSocket) -> None:
    ws.send(frame(BINARY, b"x" * 32769))
    assert ws.expect_close() == 1009


def test_message_over_the_limit_in_fragments_closes_1009(ws: RawSocket) -> None:
    ws.send(frame(BINARY, b"x" * 30000, fin=False))
    ws.send(frame(CONT, b"x" * 30000, fin=False))
    ws.send(frame(CONT, b"x" * 30000, fin=False))
    assert ws.expect_close() == 1009


def test_compressed_messages(server: AsgidProcess) -> None:
    with RawSocket(server.port) as ws:
        assert ws.open("/", DEFLATE) == 101
        assert (ws.header("sec-websocket-extensions") or "").startswith("permessage-deflate")
        text = ("compress me " * 200).encode()
        ws.send(frame(TEXT, deflate(text), rsv=4))
        got = ws.read_frame()
        assert got.rsv == 4 and inflate(got.payload) == text
        # fragmented compressed message: RSV1 on the first frame only (RFC 7692 §6.1)
        body = deflate(b"abc" * 1000)
        ws.send(frame(BINARY, body[:10], fin=False, rsv=4) + frame(CONT, body[10:]))
        got = ws.read_frame()
        assert got.opcode == BINARY and inflate(got.payload) == b"abc" * 1000
        ws.send(frame(TEXT, b"plain"))  # uncompressed messages stay allowed
        got = ws.read_frame()
        assert got.payload == b"plain" or inflate(got.payload) == b"plain"


def test_compressed_continuation_with_rsv1_is_refused(server: AsgidProcess) -> None:
    with RawSocket(server.port) as ws:
        assert ws.open("/", DEFLATE) == 101
        body = deflate(b"abcdef")
        ws.send(frame(TEXT, body[:2], fin=False, rsv=4) + frame(CONT, body[2:], rsv=4))
        assert ws.expect_close() == 1002


def test_decompression_bomb_closes_1009(server: AsgidProcess) -> None:
    with RawSocket(server.port) as ws:
        assert ws.open("/", DEFLATE) == 101
        bomb = deflate(b"\x00" * (10 * 1024 * 1024))  # ~10 KB on the wire, 10 MiB inflated
        assert len(bomb) < 32768
        ws.send(frame(BINARY, bomb, rsv=4))
        assert ws.expect_close() == 1009


@pytest.mark.parametrize("over", [0, 1, 2, 3])
def test_compressed_message_at_the_limit_passes_and_one_byte_over_closes_1009(
    server: AsgidProcess, over: int
) -> None:
    # Inflated in one call, the whole frame can be consumed while zlib still holds the last
    # bytes: a limit enforced only by zlib's max_length would deliver a truncated message.
    independent_answers = [DEFLATE[0] + "; server_no_context_takeover"]
    with RawSocket(server.port) as ws:
        assert ws.open("/", independent_answers) == 101
        ws.send(frame(BINARY, deflate(b"x" * 10), rsv=4))  # a warm inflater, as in a browser
        assert inflate(ws.read_frame().payload) == b"x" * 10
        ws.send(frame(BINARY, deflate(b"x" * (65536 + over)), rsv=4))
        if over == 0:
            answer = ws.read_frame()
            assert len(inflate(answer.payload) if answer.rsv & 4 else answer.payload) == 65536
        else:
            assert ws.expect_close() == 1009


def test_corrupt_compressed_data_closes_1007(server: AsgidProcess) -> None:
    with RawSocket(server.port) as ws:
        assert ws.open("/", DEFLATE) == 101
        ws.send(frame(BINARY, b"\xff\xff\xff\xff", rsv=4))
        assert ws.expect_close() in (1007, 1002)


def test_frames_sent_one_byte_at_a_time(ws: RawSocket) -> None:
    data = frame(TEXT, b"trickle", fin=False) + frame(PING, b"p") + frame(CONT, b"d")
    for i in range(len(data)):
        ws.send(data[i : i + 1])
    assert ws.read_frame().opcode == PONG
    assert ws.read_frame().payload == b"trickled"
