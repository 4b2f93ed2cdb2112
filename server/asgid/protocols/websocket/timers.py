"""A WebSocket's timers: keepalive (``--ping-interval``/``--ping-timeout``), lifetime
(``--websocket_timeout``), and the wait for the peer's Close after ours.

Autobahn's own auto-ping and closing-handshake timeout run on txaio's batched timer, which
rounds delays down to whole seconds (and aborts with a RST, which can destroy our Close
frame before it is read); these are exact. An open WebSocket holds one timer (each is about
400 bytes): its next ping or pong deadline, or the end of its lifetime when that comes
first. Mixed into ``connection.WebSocketConnection``, ahead of Autobahn's protocol class.
"""

from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import WebSocketServerProtocol

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall

    from asgid.protocols.io.context import ServerContext

logger = logging.getLogger(__name__)

_OPEN = WebSocketServerProtocol.STATE_OPEN
_CLOSING = WebSocketServerProtocol.STATE_CLOSING
_CLOSED = WebSocketServerProtocol.STATE_CLOSED
CLOSE_HANDSHAKE_S = 3.0  # how long our Close waits for the peer's before TCP is closed


class Timers:
    """The timer methods of a WebSocket connection; its state lives in the connection's slots."""

    # the connection's (or Autobahn's) attributes these methods use
    ctx: ServerContext
    state: int
    closedByMe: bool
    wasClean: bool
    wasCloseHandshakeTimeout: bool
    wasNotCleanReason: str | None
    # the connect timeout; once open, the next ping, its pong deadline or the lifetime end
    _timer: IDelayedCall | None
    _lifetime_end: float  # reactor seconds (--websocket_timeout); inf: none
    _close_timer: IDelayedCall | None  # our Close awaits the peer's
    _ping_payload: bytes | None

    if TYPE_CHECKING:  # Autobahn's methods and the connection's, for the type checker only

        def close(self, code: int, reason: bytes) -> None: ...
        def sendPing(self, payload: bytes | None = None) -> None: ...
        def dropConnection(self, abort: bool = False) -> None: ...

    def _set_timer(self, seconds: float, action: Any) -> None:
        self._cancel_timer()
        self._timer = self.ctx.reactor.callLater(seconds, action)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _cancel_close_timer(self) -> None:
        if self._close_timer is not None and self._close_timer.active():
            self._close_timer.cancel()
        self._close_timer = None

    # -- keepalive and lifetime ----------------------------------------------------------------
    def _schedule(self, seconds: float, action: Any) -> None:
        """``action`` in ``seconds`` (inf: never), unless the lifetime ends before."""
        left = self._lifetime_end - self.ctx.reactor.seconds()
        if left <= seconds and left < math.inf:
            self._set_timer(max(left, 0.0), self._on_lifetime_timeout)
        elif seconds < math.inf:
            self._set_timer(seconds, action)
        else:
            self._cancel_timer()

    def _schedule_ping(self) -> None:
        if self.state == _OPEN:
            interval = self.ctx.config.ping_interval_s
            self._schedule(interval if interval > 0 else math.inf, self._send_keepalive)

    def _send_keepalive(self) -> None:
        self._timer = None
        if self.state != _OPEN:
            return
        self._ping_payload = os.urandom(8)
        self.sendPing(self._ping_payload)
        timeout = self.ctx.config.ping_timeout_s
        if timeout > 0:
            self._schedule(timeout, self._on_ping_timeout)
        else:
            self._schedule_ping()

    def onPong(self, payload: bytes) -> None:
        if self._ping_payload is not None and payload == self._ping_payload:
            self._ping_payload = None
            self._schedule_ping()  # in place of the pong deadline

    def _on_ping_timeout(self) -> None:
        self._timer = None
        logger.info("dropping a WebSocket whose peer did not answer a ping in time")
        self.wasNotCleanReason = "ping timeout"
        self.dropConnection(abort=True)

    def _on_lifetime_timeout(self) -> None:
        self._timer = None
        self.close(1000, b"")  # --websocket_timeout, as Daphne closes it

    # -- closing handshake ---------------------------------------------------------------------
    def sendCloseFrame(
        self, code: int | None = None, reasonUtf8: bytes | None = None, isReply: bool = False
    ) -> None:
        # Autobahn's, next in the connection's MRO
        send = super().sendCloseFrame  # type: ignore[misc]
        send(code=code, reasonUtf8=reasonUtf8, isReply=isReply)
        if self.closedByMe and self.state == _CLOSING and self._close_timer is None:
            # RFC 6455 §7.1.1: after our Close, wait a bounded time for the peer's, then
            # end the TCP connection with a FIN, so our Close frame is still delivered.
            self._close_timer = self.ctx.reactor.callLater(
                CLOSE_HANDSHAKE_S, self._on_close_handshake_timeout
            )

    def _on_close_handshake_timeout(self) -> None:
        self._close_timer = None
        if self.state != _CLOSED:
            self.wasClean = False
            self.wasCloseHandshakeTimeout = True
            self.wasNotCleanReason = "peer did not finish the closing handshake in time"
            self.dropConnection(abort=False)
