"""The app's answer to a WebSocket's opening handshake: accepted (101), denied (a plain
HTTP response), or refused for it: over ``--limit-concurrency``, or no answer within
``--websocket_connect_timeout``.

Mixed into ``connection.WebSocketConnection``, ahead of Autobahn's protocol class; Autobahn
writes the 101 when ``accept`` fires the Deferred its ``onConnect`` returned.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import WebSocketServerProtocol

from asgid.errors import ClientDisconnected
from asgid.protocols.websocket.autobahn import HANDSHAKE_STATE, header_text
from asgid.protocols.websocket.handshake import http_response_head

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IDelayedCall

    from asgid.events import Headers
    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.io.transport import Transport

# One logger for a WebSocket connection's messages, whichever part of it logs them.
logger = logging.getLogger("asgid.protocols.websocket.connection")

_CONNECTING = WebSocketServerProtocol.STATE_CONNECTING
_OPEN = WebSocketServerProtocol.STATE_OPEN


class Opening:
    """The handshake-answering methods of a WebSocket connection; its state is the connection's."""

    # the connection's (or Autobahn's) attributes these methods use
    ctx: ServerContext
    scope: dict[str, Any]
    transport: Transport
    state: int
    _handshake: Deferred[Any] | None  # fired by accept: Autobahn then writes the 101
    _timer: IDelayedCall | None  # the connect timeout, until the handshake is answered
    _lifetime_end: float  # reactor seconds (--websocket_timeout)
    _started: float  # time.monotonic() at the connection's start
    _accepted: bool
    _refused: bool
    _admitted: bool  # counted in ctx.hooks until the handshake is answered

    if TYPE_CHECKING:  # Autobahn's methods and the connection's, for the type checker only

        def close(self, code: int, reason: bytes) -> None: ...
        def dropConnection(self, abort: bool = False) -> None: ...
        def _cancel_timer(self) -> None: ...
        def _schedule_ping(self) -> None: ...
        def _resume(self, *, handshake: bool = False, inbox: bool = False) -> None: ...

    def accept(self, subprotocol: str | None, headers: Headers) -> None:
        handshake, self._handshake = self._handshake, None
        if handshake is None or self.state != _CONNECTING:
            raise ClientDisconnected("the WebSocket handshake is over; cannot accept")
        self._cancel_timer()
        if subprotocol is None:
            subprotocol = self._default_subprotocol()
        extra: dict[str, list[str]] = {}
        for name, value in headers:
            extra.setdefault(name.decode("ascii"), []).append(header_text(value))
        self._accepted = True
        handshake.callback((subprotocol, extra))  # Autobahn writes 101 and opens
        if self.state == _OPEN:
            for field in HANDSHAKE_STATE:  # about 1.5 KB, never read again
                setattr(self, field, None)
        if self._admitted:
            self._handshake_over(101)
        if self.ctx.access_log is not None:
            self.ctx.access_log.websocket("WSCONNECT", self.scope, None)
        self._resume(handshake=True)
        timeout = self.ctx.config.websocket_timeout_s
        if timeout is not None and timeout >= 0:
            self._lifetime_end = self.ctx.reactor.seconds() + timeout
        self._schedule_ping()
        if self.ctx.shutting_down:
            self.close(1001, b"server shutting down")

    def deny(self, status: int, headers: Headers, body: bytes, end: bool) -> None:
        if self.state == _CONNECTING and not self._refused:
            self._refused = True
            self._handshake = None
            self._cancel_timer()
            length = len(body) if end else None
            server = self.ctx.config.server_header
            self.transport.write(http_response_head(status, headers, server, length) + body)
            if self._admitted:
                self._handshake_over(status)
            if self.ctx.access_log is not None:
                self.ctx.access_log.websocket("WSREJECT", self.scope, None)
        elif self._refused and body:
            self.transport.write(body)
        if end:
            self.dropConnection(abort=False)

    def _handshake_over(self, status: int) -> None:
        self._admitted = False
        if self.ctx.hooks is not None:
            self.ctx.hooks.handshake_done(status, time.monotonic() - self._started)

    def _refuse_over_limit(self) -> None:
        if self.state == _CONNECTING and not self._refused:
            retry = [(b"retry-after", b"1")]  # RFC 9110 §10.2.3; asgid.hooks.RETRY_AFTER_S
            self.deny(503, retry, b"Service Unavailable: too many requests in flight", True)

    def _default_subprotocol(self) -> str | None:
        """``--ws-protocol``: the first subprotocol the client offered that the server lists."""
        for offered in self.scope["subprotocols"]:
            if offered in self.ctx.config.ws_protocols:
                return str(offered)
        return None

    def _on_connect_timeout(self) -> None:
        self._timer = None
        if self.state == _CONNECTING and not self._refused:
            logger.warning(
                "application did not answer the WebSocket handshake for %s within %ss",
                self.scope["path"],
                self.ctx.config.websocket_connect_timeout_s,
            )
            self.deny(503, [], b"Service Unavailable: the application did not answer", True)
