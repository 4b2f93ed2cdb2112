"""Bound what the kernel holds unsent for one TCP connection (``TCP_NOTSENT_LOWAT``).

Linux grows a TCP socket's send buffer by itself up to ``net.ipv4.tcp_wmem``'s maximum
(4 MiB by default; over loopback a socket gets there at once), so a peer that reads
nothing lets the server park up to 4 MiB of kernel memory per connection. That memory
is not in the process's RSS, but the kernel counts all TCP sockets of the machine
against ``net.ipv4.tcp_mem``; past it, every socket is short of buffers, healthy ones
included (issue #13: with 1,000 WebSockets that never read, the echo rate of the healthy
ones collapsed). With ``TCP_NOTSENT_LOWAT`` the socket takes no more once ``UNSENT_BYTES``
wait unsent, and reports itself writable only below that. Bytes in flight are not
counted (the peer's receive window bounds them), so a reader that keeps up is limited
only by how soon the event loop refills the 128 KiB. HTTP responses get a wider bound
(``CONNECTION_UNSENT_BYTES``, ``DirectWriter.bound_unsent``): an HTTP/2 connection from
its start, an HTTP/1.1 one from its first response that takes more than one write.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

logger = logging.getLogger(__name__)

UNSENT_BYTES = 128 * 1024
# HTTP responses get this bound; a WebSocket narrows it to UNSENT_BYTES once open. HTTP
# bodies are larger than WebSocket messages: a response streamed in 1 MiB messages (a
# common chunk size) must fit the kernel whole, or each one takes two loop turns.
# Measured on loopback with curl, 100 MiB either way: at 512 KiB the streamed download
# lost 15%, at 1 MiB it was unchanged (-2%, within the runs' spread); a file body
# (sendfile) measured 17% faster against curl alone, not in make bench's file row.
CONNECTION_UNSENT_BYTES = 1024 * 1024
_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", None)  # Linux 3.12+, macOS


def tcp_socket(transport: Any) -> socket.socket | None:
    """The TCP socket under a plain or TLS (or PROXY-wrapped) transport, if there is one."""
    for _ in range(3):  # TLS over a PROXY-protocol wrapper over TCP is the deepest
        sock = getattr(transport, "socket", None)
        if isinstance(sock, socket.socket):
            return sock if sock.family in (socket.AF_INET, socket.AF_INET6) else None
        transport = getattr(transport, "transport", None)
        if transport is None:
            return None
    return None


def limit_unsent(transport: Any, nbytes: int = UNSENT_BYTES) -> bool:
    """Set ``TCP_NOTSENT_LOWAT`` on the transport's socket; False where there is none."""
    sock = tcp_socket(transport)
    if sock is None or _NOTSENT_LOWAT is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _NOTSENT_LOWAT, nbytes)
    except OSError as exc:  # a kernel without it, or the connection is already gone
        logger.debug("TCP_NOTSENT_LOWAT not set: %s", exc)
        return False
    return True
