"""HTTP/1.1's hand-offs: an upgrade the server takes over (WebSocket, h2c), deferred until
earlier pipelined responses are out, and one it refuses, served as plain HTTP.

A refused upgrade's body was skipped by llhttp, which stops for good at an upgrade; that
body is read by a parser of its own (``skipped_body``) and the connection ends after it.
Mixed into ``protocol.HTTP1Protocol``; none of this runs for a plain request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol as Interface

from asgid.protocols.http1.head import ChunkFraming, request_line_start
from asgid.protocols.http1.skipped_body import body_parser

if TYPE_CHECKING:
    from collections import deque

    from asgid.asgi.scope import ConnectionInfo
    from asgid.events import Request
    from asgid.protocols.http1.exchange import Exchange
    from asgid.protocols.http1.reader import HeadReader
    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.io.deadline import Deadline
    from asgid.protocols.io.transport import Transport


class Upgrades(Interface):
    """What the connection's switcher offers HTTP/1.1 (``protocols.switcher``)."""

    def wants_upgrade(self, request: Request) -> bool:
        """Whether ``request`` (which asks to upgrade) is one the server takes over."""

    def switch_protocol(
        self, request: Request, head: bytes, rest: bytes, conn: ConnectionInfo | None
    ) -> None:
        """Take the connection over; HTTP/1.1 has detached itself already."""


class Handoffs:
    """The hand-off methods of an HTTP/1.1 connection; its state is the connection's."""

    # the connection's attributes these methods use
    ctx: ServerContext
    transport: Transport
    closing: bool
    parsing: Exchange | None
    _parser: Any
    _head: HeadReader
    _conn: ConnectionInfo | None
    _upgrades: Upgrades | None
    _exchanges: deque[Exchange]
    _read_paused: bool
    _deadline: Deadline
    _upgrade_request: Request | None
    _deferred_upgrade: tuple[Request, bytes, bytes] | None
    _skipped_body: tuple[Exchange, bool] | None
    _framing: ChunkFraming | None
    _framing_tail: int

    if TYPE_CHECKING:  # the connection's methods, for the type checker only

        def dataReceived(self, data: bytes) -> None: ...
        def on_body(self, body: bytes) -> None: ...
        def on_chunk_header(self) -> None: ...
        def on_message_complete(self) -> None: ...
        def detach(self) -> None: ...
        def _new_parser(self) -> None: ...
        def _pause_reading(self) -> None: ...
        def _resume_reading(self) -> None: ...

    def _refuse_upgrade(self) -> None:
        """An upgrade request served as plain HTTP: llhttp skipped its body, which
        ``_upgrade`` reads as this request's body (``skipped_body``)."""
        exchange = self.parsing
        if exchange is not None and (exchange.declared_length or self._framing is not None):
            self._skipped_body = (exchange, self._framing is not None)
            self.parsing = None  # llhttp ends the message now; the body is not over

    # -- taken over ----------------------------------------------------------------------------
    def _upgrade(self, data: bytes, offset: int) -> None:
        request, self._upgrade_request = self._upgrade_request, None
        if request is None:
            # An upgrade we do not speak was served as plain HTTP; go on parsing what
            # follows with a fresh parser (llhttp stops for good at an upgrade).
            self._new_parser()
            self._head.chunks = []
            if self._skipped_body is not None:
                self._read_skipped_body(*self._skipped_body)
            if offset < len(data):
                self.dataReceived(data[offset:])
            return
        chunks = self._head.chunks or [data]
        received = b"".join(chunks[:-1]) + data[:offset]
        # The head starts at its request line; earlier bytes belong to pipelined requests.
        head = received[request_line_start(received, request.method) :]
        rest = data[offset:]
        if self._exchanges:
            self._deferred_upgrade = (request, head, rest)
            if not self._read_paused:
                self._pause_reading()
            return
        self._switch(request, head, rest)

    def _read_skipped_body(self, exchange: Exchange, chunked: bool) -> None:
        """Read on with a parser for the skipped body alone; the connection ends after it."""
        self._skipped_body = None
        self._parser = body_parser(
            self.on_body,
            self.on_chunk_header,
            self.on_message_complete,
            chunked=chunked,
            length=exchange.declared_length,
        )
        self._head.chunks = None
        self.parsing = exchange
        exchange.keep_alive = False
        if chunked:
            self._framing = ChunkFraming()
            self._framing_tail = 0

    def _switch(self, request: Request, head: bytes, rest: bytes) -> None:
        upgrades = self._upgrades
        assert upgrades is not None  # _upgrade_request is set only when it exists
        self._deferred_upgrade = None
        self.detach()
        upgrades.switch_protocol(request, head, rest, self._conn)
