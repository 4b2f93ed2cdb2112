"""File bodies of HTTP/1.1 responses (``http.response.pathsend``, ``zerocopysend``): the
file's bytes go from the page cache to the socket with ``os.sendfile``, inside the framing
the head announced, each wait for the socket bounded by ``--send-timeout``.

Mixed into ``exchange.Exchange``; over TLS the cycle sends the file as body chunks instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from asgid.asgi.send_timeout import wait_sent

if TYPE_CHECKING:
    from asgid.asgi.http import HTTPCycle
    from asgid.config import Config
    from asgid.protocols.io.direct_write import DirectWriter
    from asgid.types import Scope

# One logger for an exchange's messages, whichever part of it logs them.
logger = logging.getLogger("asgid.protocols.http1.exchange")


class FileConnection(Protocol):
    """What a file body uses of its ``HTTP1Protocol``."""

    config: Config
    writer: DirectWriter
    closing: bool

    def wait_writable(self) -> Awaitable[None]: ...
    def pauseProducing(self) -> None: ...
    def close(self) -> None: ...


class _StallLimited:
    """The connection's write flow for a file send, each wait bounded by --send-timeout
    (``SendTimedOut`` reaches the cycle, which drops the connection)."""

    __slots__ = ("_proto", "_scope")

    def __init__(self, proto: FileConnection, scope: Scope) -> None:
        self._proto = proto
        self._scope = scope

    def pauseProducing(self) -> None:
        self._proto.pauseProducing()

    async def wait_writable(self) -> None:
        proto = self._proto
        await wait_sent(proto.wait_writable(), proto.config.send_timeout_s, self._scope)


class FileBody:
    """The file-body methods of an exchange; its state is the exchange's."""

    # the exchange's attributes these methods use
    _proto: FileConnection
    cycle: HTTPCycle
    keep_alive: bool
    _bodiless: bool  # nothing more of this response goes out
    _chunked: bool
    _length_left: int  # body bytes still owed under the app's Content-Length; -1: none given
    _size: int  # body bytes sent, for the access log

    if TYPE_CHECKING:  # the exchange's method, for the type checker only

        def _allow(self, nbytes: int) -> int: ...

    @property
    def can_send_file(self) -> bool:
        """File bodies go to the kernel with ``os.sendfile`` (plain TCP, not TLS)."""
        return self._proto.writer.can_send_file

    async def send_file(self, stream_id: int, fd: int, offset: int, count: int) -> None:
        """Body bytes straight from a file, after the head (``http.response.pathsend``)."""
        proto = self._proto
        if self._bodiless or proto.closing:
            return
        if self._length_left >= 0:
            count = self._allow(count)
        if count <= 0:
            return
        writer = proto.writer
        if self._chunked:
            writer.write(b"%x\r\n" % count)
        sent = await writer.send_file(fd, offset, count, _StallLimited(proto, self.cycle.scope))
        self._size += sent
        if sent < count:
            if not proto.closing:
                # The file was shorter than its span: the framing promised more bytes.
                logger.error("file body ended %d bytes early; closing the connection", count - sent)
                self.keep_alive = False
                proto.close()
            return
        if self._chunked:
            writer.write(b"\r\n")
