"""The data frames asgid builds itself, against the examples of RFC 6455 §5.7 and RFC 7692."""

from __future__ import annotations

import pytest
from asgid.protocols.websocket.frames import data_frame


def test_unmasked_text_hello() -> None:
    # RFC 6455 §5.7: "A single-frame unmasked text message"
    assert data_frame(1, b"Hello") == bytes.fromhex("810548656c6c6f")


def test_256_bytes_binary_uses_the_16_bit_length() -> None:
    # RFC 6455 §5.7: "256 bytes binary message in a single unmasked frame"
    payload = bytes(256)
    assert data_frame(2, payload) == bytes.fromhex("827e0100") + payload


def test_64_kib_binary_uses_the_64_bit_length() -> None:
    # RFC 6455 §5.7: "64KiB binary message in a single unmasked frame"
    payload = bytes(65536)
    assert data_frame(2, payload) == bytes.fromhex("827f0000000000010000") + payload


@pytest.mark.parametrize(
    ("length", "header"), [(125, "817d"), (126, "817e007e"), (65535, "817effff")]
)
def test_length_boundaries(length: int, header: str) -> None:
    payload = b"a" * length
    assert data_frame(1, payload) == bytes.fromhex(header) + payload


def test_compressed_message_sets_rsv1() -> None:
    # RFC 7692 §7.2.3.1: "Hello" compressed, one frame: 0xc1 0x07 ...
    deflated = bytes.fromhex("f248cdc9c90700")
    assert data_frame(1, deflated, rsv=4) == bytes.fromhex("c107") + deflated
