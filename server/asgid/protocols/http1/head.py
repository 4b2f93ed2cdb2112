"""Pure rules for HTTP/1.1 request heads that llhttp lets through but RFC 9112 forbids.

Everything here takes bytes and returns a verdict; nothing touches a transport. llhttp
(in the lenient build httptools ships) accepts several request-line spaces and does not
bound chunk extensions or trailer fields; a server in front of or behind a proxy that
parses differently is how request smuggling starts (RFC 9112 §11.2), so these gaps are
closed here rather than left to the app.
"""

from __future__ import annotations

import re

# RFC 3986 §3.2.2 host (reg-name, IPv4 or an IP-literal) plus an optional port: what the
# Host field may hold (RFC 9112 §3.2: anything else is answered with 400).
_HOST = re.compile(rb"[A-Za-z0-9\-._~%!$&'()*+,;=]*(?::[0-9]*)?|\[[0-9A-Fa-f:.vV]+\](?::[0-9]*)?")

# Bytes a chunked body may spend on framing beyond its data (RFC 9112 §7.1.1 lets a
# server limit chunk extensions; trailer fields count here too): a fixed allowance per
# chunk for the size line and CRLFs, plus one allowance per request for extensions.
CHUNK_LINE_BYTES = 32
CHUNK_EXTRA_BYTES = 16 * 1024

OWS = b" \t"


def strip_value(value: bytes) -> bytes:
    """A field value without leading or trailing whitespace (RFC 9110 §5.5)."""
    if value[:1] in (b" ", b"\t") or value[-1:] in (b" ", b"\t"):
        return value.strip(OWS)
    return value


def valid_host(value: bytes) -> bool:
    return _HOST.fullmatch(value) is not None


def loose_request_line(data: bytes, method: bytes, target: bytes) -> bool:
    """Whether the request line for ``method``/``target`` in ``data`` has more than one
    space between its parts (RFC 9112 §3: exactly one SP). ``data`` holds the head's
    bytes, possibly with earlier or later bytes of the connection around it."""
    if b"  " not in data:
        return False  # the usual case: one scan, no further work
    for needle in (method + b"  ", method + b" " + target + b"  "):
        if data.startswith(needle) or b"\n" + needle in data:
            return True
    return False


def request_line_start(received: bytes, method: bytes) -> int:
    """Where the request head that ``received`` ends with starts.

    A head holds no empty line before its end, so it starts after the last one before
    that (the end of an earlier pipelined head or chunked body). Past that point, a line
    starting with the method and a space can only be the request line: a field line with
    a space in its name is refused by the parser and field values never start a line, so a
    header value holding ``GET `` does not move the start. Without a line start (a
    Content-Length body ending without a newline), the first method after that point is it.
    """
    floor = 0
    if received.endswith(b"\r\n\r\n"):
        last = received.rfind(b"\r\n\r\n", 0, len(received) - 4)
        floor = last + 4 if last >= 0 else 0
    line = received.rfind(b"\n" + method + b" ", floor)
    if line >= 0:
        return line + 1
    found = received.find(method + b" ", floor)
    return found if found >= 0 else floor


class ChunkFraming:
    """Counts what a chunked request body spends on size lines, extensions and trailers."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = CHUNK_EXTRA_BYTES

    def chunk(self) -> None:
        self.left += CHUNK_LINE_BYTES

    def read(self, size: int, body: int) -> bool:
        """Account for one read of ``size`` bytes of which ``body`` were chunk data; False
        once framing went over its allowance."""
        self.left -= size - body
        return self.left >= 0
