"""A small raw WebSocket frame writer/reader (RFC 6455 §5.2) for conformance tests.

Deliberately not a client library: it writes whatever frames a test asks for, including
invalid ones (reserved bits, bad opcodes, oversized control frames), and reads the
server's frames back without interpreting them.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    key: bytes | None = None,
) -> bytes:
    """One frame exactly as asked (a client must mask: §5.3); a random ``key`` unless given."""
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    if key is None:
        key = os.urandom(4)
    return head + key + _mask(payload, key)


def _mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def deflate(data: bytes) -> bytes:
    """permessage-deflate body (RFC 7692 §7.2.1: raw deflate, the 00 00 ff ff tail removed)."""
    compressor = zlib.compressobj(wbits=-15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def inflate(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=-15).decompress(data + b"\x00\x00\xff\xff")


def handshake_request(host: str, path: str = "/", extra: list[str] | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(extra or []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None


class RawSocket:
    """A TCP connection speaking raw frames; every read has a deadline."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""
        self.status = 0
        self.response_head = b""

    def __enter__(self) -> RawSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def open(self, path: str = "/", extra: list[str] | None = None) -> int:
        """Send a handshake; return the response status (101 when open)."""
        self.send(handshake_request("127.0.0.1", path, extra))
        return self.open_response()

    def open_response(self) -> int:
        """Read the handshake's response head; return its status."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        self.response_head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(self.response_head.split(b" ", 2)[1])
        return self.status

    def header(self, name: str) -> str | None:
        for line in self.response_head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buffer += data

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_frame(self) -> Frame:
        b0, b1 = self._take(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        key = self._take(4) if b1 & 0x80 else b""
        payload = self._take(length)
        if key:
            payload = _mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload)

    def read_until(self, opcode: int) -> Frame:
        """Skip frames (e.g. pings) until one with ``opcode`` arrives."""
        while True:
            got = self.read_frame()
            if got.opcode == opcode:
                return got

    def expect_close(self) -> int | None:
        """Read to the server's Close frame; answer it; return its code."""
        got = self.read_until(CLOSE)
        try:
            self.send(frame(CLOSE, got.payload[:2]))
        except OSError:
            pass
        return got.close_code

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True when the server ends the TCP connection within ``timeout``."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False
