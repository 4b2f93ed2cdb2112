"""Pure checks and bytes for the WebSocket opening handshake, before and beside Autobahn.

Why the head is checked twice: llhttp (our HTTP/1.1 parser) decided what the request
says, and Autobahn re-parses the same bytes with ``bytes.decode("latin-1").splitlines()``
and ``str.strip()``. Those split lines on \\x0b \\x0c \\x1c \\x1d \\x1e \\x85 and strip
\\x1c-\\x1f \\x85 \\xa0 too, where llhttp sees one header value. A head on which the two
could disagree is refused with 400 before Autobahn reads it, so only one view of the
request ever counts (the parser differential behind Daphne's header smuggling,
CVE-2026-44546).
"""

from __future__ import annotations

import re
from http import HTTPStatus

from asgid.events import Headers
from asgid.protocols.io.headers import date_header

# C0 controls except HTAB, DEL and NEL (\x85): every one of them is either refused by
# RFC 9110 §5.5 or a line break to ``str.splitlines``. CR and LF are only legal as the
# CRLF pairs the head is split on (RFC 9112 §2.2: a bare CR is invalid).
_BAD_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f\x85]").search


def head_problem(head: bytes) -> str | None:
    """Why Autobahn might read ``head`` differently from llhttp, or None when it cannot."""
    if not head.endswith(b"\r\n\r\n"):
        return "the request head does not end with CRLF CRLF"
    lines = head[:-4].split(b"\r\n")
    for number, line in enumerate(lines):
        bad = _BAD_BYTE(line)
        if bad is not None:
            return f"byte {bad.group()!r} in line {number + 1} of the request head"
        if number == 0:
            continue
        if line[:1] in (b" ", b"\t"):
            return "obsolete line folding in the request head (RFC 9112 §5.2)"
        name, colon, value = line.partition(b":")
        if not colon:
            return f"header line {number + 1} has no colon"
        if name.decode("latin-1").strip() != name.decode("latin-1"):
            return f"whitespace around header name {name!r}"
        # str.strip() also removes \x1c-\x1f, \x85 and \xa0; OWS is only SP and HTAB.
        if value.decode("latin-1").strip() != value.strip(b" \t").decode("latin-1"):
            return f"unusual whitespace around the value of header {name!r}"
    return None


def http_response_head(
    status: int, headers: Headers, server: bytes | None, content_length: int | None
) -> bytes:
    """An HTTP/1.1 response head that ends the connection (a refused handshake)."""
    try:
        phrase = HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        phrase = b""
    lines = [b"HTTP/1.1 %d %s" % (status, phrase)]
    names = set()
    for name, value in headers:
        lower = name.lower()
        if lower == b"connection":
            continue  # this response always ends the connection
        names.add(lower)
        lines.append(name + b": " + value)
    if b"date" not in names:
        lines.append(b"date: " + date_header.value())
    if server and b"server" not in names:
        lines.append(b"server: " + server)
    if content_length is not None and b"content-length" not in names:
        lines.append(b"content-length: %d" % content_length)
    lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"
