"""The frames asgid handles itself around Autobahn (RFC 6455 §5.2).

Sending: a whole message from the server, unmasked. Autobahn's ``sendFrame`` covers
fuzzing options (repeated payloads, masking, frame logs) that a server's data frame never
needs; building the few header bytes here is most of what sending a small message costs
otherwise.

Reading: the common frame only, a whole unfragmented text or binary message from the
client, masked, without RSV bits, with a 7- or 16-bit length, complete in the read buffer.
Autobahn's parser spends about five Python calls and a new masker object on each such
frame; ``read_message`` reads it in one call and answers ``None`` for everything else
(control frames, fragments, RSV bits, unmasked frames, 64-bit or non-minimal lengths,
payloads over the limit, invalid UTF-8, a frame not yet complete), which Autobahn's
parser then reads from the same byte with its own checks and close codes. So what this
module accepts is a subset of what Autobahn accepts, delivered as Autobahn would deliver
it; ``tests/test_websocket_fast_read.py`` holds both readers to the same output.
"""

from __future__ import annotations

import struct

from autobahn.websocket.xormasker import create_xor_masker  # type: ignore[attr-defined]

_FIN = 0x80
_LENGTH_16 = struct.Struct("!BBH").pack
_LENGTH_64 = struct.Struct("!BBQ").pack

_TEXT = 0x81  # FIN, no RSV bits, opcode 1
_BINARY = 0x82  # FIN, no RSV bits, opcode 2
# Up to this payload length one XOR of two Python ints unmasks fastest; above it
# Autobahn's vectorised masker does (measured: equal at about 2 KiB).
_INT_UNMASK_MAX = 1024
MAX_FAST_LENGTH = 0xFFFF  # 64-bit lengths are left to Autobahn


def data_frame(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    """A final (FIN) frame carrying ``payload``; ``rsv`` 4 marks a compressed message
    (RFC 7692 §6). A server never masks its frames (RFC 6455 §5.1)."""
    first = _FIN | rsv << 4 | opcode
    length = len(payload)
    if length <= 125:
        return bytes((first, length)) + payload
    if length <= 0xFFFF:
        return _LENGTH_16(first, 126, length) + payload
    return _LENGTH_64(first, 127, length) + payload


def frame_head(opcode: int, length: int, rsv: int = 0) -> bytes:
    """The header ``data_frame`` puts before a payload of ``length`` bytes, on its own."""
    first = _FIN | rsv << 4 | opcode
    if length <= 125:
        return bytes((first, length))
    if length <= 0xFFFF:
        return _LENGTH_16(first, 126, length)
    return _LENGTH_64(first, 127, length)


def unmask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR the 4-byte masking ``key`` repeated (RFC 6455 §5.3)."""
    length = len(payload)
    if length > _INT_UNMASK_MAX:
        masker = create_xor_masker(key, length)  # type: ignore[no-untyped-call]  # Autobahn's, native
        return masker.process(payload)  # type: ignore[no-any-return]
    repeated = (key * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        length, "little"
    )


def read_message(data: bytes, start: int, limit: int) -> tuple[str | bytes, int] | None:
    """The message in the plain frame at ``data[start:]`` and the index after that frame.

    Text comes back decoded (it is valid UTF-8, RFC 6455 §8.1), binary as bytes. ``limit``
    is the largest payload taken here, at most ``MAX_FAST_LENGTH``; ``None`` means the
    frame is not a plain one, or not all there yet: Autobahn reads it.
    """
    available = len(data) - start
    if available < 6:
        return None
    first = data[start]
    if first != _TEXT and first != _BINARY:
        return None
    length = data[start + 1] ^ 0x80  # MASK set: the 7-bit length; clear: 128 or more
    if length < 126:
        payload_at = start + 6
    elif length == 126 and available >= 8:
        length = data[start + 2] << 8 | data[start + 3]
        if length < 126:
            return None  # not the minimal length encoding: Autobahn fails it (1002)
        payload_at = start + 8
    else:
        return None  # a 64-bit length, an unmasked frame or a length not all here yet
    end = payload_at + length
    if length > limit or end > len(data):
        return None
    if length > _INT_UNMASK_MAX:
        payload = unmask(data[payload_at:end], data[payload_at - 4 : payload_at])
    else:  # unmask's small case, without a call
        key = data[payload_at - 4 : payload_at] * (length // 4 + 1)
        payload = (
            int.from_bytes(data[payload_at:end], "little") ^ int.from_bytes(key[:length], "little")
        ).to_bytes(length, "little")
    if first == _BINARY:
        return payload, end
    try:
        return payload.decode("utf-8"), end
    except UnicodeDecodeError:
        return None  # Autobahn's validator fails it (1007) with its own reason
