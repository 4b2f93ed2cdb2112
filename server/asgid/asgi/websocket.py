"""``WebSocketCycle``: one WebSocket's ASGI accept/reject/send/close state machine.

Theory of operation: the wire (HTTP/1.1 + Autobahn today, an RFC 8441 HTTP/2 stream
later) creates a cycle once the handshake request is known, feeds it complete messages
(``feed_text``, ``feed_bytes``) and, exactly once, the end (``disconnect``). The app's ``send()``
messages are checked against the state table below and turned into calls on the wire.
Incoming messages wait in a deque; past ``INBOX_HIGH_WATER`` bytes the cycle asks the
wire to stop reading until the app catches up, so a fast sender cannot make the server
buffer without bound while the app lags.

    CONNECTING --accept--> CONNECTED --close--> CLOSED
        |  \\--close--> CLOSED (HTTP 403)
        \\--http.response.start--> RESPONDING --body(last)--> CLOSED

Any state ends in DISCONNECTED when the wire reports the socket gone; ``send()`` then
raises ``ClientDisconnected`` (an ``OSError``, as ASGI spec 2.4 asks).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from asgid.asgi.headers import validate_headers
from asgid.asgi.send_timeout import sent_within
from asgid.errors import ClientDisconnected, ProtocolError, UnexpectedMessage

if TYPE_CHECKING:
    from asgid.events import Headers
    from asgid.types import Message, Scope

logger = logging.getLogger("asgid.app")

INBOX_HIGH_WATER = 1024 * 1024  # bytes of unread messages before the wire stops reading
INBOX_LOW_WATER = INBOX_HIGH_WATER // 4
MESSAGE_OVERHEAD = 64  # counted per queued message, so many empty messages also add up

# RFC 6455 §7.4.1/§7.4.2 and the IANA registry: codes an endpoint may put in a Close
# frame. 1004-1006 and 1015 are reserved and must never be sent.
_SENDABLE_CODES = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))
# RFC 6455 §4.2.2: the handshake response fields the server itself must get right.
_HANDSHAKE_HEADERS = frozenset(
    (
        b"upgrade",
        b"connection",
        b"sec-websocket-accept",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
        b"content-length",
        b"transfer-encoding",
    )
)


class WebSocketWire(Protocol):
    """What a wire protocol offers a WebSocket cycle."""

    def accept(self, subprotocol: str | None, headers: Headers) -> None: ...

    def deny(self, status: int, headers: Headers, body: bytes, end: bool) -> None:
        """Answer the handshake with a plain HTTP response (status 0: more body)."""

    def send_message(self, data: bytes, binary: bool) -> Awaitable[None] | None:
        """Queue one message; return something to await while the transport is congested."""

    def close(self, code: int, reason: bytes) -> None: ...

    def abort(self) -> None:
        """Drop the connection now, without a closing handshake."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class _FinishedWire:
    """The wire of a cycle whose app instance is over: nothing more goes anywhere.

    The cycle and its connection point at each other; dropping the wire when the app is
    done lets reference counting free both once the connection ends, instead of leaving
    a cycle per connection for the cyclic collector.
    """

    def accept(self, subprotocol: str | None, headers: Headers) -> None:
        pass

    def deny(self, status: int, headers: Headers, body: bytes, end: bool) -> None:
        pass

    def send_message(self, data: bytes, binary: bool) -> Awaitable[None] | None:
        return None

    def close(self, code: int, reason: bytes) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


FINISHED_WIRE = _FinishedWire()


class WSState(enum.Enum):
    CONNECTING = "awaiting websocket.accept, websocket.close or websocket.http.response.start"
    RESPONDING = "sending the denial response body"
    CONNECTED = "connected"
    CLOSED = "closed by the application or the server"


# Every message sent checks this state; a global is read much faster than ``WSState.X``,
# which Python 3.11's EnumType.__getattr__ sends through a slow attribute hook.
_CONNECTED = WSState.CONNECTED


def close_reason(reason: object) -> bytes:
    """The reason as UTF-8, cut at a character boundary to fit a Close frame (§5.5: 125)."""
    if reason is None:
        return b""
    if not isinstance(reason, str):
        raise ProtocolError(f"websocket.close 'reason' must be a str, got {reason!r:.60}")
    data = reason.encode("utf-8")
    if len(data) > 123:
        data = data[:123].decode("utf-8", "ignore").encode("utf-8")
    return data


