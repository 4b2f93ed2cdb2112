"""Frozen events passed between the wire protocols and the version-neutral ASGI cycles.

Wire protocols (HTTP/1.1, HTTP/2) turn parser output into these, and the cycle in
``asgid.asgi.http`` turns the app's ASGI messages back into them; neither side knows the
other's HTTP version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Request:
    """A request head as parsed off the wire (the cycle builds the ASGI scope from it)."""

    stream_id: int
    http_version: str
    method: bytes
    raw_path: bytes
    query_string: bytes
    headers: Headers
    authority: bytes | None = None  # HTTP/2 ``:authority``; HTTP/1.1 carries it as ``host``


@dataclass(frozen=True, slots=True)
class Response:
    """The response head, with the first body chunk when the app sent one right away.

    Joining head and first chunk lets a wire protocol write a small response in one
    transport write (and choose Content-Length over chunked when ``end_stream``).
    """

    stream_id: int
    status: int
    headers: Headers
    body: bytes = b""
    end_stream: bool = False
    trailers: bool = False
    has_body: bool = field(default=False)  # the app already sent its first body message


@dataclass(frozen=True, slots=True)
class Body:
    """A chunk of body (request or response, depending on direction)."""

    stream_id: int
    data: bytes
    end_stream: bool = False


@dataclass(frozen=True, slots=True)
class Trailers:
    """Trailing header fields sent after the last body chunk."""

    stream_id: int
    headers: Headers


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The stream is over for good; ``complete`` is False when it ended abnormally."""

    stream_id: int
    complete: bool = True


ResponseEvent = Response | Body | Trailers | StreamClosed
