"""RFC 8441 opening handshakes in the HTTP/1.1 form Autobahn insists on, and its answer back.

Why a translation at all: Autobahn's server side has one way in, ``processHandshake``,
which parses an HTTP/1.1 request head from the bytes it reads and needs a
``Sec-WebSocket-Key``; its answer (``succeedHandshake``/``failHandshake``) is HTTP/1.1
text written to the transport. There is no call that takes parsed fields or returns a
status and headers, so an extended CONNECT is handed over as the equivalent GET upgrade
(with a key nobody checks: on HTTP/2 there is no ``Sec-WebSocket-Accept``, RFC 8441 §5)
and the answer head is read back into a ``Response``. Both directions live here only.
"""

from __future__ import annotations

import base64
import os

from asgid.events import Request, Response

# Handshake fields Autobahn reads; anything else stays in the scope only.
_FORWARDED = (b"host", b"origin", b"sec-websocket-protocol", b"sec-websocket-extensions")
# Fields of Autobahn's 101 that mean nothing on an HTTP/2 stream (RFC 8441 §5).
_DROPPED = frozenset({b"sec-websocket-accept", b"upgrade", b"connection", b"content-length"})


def as_http1_handshake(request: Request) -> tuple[Request, bytes]:
    """The extended CONNECT ``request`` as the GET its scope describes, and that GET's
    upgrade head as Autobahn reads it (checked like any received head by the caller)."""
    headers = request.headers
    if request.authority is not None and not any(name == b"host" for name, _ in headers):
        headers = [(b"host", request.authority), *headers]  # RFC 9113 §8.3.1
    as_get = Request(
        request.stream_id, "2", b"GET", request.raw_path, request.query_string, headers
    )
    target = as_get.raw_path + (b"?" + as_get.query_string if as_get.query_string else b"")
    lines = [
        b"GET " + target + b" HTTP/1.1",
        b"upgrade: websocket",
        b"connection: Upgrade",
        b"sec-websocket-version: 13",
        b"sec-websocket-key: " + base64.b64encode(os.urandom(16)),
    ]
    lines += [b"%s: %s" % pair for pair in headers if pair[0] in _FORWARDED]
    return as_get, b"\r\n".join(lines) + b"\r\n\r\n"


def response_from_http1_head(head: bytes) -> Response:
    """Autobahn's answer head as a ``Response``: 101 becomes 200 (RFC 8441 §5), a refusal
    keeps its status; its body, if any, follows as stream data."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name and name not in _DROPPED:
            headers.append((name, value.strip()))
    return Response(0, 200 if status == 101 else status, headers)
