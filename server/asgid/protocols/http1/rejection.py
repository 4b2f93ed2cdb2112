"""Requests the HTTP/1.1 wire refuses itself, before any app sees them: the error answer,
after the responses owed to earlier pipelined requests (RFC 9112 §9.3.2), then a close
that does not lose it to a TCP reset (``io.closing.linger``).

Mixed into ``protocol.HTTP1Protocol``; the checks that raise ``RejectRequest`` are in
``reader``, ``head`` and the protocol's parser callbacks.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

import httptools

from asgid.protocols.http1.errors import RejectRequest, error_response, reject_from_parser
from asgid.protocols.io.closing import linger

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall

    from asgid.config import Config
    from asgid.protocols.http1.exchange import Exchange
    from asgid.protocols.http1.reader import HeadReader
    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.io.deadline import Deadline
    from asgid.protocols.io.direct_write import DirectWriter
    from asgid.protocols.io.transport import Transport

# Refused requests are logged on the connection's logger (docs/http.md names it).
logger = logging.getLogger("asgid.protocols.http1.protocol")


class Rejections:
    """The refusing methods of an HTTP/1.1 connection; its state is the connection's."""

    # the connection's attributes these methods use
    ctx: ServerContext
    config: Config
    transport: Transport
    writer: DirectWriter
    closing: bool
    parsing: Exchange | None
    _head: HeadReader
    _exchanges: deque[Exchange]
    _input_done: bool
    _rejection: RejectRequest | None  # sent once earlier responses are out
    _linger: IDelayedCall | None
    _deadline: Deadline
    _read_paused: bool

    if TYPE_CHECKING:  # the connection's methods, for the type checker only

        def _close(self, abort: bool = False) -> None: ...
        def _resume_reading(self) -> None: ...

    def _parse_failed(self, exc: httptools.HttpParserError) -> None:
        """The parser stopped: a check in a callback refused the request, or llhttp did."""
        if isinstance(exc, httptools.HttpParserCallbackError):
            if self._input_done and self._rejection is None:
                return
            error = exc.__context__
            if not isinstance(error, RejectRequest):
                logger.error("unexpected error while reading a request", exc_info=error)
                error = RejectRequest(500, "Internal Server Error")
            self._reject(error)
            return
        if self._input_done:
            # e.g. llhttp's "Data after Connection: close": the request before it is
            # still owed its response, and nothing after it will be read.
            return
        self._reject(reject_from_parser(exc))

    def _reject(self, error: RejectRequest) -> None:
        if self.closing:
            return
        parsing, self.parsing = self.parsing, None
        self._input_done = True
        self._head.in_head = False
        if parsing is not None and parsing.discard_body:
            self._close()  # its response is out already; a second answer would be unasked for
            return
        exchanges = self._exchanges
        if parsing is not None and len(exchanges) > 1 and exchanges[-1] is parsing:
            exchanges.pop()  # a pipelined request that never started: the error answers it
        if exchanges and exchanges[0] is not parsing:
            # Earlier pipelined requests are owed their responses first (RFC 9112 §9.3.2).
            self._rejection = error
            return
        self._send_rejection(error)

    def _send_rejection(self, error: RejectRequest) -> None:
        self._rejection = None
        if not self._exchanges or not self._exchanges[0].cycle.response_started:
            logger.info("rejected a request: %s %s", error.status, error.reason)
            if self.ctx.hooks is not None:
                self.ctx.hooks.rejected(error.status)
            self.writer.write(error_response(error, self.config.server_header))
        self._linger_close()

    def _linger_close(self) -> None:
        """Close after an error answer without losing it to a TCP reset (``io.closing``)."""
        if self.closing:
            return
        timer = linger(self.transport, self.ctx.reactor)
        if timer is None:
            self._close()  # TLS and wrapped transports have no half-close of their own
            return
        self._linger = timer
        self.closing = True  # dataReceived drops what still arrives
        self._deadline.cancel()
        if self._read_paused:
            self._resume_reading()
