"""Send bytes straight to the socket when Twisted has nothing queued: one syscall, no poller.

Twisted's ``FileDescriptor.write`` only queues: it registers the socket with the poller
(an ``epoll_ctl``), sends on the next loop turn, then unregisters (another ``epoll_ctl``),
with log-context wrappers around each step. For a small response to a keep-alive request
that is more than half the server's time per request (measured: a bare Twisted HTTP/1.1
responder goes from about 19k to 47k requests/s on one core with this). Sending at once
when nothing is queued keeps the bytes in order, because anything Twisted holds was
written earlier and the direct path is not taken while it holds any.

Only plain TCP and unix-socket server transports qualify, and only if they still have the
buffer attributes this relies on; TLS and wrapped transports (PROXY protocol) keep
Twisted's path. Whatever the socket does not take at once — a partial send, EAGAIN, an
error — goes to ``transport.write``, which queues it or reports the lost connection as
usual.

Once the connection was told to end — ``loseConnection``, ``loseWriteConnection`` or
``abortConnection`` — nothing more is written, on either path: after an abort Twisted's
state still says "connected", and a direct send there would put bytes on the wire the
caller asked never to send.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable
from typing import Any, Protocol

from twisted.internet import tcp, unix

_DIRECT_TYPES = (tcp.Server, unix.Server)
_NEEDED = (
    "socket", "dataBuffer", "_tempDataLen", "connected", "disconnecting",
    "_writeDisconnecting", "_writeDisconnected", "_aborting",
)  # fmt: skip
SENDFILE_BYTES = 4 * 1024 * 1024  # per os.sendfile call, so one huge file cannot hog the loop


class Pausable(Protocol):
    """The write side of a connection (``WriteFlow``) a file send pauses and waits on."""

    def pauseProducing(self) -> None: ...
    def wait_writable(self) -> Awaitable[None]: ...


def _told_to_end(transport: Any) -> bool:
    """loseConnection, loseWriteConnection or abortConnection was called."""
    return bool(
        transport.disconnecting
        or transport._aborting
        or transport._writeDisconnecting
        or transport._writeDisconnected
    )


class DirectWriter:
    """``write(data)`` for one connection's transport."""

    __slots__ = ("_transport", "_socket")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        direct = type(transport) in _DIRECT_TYPES and all(hasattr(transport, a) for a in _NEEDED)
        self._socket: socket.socket | None = transport.socket if direct else None

    def write(self, data: bytes) -> bool:
        """Send ``data``; True when Twisted holds bytes afterwards (see ``holds``)."""
        transport = self._transport
        sock = self._socket
        if sock is None:
            transport.write(data)
            return False
        if _told_to_end(transport):
            return False  # told to end: a write now is one the caller asked never to send
        if transport.dataBuffer or transport._tempDataLen or not transport.connected:
            transport.write(data)  # behind what Twisted holds (or gone: Twisted drops it)
            return self.holds()
        try:
            sent = sock.send(data)
        except OSError:
            # EAGAIN, or a broken connection: Twisted's path queues it or notices the loss.
            transport.write(data)
            return self.holds()
        if sent < len(data):
            transport.write(memoryview(data)[sent:].tobytes())
            return self.holds()
        return False

    def holds(self) -> bool:
        """Whether Twisted holds bytes for this connection that the socket did not take.

        Plain TCP and unix sockets only; other transports answer False, and their
        producer is paused by Twisted once its buffer is over 64 KiB.
        """
        transport = self._transport
        return self._socket is not None and bool(transport.dataBuffer or transport._tempDataLen)

    def hold(self, flow: Pausable) -> None:
        """Pause ``flow`` until Twisted has handed everything it holds to the kernel.

        Twisted's write loop calls a paused producer's ``resumeProducing`` once its buffer
        is empty; so ``flow.wait_writable()`` resolves then (or when the connection is lost).
        """
        self._transport.producerPaused = True
        flow.pauseProducing()

    def write_parts(self, parts: list[bytes]) -> bool:
        """Write ``parts`` in order without joining them: one ``sendmsg`` on the direct path,
        so a big body is not copied into a head-and-body string first. Only what the
        socket did not take is handed to Twisted (a partly sent part as a copy of its rest,
        the others as the caller's own objects). True when Twisted holds bytes afterwards."""
        transport = self._transport
        sock = self._socket
        if sock is None:
            transport.writeSequence(parts)
            return False
        if _told_to_end(transport):
            return False
        if transport.dataBuffer or transport._tempDataLen or not transport.connected:
            transport.writeSequence(parts)
            return self.holds()
        try:
            sent = sock.sendmsg(parts)
        except OSError:
            transport.writeSequence(parts)
            return self.holds()
        for index, part in enumerate(parts):
            if sent < len(part):
                rest = parts[index:]
                if sent:
                    rest[0] = memoryview(part)[sent:].tobytes()
                transport.writeSequence(rest)
                return self.holds()
            sent -= len(part)
        return False

    @property
    def can_send_file(self) -> bool:
        """Whether ``send_file`` can hand file bytes to the kernel (plain TCP or unix)."""
        return self._socket is not None and hasattr(os, "sendfile")

    async def send_file(self, fd: int, offset: int, count: int, flow: Pausable) -> int:
        """Send ``count`` bytes of ``fd`` from ``offset`` with ``os.sendfile`` (zero copy).

        Waits while Twisted still holds earlier bytes (they go first) and whenever the
        socket is full; Twisted's write loop tells the flow when it drained. Returns the
        bytes sent: fewer when the file ended early or the connection went away.
        """
        sent_total = 0
        sock = self._socket
        transport = self._transport
        assert sock is not None
        while count > 0:
            if not transport.connected or _told_to_end(transport):
                break
            if transport.dataBuffer or transport._tempDataLen:
                await self._drained(flow)
                continue
            try:
                sent = os.sendfile(sock.fileno(), fd, offset, min(count, SENDFILE_BYTES))
            except BlockingIOError:
                await self._drained(flow)
                continue
            except OSError:
                break  # the connection broke; Twisted notices it on its next read
            if sent == 0:
                break  # the file is shorter than announced
            offset += sent
            count -= sent
            sent_total += sent
        return sent_total

    async def _drained(self, flow: Pausable) -> None:
        """Wait until the socket takes bytes again: Twisted's write loop calls the paused
        producer's ``resumeProducing`` once its buffer is empty and the socket writable."""
        self.hold(flow)
        self._transport.startWriting()
        await flow.wait_writable()
