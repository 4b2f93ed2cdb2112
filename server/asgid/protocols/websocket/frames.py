"""The one frame asgid builds itself: a whole message from the server, unmasked (RFC 6455 §5.2).

Autobahn's ``sendFrame`` covers fuzzing options (repeated payloads, masking, frame logs)
that a server's data frame never needs; building the few header bytes here is most of
what sending a small message costs otherwise. Everything else (control frames, reading)
stays with Autobahn.
"""

from __future__ import annotations

import struct

_FIN = 0x80
_LENGTH_16 = struct.Struct("!BBH").pack
_LENGTH_64 = struct.Struct("!BBQ").pack


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
