"""What a stream may send besides its response: 103 Early Hints (RFC 8297) and server push
(RFC 9113 §8.4), each a frame or two on the stream's connection."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from h2.exceptions import H2Error

from asgid.events import Request

if TYPE_CHECKING:
    from h2.connection import H2Connection

    from asgid.events import EarlyHints
    from asgid.types import Scope

logger = logging.getLogger(__name__)


class PushOwner(Protocol):
    """What these use of the stream's ``H2Protocol``, declared here so as not to import it."""

    h2: H2Connection
    closed: bool  # no more frames go out
    goaway_sent: bool

    def open_stream(self, request: Request, *, ended: bool) -> None: ...
    def flush(self) -> None: ...


def send_early_hints(proto: PushOwner, stream_id: int, event: EarlyHints) -> None:
    """RFC 8297 over HTTP/2: an interim HEADERS frame with ``:status 103``, stream open."""
    if proto.closed:
        return
    headers = [(b":status", b"103"), *((n.lower(), v) for n, v in event.headers)]
    try:
        proto.h2.send_headers(stream_id, headers, end_stream=False)
    except H2Error as exc:
        logger.debug("103 Early Hints on stream %d not possible: %s", stream_id, exc)
        return
    proto.flush()


def push(
    proto: PushOwner, stream_id: int, scope: Scope, path: str, headers: list[tuple[bytes, bytes]]
) -> None:
    """Server push: PUSH_PROMISE on ``stream_id``, then serve the promised GET like a request."""
    h2 = proto.h2
    if proto.closed or proto.goaway_sent or not h2.remote_settings.enable_push:
        return
    authority = next((value for name, value in scope["headers"] if name == b"host"), b"")
    target = path.encode("utf-8")
    promised = h2.get_next_available_stream_id()
    pseudo = [(b":method", b"GET"), (b":path", target), (b":scheme", scope["scheme"].encode())]
    try:
        h2.push_stream(stream_id, promised, [*pseudo, (b":authority", authority), *headers])
    except H2Error as exc:
        logger.debug("push of %s not possible: %s", path, exc)
        return
    raw_path, _, query = target.partition(b"?")
    request = Request(promised, "2", b"GET", raw_path, query, list(headers), authority)
    proto.open_stream(request, ended=True)
    proto.flush()
