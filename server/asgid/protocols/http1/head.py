"""Pure HTTP/1.1 head rules: what a request head may be, and how a response body is framed.

No I/O and no connection state: each function decides from its arguments, so the rules
read (and test) apart from the protocol that applies them.
"""

from __future__ import annotations

import enum
from typing import Any

import httptools

from asgid.protocols.http1.errors import RejectRequest

Headers = list[tuple[bytes, bytes]]


def split_target(url: bytes) -> tuple[bytes, bytes]:
    """A request target as (path, query); origin form is the common case (RFC 9112 §3.2)."""
    if b"#" in url:
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


def check_head_size(
    headers: Headers, *, max_headers: int, max_bytes: int, bytes_read: int
) -> None:
    """431 past ``--limit-request-headers`` fields or ``--limit-request-header-size`` bytes.

    ``bytes_read`` (what arrived while the head was read) bounds its size from above, so
    the fields are counted exactly only when it is past the limit.
    """
    if len(headers) > max_headers:
        raise RejectRequest(431, "Request Header Fields Too Large")
    if bytes_read > max_bytes:
        if sum(len(name) + len(value) + 4 for name, value in headers) > max_bytes:
            raise RejectRequest(431, "Request Header Fields Too Large")


def check_head(version: str, watched: Headers | None) -> None:
    """What llhttp lets through but HTTP/1.1 forbids (RFC 9112 §2.3, §3.2, §6.1).

    ``watched`` holds only the fields the wire acts on (Host, Transfer-Encoding, ...).
    """
    if version != "1.1" and version != "1.0":
        raise RejectRequest(505, "HTTP Version Not Supported")
    hosts = 0
    for name, value in watched or ():
        if name == b"host":
            hosts += 1
        elif name == b"transfer-encoding" and value.strip().lower() != b"chunked":
            # Only chunked is decoded here; any other coding would reach the app raw.
            raise RejectRequest(501, "Not Implemented: transfer coding " + repr(value)[1:])
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        raise RejectRequest(400, "Bad Request: exactly one Host header field is required")


class Framing(enum.Enum):
    """How the end of a response body is marked (RFC 9112 §6)."""

    NONE = "no body"  # HEAD, 1xx, 204, 304 (RFC 9110 §6.4.1)
    APP_LENGTH = "the app's Content-Length"
    LENGTH = "Content-Length of a body sent whole"
    CHUNKED = "chunked transfer coding"
    CLOSE = "the connection's end"  # HTTP/1.0 without a length


def response_framing(
    status: int, *, head: bool, http10: bool, app_length: bool, whole: bool
) -> Framing:
    """The framing of a response: ``app_length`` when the app set Content-Length, ``whole``
    when its first body message was also its last."""
    if head or status < 200 or status == 204 or status == 304:
        return Framing.NONE
    if app_length:
        return Framing.APP_LENGTH
    if whole:
        return Framing.LENGTH
    return Framing.CLOSE if http10 else Framing.CHUNKED
