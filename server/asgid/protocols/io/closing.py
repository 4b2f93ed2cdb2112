"""Ending a connection without losing its last answer: half-close and linger, TLS grace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.abstract import FileDescriptor

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

    from asgid.protocols.io.transport import Transport

LINGER_S = 2.0  # how long a closing connection may wait on its peer before it is cut


def close(transport: Transport, reactor: IReactorTime) -> IDelayedCall | None:
    """``loseConnection``; over TLS, also the timer that bounds the wait for the peer.

    Twisted's TLS wrapper sends close_notify only once no producer is registered, then
    waits for the peer's; without both, "Connection: close" over TLS stayed open until
    the client gave up. The caller cancels the returned timer when the connection ends.
    """
    timer = None
    if not isinstance(transport, FileDescriptor):
        transport.unregisterProducer()
        timer = reactor.callLater(LINGER_S, transport.abortConnection)
    transport.loseConnection()
    return timer


def linger(transport: Transport, reactor: IReactorTime) -> IDelayedCall | None:
    """Close the write side only, and cut the connection after ``LINGER_S``; None (nothing
    done) for a transport without a half-close of its own (TLS, wrapped transports).

    A client still sending (an upload that was refused) would make a full close send RST,
    and a reset can destroy the answer before the client reads it (RFC 9112 §9.6): input
    is read and dropped until the client closes its side or the timer fires.
    """
    if not isinstance(transport, FileDescriptor):
        return None
    transport.loseWriteConnection()
    return reactor.callLater(LINGER_S, transport.abortConnection)
