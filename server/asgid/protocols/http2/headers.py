"""HTTP/2 header lists to ``Request`` events, and ``Response`` events to header lists.

Pseudo-headers, cookie joining and connection-specific fields follow RFC 9113 §8.2-8.3.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from h2.exceptions import ProtocolError
from h2.utilities import HeaderValidationFlags, validate_headers

from asgid.events import Request, Response
from asgid.protocols.io.headers import DefaultFields

_REQUEST = HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=False, is_push_promise=False
)
_TRAILER = _REQUEST._replace(is_trailer=True)

STATUS = {s.value: str(s.value).encode() for s in HTTPStatus}

# RFC 9113 §8.2.2: connection-specific fields must not appear in an HTTP/2 message.
CONNECTION_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)


def malformed(fields: Iterable[tuple[bytes, bytes]], *, trailer: bool = False) -> str | None:
    """Why a received header block is malformed (RFC 9113 §8.2, §8.3), or None if it is not.

    h2 runs the same checks itself when asked, but reports a failure as a connection error;
    RFC 9113 §8.1.1 makes a malformed request a stream error, so the handlers run them and
    reset just that stream.
    """
    try:
        for _ in validate_headers(fields, _TRAILER if trailer else _REQUEST):
            pass
    except ProtocolError as exc:
        return str(exc)
    return None


def declared_length(fields: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The request's ``content-length`` (None without one).

    Raises ``ValueError`` naming the problem for a value that is not 1*DIGIT (RFC 9110
    §8.6) or for two that differ: a malformed request (RFC 9113 §8.1.1).
    """
    length: int | None = None
    for name, value in fields:
        if name != b"content-length":
            continue
        if not value.isdigit():
            raise ValueError(f"content-length is no number: {value!r:.40}")
        if length is not None and int(value) != length:
            raise ValueError(f"two different content-length values: {length} and {int(value)}")
        length = int(value)
    return length


def request_from_headers(stream_id: int, fields: Iterable[tuple[bytes, bytes]]) -> Request | None:
    """The request a validated HEADERS block stands for; None without :method or :path."""
    method = raw_path = authority = None
    query = b""
    headers: list[tuple[bytes, bytes]] = []
    cookies: list[bytes] = []
    for name, value in fields:
        if name[:1] == b":":
            if name == b":method":
                method = value
            elif name == b":path":
                raw_path, _, query = value.partition(b"?")
            elif name == b":authority":
                authority = value
        elif name == b"cookie":
            cookies.append(value)
        else:
            headers.append((name, value))
    if cookies:
        # RFC 9113 §8.2.3: split cookie fields are joined for the application.
        headers.append((b"cookie", b"; ".join(cookies)))
    if method is None or raw_path is None:
        return None
    return Request(stream_id, "2", method, raw_path, query, headers, authority)


def response_headers(
    event: Response, defaults: DefaultFields, *, bodiless: bool
) -> list[tuple[bytes, bytes]]:
    """``:status`` first, names lower-cased, connection-specific fields dropped, and
    ``server``/``date``/``content-length`` added when the app left them out."""
    headers = [(b":status", STATUS.get(event.status) or str(event.status).encode())]
    has_server = has_date = has_length = False
    for name, value in event.headers:
        name = name.lower()
        if name in CONNECTION_HEADERS:
            continue
        if name == b"server":
            has_server = True
        elif name == b"date":
            has_date = True
        elif name == b"content-length":
            has_length = True
        headers.append((name, value))
    headers += defaults.fields(server=not has_server, date=not has_date)
    if event.end_stream and not has_length and not bodiless:
        headers.append((b"content-length", b"%d" % len(event.body)))
    return headers