class WebSocketCycle:
    """The ASGI side of one WebSocket connection."""

    __slots__ = (
        "scope",
        "state",
        "_wire",
        "_loop",
        "_send_timeout_s",
        "_connect_delivered",
        "_inbox",
        "_buffered",
        "_reading_paused",
        "_waiter",
        "_closed_by_peer",
        "_disconnect_delivered",
        "_status",
        "_headers",
    )

    def __init__(
        self,
        scope: Scope,
        wire: WebSocketWire,
        loop: asyncio.AbstractEventLoop,
        send_timeout_s: float = 0.0,
    ) -> None:
        self.scope = scope
        self.state = WSState.CONNECTING
        self._wire = wire
        self._loop = loop
        self._send_timeout_s = send_timeout_s  # 0: no limit
        # incoming, fed by the wire and drained by receive()
        self._connect_delivered = False
        # (message, bytes counted); created with the first message, as an idle WebSocket
        # never needs one (a deque is 600 bytes)
        self._inbox: deque[tuple[Message, int]] | None = None
        self._buffered = 0
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed_by_peer: tuple[int, str] | None = None
        self._disconnect_delivered = False
        # denial response head, held until its first body message
        self._status = 0
        self._headers: Headers = []

    @property
    def disconnected(self) -> bool:
        return self._closed_by_peer is not None

    # -- fed by the wire -------------------------------------------------------------------
    def feed_text(self, text: str, size: int) -> None:
        """A text message, its UTF-8 already validated; ``size``: its length in bytes."""
        self._feed({"type": "websocket.receive", "text": text}, size)

    def feed_bytes(self, data: bytes) -> None:
        self._feed({"type": "websocket.receive", "bytes": data}, len(data))

    def _feed(self, message: Message, size: int) -> None:
        size += MESSAGE_OVERHEAD
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append((message, size))
        self._buffered += size
        if self._buffered > INBOX_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self._wire.pause_reading()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def disconnect(self, code: int, reason: str = "") -> None:
        """The socket is gone (closed by either side or lost); said once, later calls ignored."""
        if self._closed_by_peer is not None:
            return
        self._closed_by_peer = (code, reason)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- ASGI receive ------------------------------------------------------------------------
    async def receive(self) -> Message:
        if not self._connect_delivered:
            self._connect_delivered = True
            return {"type": "websocket.connect"}
        while True:
            if self._inbox:
                message, size = self._inbox.popleft()
                self._buffered -= size
                if self._reading_paused and self._buffered <= INBOX_LOW_WATER:
                    self._reading_paused = False
                    self._wire.resume_reading()
                return message
            closed = self._closed_by_peer
            if closed is not None:
                if self._disconnect_delivered:
                    raise ClientDisconnected("receive() called after websocket.disconnect")
                self._disconnect_delivered = True
                return {"type": "websocket.disconnect", "code": closed[0], "reason": closed[1]}
            waiter = self._waiter = self._loop.create_future()
            await waiter

    # -- ASGI send ---------------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        try:
            kind = message["type"]
        except (KeyError, TypeError):
            raise ProtocolError(
                f"an ASGI message must be a dict with a 'type', got {message!r:.80}"
            ) from None
        state = self.state
        if state is _CONNECTED and kind == "websocket.send":
            if self._closed_by_peer is not None:
                raise ClientDisconnected("the WebSocket is closed; cannot send")
            waiter = self._send_data(message)
            if waiter is not None:
                await self._wait_sent(waiter)
            return
        if self._closed_by_peer is not None:
            raise ClientDisconnected(f"the WebSocket is closed; cannot send {kind!r}")
        if state is WSState.CONNECTING:
            self._answer_handshake(kind, message)
        elif state is WSState.RESPONDING:
            if kind != "websocket.http.response.body":
                raise UnexpectedMessage("'websocket.http.response.body'", kind)
            self._response_body(message)
        elif state is WSState.CONNECTED:
            if kind != "websocket.close":
                raise UnexpectedMessage("'websocket.send' or 'websocket.close'", kind)
            self._close(message)
        else:
            raise ClientDisconnected(f"the WebSocket is closed; cannot send {kind!r}")

    async def _wait_sent(self, waiter: Awaitable[None]) -> None:
        """Wait until the transport takes writes again, at most ``--websocket-send-timeout``.

        A client that stops reading would otherwise hold the app's send() until the ping
        timeout, or with pings off for the whole WebSocket lifetime (a day by default).
        """
        timeout = self._send_timeout_s
        if await sent_within(waiter, timeout):
            return
        if self._closed_by_peer is None:
            logger.warning(
                "dropping a WebSocket whose client read nothing for %ss while the app "
                "was sending (--websocket-send-timeout): %s",
                timeout,
                self.scope.get("client"),
            )
            self._wire.abort()
        raise ClientDisconnected(
            f"the client read nothing for {timeout}s; the WebSocket was dropped"
        )

    def _answer_handshake(self, kind: str, message: Message) -> None:
        if kind == "websocket.accept":
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and subprotocol not in self.scope["subprotocols"]:
                # RFC 6455 §4.1: the client fails a connection whose subprotocol it never offered.
                raise ProtocolError(
                    f"websocket.accept 'subprotocol' must be one the client offered "
                    f"{self.scope['subprotocols']!r}, got {subprotocol!r}"
                )
            headers = validate_headers(message.get("headers") or ())
            for name, _ in headers:
                if name.lower() in _HANDSHAKE_HEADERS:
                    raise ProtocolError(
                        f"websocket.accept 'headers' must not set {name!r}: the server writes it"
                        " (use 'subprotocol' for Sec-WebSocket-Protocol)"
                    )
            self.state = WSState.CONNECTED
            self._wire.accept(subprotocol, headers)
        elif kind == "websocket.close":
            # ASGI: a close before accept refuses the handshake with HTTP 403.
            self.state = WSState.CLOSED
            self._wire.deny(403, [], b"", True)
        elif kind == "websocket.http.response.start":
            status = message.get("status")
            if type(status) is not int or not 100 <= status <= 999:
                raise ProtocolError(
                    f"websocket.http.response.start 'status' must be an int, got {status!r}"
                )
            self._status = status
            self._headers = validate_headers(message.get("headers") or ())
            self.state = WSState.RESPONDING
        else:
            raise UnexpectedMessage(
                "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'", kind
            )

    def _response_body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise ProtocolError(
                f"websocket.http.response.body 'body' must be bytes, got {body!r:.60}"
            )
        end = not message.get("more_body", False)
        status, self._status = self._status, 0
        if end:
            self.state = WSState.CLOSED
        self._wire.deny(status, self._headers, bytes(body), end)

    def _send_data(self, message: Message) -> Awaitable[None] | None:
        data = message.get("bytes")
        text = message.get("text")
        if data is not None:
            if text is not None:
                raise ProtocolError("websocket.send must have 'bytes' or 'text', not both")
            if type(data) is not bytes:
                if not isinstance(data, (bytearray, memoryview)):
                    raise ProtocolError(f"websocket.send 'bytes' must be bytes, got {data!r:.60}")
                data = bytes(data)
            return self._wire.send_message(data, True)
        if type(text) is not str:
            raise ProtocolError(
                f"websocket.send needs 'bytes' or 'text' (a str), got {message!r:.80}"
            )
        return self._wire.send_message(text.encode("utf-8"), False)

    def _close(self, message: Message) -> None:
        code = message.get("code", 1000)
        if code is None:
            code = 1000
        if type(code) is not int or not (code in _SENDABLE_CODES or 3000 <= code <= 4999):
            raise ProtocolError(
                f"websocket.close 'code' must be 1000-1003, 1007-1014 or 3000-4999, got {code!r}"
            )
        reason = close_reason(message.get("reason"))
        self.state = WSState.CLOSED
        self._wire.close(code, reason)

    # -- endings decided by the server ----------------------------------------------------
    def finish(self, failed: bool) -> None:
        """The app instance is over: refuse (500) or close (1000, 1011 after an error)."""
        state = self.state
        self.state = WSState.CLOSED
        wire, self._wire = self._wire, FINISHED_WIRE
        if self._closed_by_peer is not None:
            return
        if state is WSState.CONNECTING:
            if not failed:
                logger.error("ASGI application returned without accepting or closing the WebSocket")
            wire.deny(500, [], b"Internal Server Error", True)
        elif state is WSState.RESPONDING:
            wire.deny(0, [], b"", True)
        elif state is WSState.CONNECTED:
            # RFC 6455 §7.4.1: 1011 is "the server hit an unexpected condition".
            wire.close(1011 if failed else 1000, b"")
