"""Immutable events passed between the wire protocols and the version-neutral ASGI cycles.

Wire protocols (HTTP/1.1, HTTP/2) turn parser output into these, and the cycle in
``asgid.asgi.http`` turns the app's ASGI messages back into them; neither side knows the
other's HTTP version.

They are ``NamedTuple`` records rather than frozen dataclasses: three are built per
request, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field)
measured about 1 µs each against 0.3 µs for a tuple — a visible share of a hello-world
request. They are just as immutable.
"""

from __future__ import annotations

from typing import NamedTuple

Headers = list[tuple[bytes, bytes]]


class Request(NamedTuple):
    """A request head as parsed off the wire (the cycle builds the ASGI scope from it)."""

    stream_id: int
    http_version: str
    method: bytes
    raw_path: bytes
    query_string: bytes
    headers: Headers
    authority: bytes | None = None  # HTTP/2 ``:authority``; HTTP/1.1 carries it as ``host``


class Response(NamedTuple):
    """The response head, with the first body chunk when the app sent one right away.

    Joining head and first chunk lets a wire protocol write a small response in one
    transport write (and choose Content-Length over chunked when ``end_stream``).
    """

    stream_id: int
    status: int
    headers: Headers
    body: bytes = b""
    end_stream: bool = False


class Body(NamedTuple):
    """A chunk of body (request or response, depending on direction)."""

    stream_id: int
    data: bytes
    end_stream: bool = False


class Trailers(NamedTuple):
    """Trailing header fields sent after the last body chunk."""

    stream_id: int
    headers: Headers


class StreamClosed(NamedTuple):
    """The app instance is over and its response was cut short (``complete`` False), or
    its client stopped reading (``stalled``); a complete response sends no such event.

    ``stalled``: the client took nothing for ``--send-timeout``; drop what is still queued
    for it (RST_STREAM CANCEL, or an aborted HTTP/1.1 connection) instead of flushing it.
    """

    stream_id: int
    complete: bool = True
    stalled: bool = False


class EarlyHints(NamedTuple):
    """An interim ``103 Early Hints`` (RFC 8297): ``link`` fields sent before the response."""

    stream_id: int
    headers: Headers


ResponseEvent = Response | Body | Trailers | StreamClosed | EarlyHints

# ``new_event(Response, (fields...))`` builds an event without the class's generated
# ``__new__``, a Python-level call that costs twice the tuple it makes (measured: 1.8k
# against 3.3k CPU instructions). The per-request paths use it and give every field,
# defaults included.
new_event = tuple.__new__
