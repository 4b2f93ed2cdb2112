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

A big body chunk that is not a response's last (``write_parts(..., hold=True)``) is not
handed to Twisted at all: what the socket does not take is returned uncopied, and the
app's ``send()`` waits while ``send_rest`` sends it whenever the socket is writable, all of
it at once, from the loop turn that found the socket writable (``WriteFlow.refill_from``).
Twisted would copy it, join it with the next chunk queued behind it and send 128 KiB per
loop turn.

Once the connection was told to end — ``loseConnection``, ``loseWriteConnection`` or
``abortConnection`` — nothing more is written, on either path: after an abort Twisted's
state still says "connected", and a direct send there would put bytes on the wire the
caller asked never to send.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from twisted.internet import tcp, unix

from asgid.protocols.io.kernel_buffer import CONNECTION_UNSENT_BYTES, limit_unsent

_NEEDED = (
    "socket", "dataBuffer", "_tempDataLen", "connected", "disconnecting",
    "_writeDisconnecting", "_writeDisconnected", "_aborting", "producer", "producerPaused",
    "streamingProducer",
)  # fmt: skip
# Flags each write reads, and the read size each read uses, that Twisted keeps as class
# attributes until it first changes them (see ``DirectWriter.__init__``).
_CLASS_DEFAULTS = (
    "dataBuffer", "disconnecting", "_aborting", "_writeDisconnecting", "_writeDisconnected",
    "bufferSize",
)  # fmt: skip
SENDFILE_BYTES = 4 * 1024 * 1024  # per os.sendfile call, so one huge file cannot hog the loop


class Pausable(Protocol):
    """The write side of a connection (``WriteFlow``) a file send pauses and waits on."""

    def pauseProducing(self) -> None: ...
    def wait_writable(self) -> Awaitable[None]: ...


class Refillable(Pausable, Protocol):
    """A ``WriteFlow``: it also sends held bytes itself when the socket is writable."""

    def refill_from(self, send: Callable[[], bool]) -> None: ...


def _direct_type(kind: type) -> bool:
    """A plain TCP or unix-socket server transport class."""
    # twisted.internet.unix stays a lazy module until a unix socket is used (lazy_modules.py):
    # reading unix.Server runs it, so it is read only for a class that module defined.
    if kind is tcp.Server:
        return True
    return kind.__module__ == "twisted.internet.unix" and kind is unix.Server


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

    __slots__ = ("_transport", "_socket", "_bounded")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._bounded = False
        direct = _direct_type(type(transport)) and all(hasattr(transport, a) for a in _NEEDED)
        self._socket: socket.socket | None = transport.socket if direct else None
        if direct:
            # The same values, as the transport's own attributes: on Python 3.11 reading a
            # class attribute through an instance costs three reads of an instance's own,
            # and every write reads five of these (every socket read, ``bufferSize``).
            for name in _CLASS_DEFAULTS:
                setattr(transport, name, getattr(transport, name))

    def bound_unsent(self) -> None:
        """Let the kernel hold at most ``CONNECTION_UNSENT_BYTES`` unsent on this
        connection from now on (kernel_buffer.py), so a client that stops reading a long
        response parks that much, not 4 MiB. Once per connection; HTTP/1.1 asks only
        when a response takes more than one write, since set on every connection the
        option cost about 5% of requests/s at one small request at a time (wrk -c1, six
        alternating runs each)."""
        if not self._bounded:
            self._bounded = True
            limit_unsent(self._transport, CONNECTION_UNSENT_BYTES)

    def write(self, data: bytes) -> bool:
        """Send ``data``; True when Twisted holds bytes afterwards (see ``holds``)."""
        transport = self._transport
        sock = self._socket
        if sock is None:
            transport.write(data)
            return False
        if (  # _told_to_end, without a call on the path of every response
            transport.disconnecting
            or transport._aborting
            or transport._writeDisconnecting
            or transport._writeDisconnected
        ):
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
            return True
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

    def write_parts(self, parts: list[bytes], hold: bool = False) -> list[memoryview] | None:
        """Write ``parts`` in order without joining them: one ``sendmsg`` on the direct path,
        so a big body is not copied into a head-and-body string first.

        What the socket does not take is handed to Twisted (a partly sent part as a copy of
        its rest); with ``hold`` it is returned instead, uncopied, and the caller finishes
        it with ``send_rest`` before anything else is written. None when nothing is left.
        """
        transport = self._transport
        sock = self._socket
        if sock is None:
            transport.writeSequence(parts)
            return None
        if _told_to_end(transport):
            return None
        if transport.dataBuffer or transport._tempDataLen or not transport.connected:
            transport.writeSequence(parts)
            return None
        try:
            sent = sock.sendmsg(parts)
        except BlockingIOError:
            sent = 0
        except OSError:
            transport.writeSequence(parts)  # Twisted notices the broken connection
            return None
        for index, part in enumerate(parts):
            if sent < len(part):
                if hold:
                    rest = [memoryview(p) for p in parts[index:]]
                    rest[0] = rest[0][sent:]
                    return rest
                queued = parts[index:]
                if sent:
                    queued[0] = memoryview(part)[sent:].tobytes()
                self._queue_rest(queued)
                return None
            sent -= len(part)
        return None

    def send_rest(self, rest: list[memoryview], flow: Refillable) -> Awaitable[None] | None:
        """Send what ``write_parts(..., hold=True)`` left, as the socket takes it; what to
        await until all of it is in the kernel (None when it has nowhere to go).

        Each time Twisted finds the socket writable, ``flow.resumeProducing`` sends all that
        is left in one ``sendmsg`` (no copy, none of Twisted's 128 KiB-per-loop-turn sends)
        before anything else runs, and wakes the waiter only once nothing is left.
        """
        transport = self._transport
        if not transport.connected or _told_to_end(transport):
            return None  # lost or told to end: the rest has nowhere to go
        flow.refill_from(partial(self._send_held, rest))
        self.hold(flow)
        transport.startWriting()  # the socket was full a moment ago
        return flow.wait_writable()

    def _send_held(self, rest: list[memoryview]) -> bool:
        """One ``sendmsg`` of ``rest`` (consumed in place); False while bytes are left, with
        the flow paused again until the socket is writable."""
        transport = self._transport
        sock = self._socket
        if sock is None or not transport.connected or _told_to_end(transport):
            return True
        try:
            sent = sock.sendmsg(rest)
        except BlockingIOError:
            sent = 0
        except OSError:
            return True  # the connection broke; Twisted notices it on its next read
        while sent:
            first = rest[0]
            if sent < len(first):
                rest[0] = first[sent:]
                break
            sent -= len(first)
            del rest[0]
        if not rest:
            return True
        transport.producerPaused = True  # Twisted cleared it before resumeProducing
        transport.startWriting()
        return False

    def _queue_rest(self, rest: list[bytes]) -> None:
        """Queue what the full socket did not take, and pause the producer until Twisted
        has sent it (as Twisted does once its own buffer is full): the producer's next
        write then goes straight to the socket again, instead of being queued behind, joined
        with what is there and sent 128 KiB per loop turn."""
        transport = self._transport
        transport.writeSequence(rest)
        producer = transport.producer
        if producer is not None and transport.streamingProducer and not transport.producerPaused:
            transport.producerPaused = True
            producer.pauseProducing()

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
