"""Pure HTTP/1.1 head rules: what a request head may be, and how a response body is framed.

Everything here takes bytes and returns a verdict; nothing touches a transport. llhttp
(in the lenient build httptools ships) accepts several request-line spaces and does not
bound chunk extensions or trailer fields; a server in front of or behind a proxy that
parses differently is how request smuggling starts (RFC 9112 §11.2), so these gaps are
closed here rather than left to the app.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import httptools

from asgid.protocols.http1.errors import RejectRequest

Headers = list[tuple[bytes, bytes]]

# RFC 3986 §3.2.2 host (reg-name, IPv4 or an IP-literal) plus an optional port: what the
# Host field may hold (RFC 9112 §3.2: anything else is answered with 400).
_HOST = re.compile(rb"[A-Za-z0-9\-._~%!$&'()*+,;=]*(?::[0-9]*)?|\[[0-9A-Fa-f:.vV]+\](?::[0-9]*)?")

# Bytes a chunked body may spend on framing beyond its data (RFC 9112 §7.1.1 lets a
# server limit chunk extensions; trailer fields count here too): a fixed allowance per
# chunk for the size line and CRLFs, plus one allowance per request for extensions.
CHUNK_LINE_BYTES = 32
CHUNK_EXTRA_BYTES = 16 * 1024

OWS = b" \t"  # optional whitespace around a field value (RFC 9110 §5.6.3)


# A server sees the same few Host values again and again; one that matched is remembered
# (up to a bound, so a client sending invented names cannot grow it).
HOSTS_SEEN: set[bytes] = set()
HOSTS_SEEN_MAX = 256


def valid_host(value: bytes) -> bool:
    if value in HOSTS_SEEN:
        return True
    if _HOST.fullmatch(value) is None:
        return False
    if len(HOSTS_SEEN) < HOSTS_SEEN_MAX:
        HOSTS_SEEN.add(value)
    return True


# What follows a method on a request line as llhttp reads it: spaces, target, spaces, version.
_AFTER_METHOD = re.compile(rb"( +)([^ \r\n]+)( +)HTTP/")


def loose_request_line(data: bytes, method: bytes, target: bytes) -> bool:
    """Whether the request line for ``method``/``target`` in ``data`` has more than one
    space between its parts (RFC 9112 §3: exactly one SP). ``data`` holds the head's
    bytes, possibly with earlier or later bytes of the connection around it.

    The line is looked for anywhere, not only at a line start: after a Content-Length
    body that does not end in a newline, a pipelined head starts mid-line. A loose copy
    of this very line elsewhere (in an earlier body) is refused too: no client needs it.
    """
    if data.find(b"  ") < 0:
        # The usual case: one scan, no further work. (``find``: on Python 3.11 ``in`` on
        # bytes first tries the needle as an int and raises and clears a TypeError.)
        return False
    needle = method + b" "
    at = data.find(needle)
    while at >= 0:
        found = _AFTER_METHOD.match(data, at + len(method))
        if (
            found is not None
            and found.group(2) == target
            and (len(found.group(1)) > 1 or len(found.group(3)) > 1)
        ):
            return True
        at = data.find(needle, at + 1)
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


def after_head(received: bytes, method: bytes, target: bytes) -> int:
    """How many bytes of ``received`` follow the end of the head whose request line is
    ``method``/``target`` (not fewer: an earlier copy of that line only moves its end up).

    For a chunked body's first read, which may also hold earlier pipelined requests."""
    start = received.find(method + b" " + target + b" HTTP/")
    end = received.find(b"\r\n\r\n", max(start, 0))
    return len(received) - end - 4 if end >= 0 else 0


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


def split_target(url: bytes) -> tuple[bytes, bytes]:
    """A request target as (path, query); origin form is the common case (RFC 9112 §3.2)."""
    if url.find(b"#") >= 0:  # not ``in``: see loose_request_line
        url = url.split(b"#", 1)[0]  # a fragment is the client's business (RFC 9110 §4.2.5)
    if url[:1] == b"/":
        path, _, query = url.partition(b"?")
        return path, query
    if url == b"*":
        return b"*", b""
    # Absolute form (``http://host/p?q``)
    try:
        parsed: Any = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        raise RejectRequest(400, "Bad Request: invalid request target") from None
    return parsed.path or b"/", parsed.query or b""


def check_head_size(headers: Headers, *, max_headers: int, max_bytes: int, bytes_read: int) -> None:
    """431 past ``--limit-request-headers`` fields or ``--limit-request-header-size`` bytes.

    ``bytes_read`` (what arrived while the head was read) bounds its size from above, so
    the fields are counted exactly only when it is past the limit.
    """
    if len(headers) > max_headers:
        raise RejectRequest(431, "Request Header Fields Too Large")
    if bytes_read > max_bytes:
        if sum(len(name) + len(value) + 4 for name, value in headers) > max_bytes:
            raise RejectRequest(431, "Request Header Fields Too Large")


def check_head(version: str, watched: Headers | None) -> bool:
    """What llhttp lets through but HTTP/1.1 forbids (RFC 9112 §2.3, §3.2, §6.1); returns
    whether the body is chunked. ``watched`` holds only the fields the wire acts on."""
    if version != "1.1" and version != "1.0":
        raise RejectRequest(505, "HTTP Version Not Supported")
    hosts = 0
    chunked = False
    for name, value in watched or ():
        if name == b"host":
            hosts += 1
            if value not in HOSTS_SEEN and not valid_host(value):
                raise RejectRequest(400, "Bad Request: invalid Host header field")
        elif name == b"transfer-encoding":
            if value.lower() != b"chunked":
                # Only chunked is decoded here; any other coding would reach the app raw.
                raise RejectRequest(501, "Not Implemented: transfer coding " + repr(value)[1:])
            if version == "1.0":
                # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
                # framing (an HTTP/1.0 proxy in front would not have decoded it).
                raise RejectRequest(400, "Bad Request: Transfer-Encoding in HTTP/1.0")
            chunked = True
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        raise RejectRequest(400, "Bad Request: exactly one Host header field is required")
    return chunked


class Framing(enum.Enum):
    """How the end of a response body is marked (RFC 9112 §6)."""

    NONE = "no body"  # HEAD, 1xx, 204, 304 (RFC 9110 §6.4.1)
    APP_LENGTH = "the app's Content-Length"
    LENGTH = "Content-Length of a body sent whole"
    CHUNKED = "chunked transfer coding"
    CLOSE = "the connection's end"  # HTTP/1.0 without a length


# Python 3.11's EnumType defines __getattr__, which makes every ``Framing.X`` lookup go
# through a slow attribute hook; the per-response code uses these module names instead.
FRAMING_NONE = Framing.NONE
FRAMING_APP_LENGTH = Framing.APP_LENGTH
FRAMING_LENGTH = Framing.LENGTH
FRAMING_CHUNKED = Framing.CHUNKED
FRAMING_CLOSE = Framing.CLOSE
