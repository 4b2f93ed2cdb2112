"""Handlers for ``h2`` events, one small function per event type, and their dispatch table.

Each handler translates one event into calls on the ``H2Protocol`` (streams, flow
control, flood budgets); none of them writes to the transport: the protocol flushes once
after the whole batch of events a read produced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    PriorityUpdated,
    RemoteSettingsChanged,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from h2.settings import SettingCodes

from asgid.protocols.http2.headers import declared_length, malformed, request_from_headers
from asgid.protocols.http2.websocket import is_websocket_connect

if TYPE_CHECKING:
    from h2.connection import H2Connection

    from asgid.config import Config
    from asgid.events import Request
    from asgid.protocols.http2.flow import FlowScheduler
    from asgid.protocols.http2.guard import FloodGuard
    from asgid.protocols.http2.stream import H2Stream
    from asgid.protocols.io.context import ServerContext

logger = logging.getLogger("asgid.protocols.http2.protocol")


class Connection(Protocol):
    """What the handlers use of ``H2Protocol``, declared here so as not to import it."""

    ctx: ServerContext
    config: Config
    h2: H2Connection
    flow: FlowScheduler
    guard: FloodGuard
    streams: dict[int, H2Stream]
    reset_ahead: frozenset[int] | set[int]
    goaway_sent: bool

    def open_stream(self, request: Request, *, ended: bool) -> None: ...
    def open_websocket_stream(self, request: Request) -> None: ...
    def forget(self, stream: H2Stream) -> None: ...
    def gone(self, stream: H2Stream) -> None: ...
    def maybe_finish_shutdown(self) -> None: ...
    def close_transport(self) -> None: ...


def on_request(proto: Connection, event: RequestReceived) -> None:
    stream_id = event.stream_id
    if stream_id in proto.reset_ahead:
        return  # the peer's RST_STREAM follows in the same read: h2 has closed it already
    if proto.goaway_sent or proto.ctx.shutting_down:
        # RFC 9113 §6.8: streams after our GOAWAY are refused, the client may retry them.
        proto.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
        return
    if _over_stream_limit(proto):
        # RFC 9113 §5.1.2: a stream error; the client may retry it. Refusing costs us
        # about what a reset does, so it spends the rapid-reset budget (CVE-2023-44487).
        proto.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
        proto.guard.resets.spend(proto.guard.now())
        _rejected(proto, 503)  # refused for load, as --limit-concurrency's 503
        return
    fields = event.headers or []
    reason, length = _request_problem(fields, ended=event.stream_ended is not None)
    if reason is not None:
        _malformed(proto, stream_id, reason)
        return
    request = request_from_headers(stream_id, fields)
    if request is not None and request.method == b"CONNECT" and is_websocket_connect(fields):
        proto.open_websocket_stream(request)
        return
    if request is None:
        proto.h2.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
        _rejected(proto, 400)
        return
    proto.open_stream(request, ended=event.stream_ended is not None)
    stream = proto.streams.get(stream_id)
    if stream is not None:
        stream.declared_length = length
    priority = event.priority_updated
    if priority is not None:
        on_priority(proto, priority)


def _request_problem(
    fields: list[tuple[bytes, bytes]], *, ended: bool
) -> tuple[str | None, int | None]:
    """Why a request's header block is malformed (or None), and its content-length."""
    reason = malformed(fields)
    if reason is not None:
        return reason, None
    try:
        length = declared_length(fields)
    except ValueError as exc:
        return str(exc), None
    if length and ended:
        return f"content-length {length} but the request has no DATA", None
    return None, length


def _malformed(proto: Connection, stream_id: int, reason: str) -> None:
    """RFC 9113 §8.1.1: a malformed request is a stream error (RST_STREAM PROTOCOL_ERROR);
    the connection keeps serving. Each one spends the reset budget, as a refusal does."""
    logger.debug("HTTP/2 stream %d malformed: %s", stream_id, reason)
    proto.h2.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
    stream = proto.streams.get(stream_id)
    if stream is not None:
        proto.gone(stream)
    proto.guard.resets.spend(proto.guard.now())
    _rejected(proto, 400)


def _rejected(proto: Connection, status: int) -> None:
    """Count a refused request under the HTTP status HTTP/1.1 would have answered."""
    if proto.ctx.hooks is not None:
        proto.ctx.hooks.rejected(status)


def on_trailers(proto: Connection, event: TrailersReceived) -> None:
    # The fields are dropped (asgid gives apps no request trailers), but a malformed
    # trailer section still makes the request malformed (RFC 9113 §8.1).
    reason = malformed(event.headers or [], trailer=True)
    if reason is not None and event.stream_id is not None:
        _malformed(proto, event.stream_id, reason)


def _over_stream_limit(proto: Connection) -> bool:
    """Are as many client streams open as SETTINGS_MAX_CONCURRENT_STREAMS allows?

    Counted from our streams, not h2's: h2 has already opened every stream of this read.
    """
    limit = proto.config.h2_max_concurrent_streams
    return sum(stream_id & 1 for stream_id in proto.streams) >= limit


def on_data(proto: Connection, event: DataReceived) -> None:
    stream = proto.streams.get(event.stream_id)
    data = event.data or b""
    credit = event.flow_controlled_length or 0
    if not data and event.stream_ended is None:
        proto.guard.empty_data.spend(proto.guard.now())
    if stream is not None and stream.websocket is not None:
        stream.websocket.data_received(data, credit)
        return
    if stream is not None:
        stream.body_bytes += len(data)
        declared = stream.declared_length
        if declared is not None and stream.body_bytes > declared:
            # RFC 9113 §8.1.1: more DATA than the content-length said is a stream error.
            if credit:
                proto.h2.acknowledge_received_data(credit, event.stream_id)
            _malformed(proto, event.stream_id, f"DATA goes past content-length {declared}")
            return
    if stream is None or stream.done or stream.cycle is None or not data:
        # Nobody will read it: give the credit back now.
        if credit:
            proto.h2.acknowledge_received_data(credit, event.stream_id)
        return
    if credit > len(data):
        proto.h2.acknowledge_received_data(credit - len(data), event.stream_id)  # padding
    limit = proto.config.max_request_body_bytes
    if limit and stream.body_bytes > limit:
        _body_too_large(proto, stream, credit)
        return
    stream.cycle.feed_body(data)


def _body_too_large(proto: Connection, stream: H2Stream, credit: int) -> None:
    """--max-request-body: 413 while the response has not started, else RST_STREAM."""
    proto.h2.acknowledge_received_data(credit, stream.stream_id)
    assert stream.cycle is not None
    _rejected(proto, 413)
    if not stream.cycle.respond_error(413, b"Content Too Large"):
        proto.h2.reset_stream(stream.stream_id, ErrorCodes.CANCEL)
        proto.gone(stream)


def on_stream_ended(proto: Connection, event: StreamEnded) -> None:
    stream = proto.streams.get(event.stream_id)
    if stream is None:
        return
    if stream.websocket is not None:
        stream.websocket.stream_ended()
    elif stream.cycle is not None:
        declared = stream.declared_length
        if declared is not None and stream.body_bytes != declared:
            # RFC 9113 §8.1.1: a body shorter than its content-length is a stream error.
            reason = f"{stream.body_bytes} bytes of DATA, content-length {declared}"
            _malformed(proto, event.stream_id, reason)
            return
        stream.cycle.feed_end()


def on_reset(proto: Connection, event: StreamReset) -> None:
    # The peer's RST_STREAM frames were counted before h2 parsed them (guard.count_frames).
    stream = proto.streams.get(event.stream_id)
    if stream is not None:
        proto.forget(stream)
        stream.client_gone()
    proto.maybe_finish_shutdown()


def on_window(proto: Connection, event: WindowUpdated) -> None:
    proto.flow.windows_opened(event.stream_id or None)


def on_settings(proto: Connection, event: RemoteSettingsChanged) -> None:
    if SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
        proto.flow.windows_opened(None)


def on_priority(proto: Connection, event: PriorityUpdated) -> None:
    proto.guard.priorities.spend(proto.guard.now())
    if event.stream_id is not None:
        proto.flow.prioritize(
            event.stream_id, event.depends_on or 0, event.weight or 16, bool(event.exclusive)
        )


def on_terminated(proto: Connection, event: ConnectionTerminated) -> None:
    # h2 refuses every frame after the peer's GOAWAY, so open streams cannot finish.
    logger.debug("peer sent GOAWAY (%s)", event.error_code)
    proto.close_transport()


DISPATCH: dict[type[Event], Callable[[Connection, Any], None]] = {
    RequestReceived: on_request,
    DataReceived: on_data,
    StreamEnded: on_stream_ended,
    StreamReset: on_reset,
    TrailersReceived: on_trailers,
    WindowUpdated: on_window,
    RemoteSettingsChanged: on_settings,
    PriorityUpdated: on_priority,
    ConnectionTerminated: on_terminated,
}
