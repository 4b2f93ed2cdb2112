"""Install Twisted's asyncio reactor once, explicitly, and fail clearly if another is installed."""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
from socket import SO_ERROR, SOL_SOCKET
from typing import Any

from asgid.config import LoopName
from asgid.errors import ConfigError

logger = logging.getLogger(__name__)

# How long a peer's reset can go unnoticed under uvloop (see _uvloop_reactor_class).
ERROR_SWEEP_S = 0.2


def new_event_loop(loop: LoopName) -> asyncio.AbstractEventLoop:
    if loop in ("uvloop", "auto"):
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise ConfigError(
                    "--loop uvloop needs uvloop: pip install 'asgid[uvloop]'"
                ) from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def install(
    loop: LoopName = "auto",
    *,
    threads: int | None = None,
    debug: bool = False,
    tls: bool = True,
) -> asyncio.AbstractEventLoop:
    """Install the asyncio reactor on a fresh loop and return that loop.

    ``threads`` sizes the loop's default executor (Daphne's ``ASGI_THREADS``): Django runs
    sync views through ``run_in_executor(None, ...)``, so this bounds their concurrency.
    ``tls=False`` (no endpoint of the process does TLS) imports Twisted's reactor without
    its TLS stack (``reactor_tls``).
    """
    event_loop = _install(loop, tls)
    event_loop.set_debug(debug)
    if threads is not None:
        from concurrent.futures import ThreadPoolExecutor

        event_loop.set_default_executor(
            ThreadPoolExecutor(threads, thread_name_prefix="asgi-thread")
        )
    return event_loop


def _install(loop: LoopName, tls: bool) -> asyncio.AbstractEventLoop:
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor
        from twisted.internet.asyncioreactor import AsyncioSelectorReactor

        if not isinstance(reactor, AsyncioSelectorReactor):
            raise ConfigError(
                f"another Twisted reactor ({type(reactor).__name__}) is already installed; "
                "asgid needs the asyncio reactor: do not import twisted.internet.reactor "
                "before asgid starts"
            )
        installed: Any = reactor
        loop_in_use: asyncio.AbstractEventLoop = installed._asyncioEventloop
        return loop_in_use
    if not tls:
        from asgid.reactor_tls import import_reactor_without_tls

        import_reactor_without_tls()
    from twisted.internet.main import installReactor

    event_loop = new_event_loop(loop)
    asyncio.set_event_loop(event_loop)
    if type(event_loop).__module__.startswith("uvloop"):
        reactor_class = _uvloop_reactor_class()
    else:
        reactor_class = _direct_dispatch_reactor_class()
    installReactor(reactor_class(event_loop))  # type: ignore[no-untyped-call]
    logger.debug("installed the asyncio reactor on %s", type(event_loop).__name__)
    return event_loop


def _direct_dispatch_reactor_class(socket_errors: bool = False) -> type[Any]:
    """Twisted's asyncio reactor with one wrapper less around every socket event.

    Twisted registers each descriptor with the loop through ``log.callWithLogger``, which
    asks the transport for its log prefix and runs the callback inside a log context
    (two calls and a context dict per event) so that legacy ``twisted.python.log``
    messages carry that prefix. asgid logs through ``logging`` and its protocols never
    read that context, and the wrapper measured about a fifth of the server's own time
    per WebSocket round trip and a tenth per HTTP/1.1 request. Registration failures
    (descriptors epoll refuses) fall back to Twisted's own handling.

    ``_dispatch`` does what Twisted's ``_readOrWrite`` does, in the same call: it runs
    once per socket event, and each Python call on that path costs about as much as
    the work it wraps. With ``socket_errors`` it remembers the socket for the uvloop
    reactor's sweep for pending socket errors (below).
    """
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST
    from twisted.internet.posixbase import _NO_FILEDESC

    check_reactor_internals(AsyncioSelectorReactor)
    tcp_server = _plain_tcp_server()

    class DirectDispatchReactor(AsyncioSelectorReactor):
        _suspects: set[Any]  # sockets for the uvloop reactor's error sweep (socket_errors)

        def addReader(self, reader: Any) -> None:
            self._register(reader, True, super().addReader)

        def addWriter(self, writer: Any) -> None:
            self._register(writer, False, super().addWriter)

        def _register(self, selectable: Any, read: bool, fallback: Any) -> None:
            known = self._readers if read else self._writers
            polling: Any = self._continuousPolling
            if selectable in known or (
                polling.isReading(selectable) if read else polling.isWriting(selectable)
            ):
                return
            fd = selectable.fileno()
            add = self._asyncioEventloop.add_reader if read else self._asyncioEventloop.add_writer
            try:
                add(fd, self._dispatch, selectable, read)
            except OSError:
                self._unregisterFDInAsyncio(fd)  # type: ignore[no-untyped-call]
                fallback(selectable)  # Twisted's path: continuous polling, or the error
                return
            known[selectable] = fd

        def _dispatch(self, selectable: Any, read: bool) -> None:
            try:
                if selectable.fileno() == -1:
                    self._disconnectSelectable(selectable, _NO_FILEDESC, read)  # type: ignore[no-untyped-call]
                    return
                try:
                    if not read:
                        why = selectable.doWrite()
                    elif type(selectable) is not tcp_server:
                        why = selectable.doRead()
                    else:
                        # tcp.Connection.doRead without its two calls per read.
                        try:
                            data = selectable.socket.recv(selectable.bufferSize)
                        except OSError as exc:
                            why = None if exc.args[0] == errno.EWOULDBLOCK else CONNECTION_LOST
                        else:
                            why = None if data else CONNECTION_DONE
                            if data:
                                selectable.protocol.dataReceived(data)
                except Exception as exc:
                    why = exc
                    logger.exception("unexpected error handling an event on %r", selectable)
                if why:
                    self._disconnectSelectable(selectable, why, read)  # type: ignore[no-untyped-call]
                elif socket_errors:
                    # Looked at in batches, not with one getsockopt per event (the uvloop
                    # reactor below); an empty set means no sweep is scheduled yet.
                    suspects = self._suspects
                    if not suspects:
                        self._schedule_sweep()
                    suspects.add(selectable)
            except Exception:
                logger.exception("unexpected error handling an event on %r", selectable)

        def _schedule_sweep(self) -> None:
            """Look for pending socket errors soon (the uvloop reactor)."""

    return DirectDispatchReactor


def _plain_tcp_server() -> type[Any] | None:
    """Twisted's TCP server transport, if its read is still the one ``_dispatch`` does in
    its place (``recv(bufferSize)``, then ``protocol.dataReceived``); else None, and every
    read goes through ``doRead``."""
    from twisted.internet import tcp

    reads = getattr(tcp.Connection.doRead, "__code__", None)
    received = getattr(getattr(tcp.Connection, "_dataReceived", None), "__code__", None)
    if (
        tcp.Server.doRead is not tcp.Connection.doRead
        or reads is None
        or received is None
        or not {"recv", "bufferSize", "_dataReceived"} <= set(reads.co_names)
        or not {"protocol", "dataReceived"} <= set(received.co_names)
    ):
        return None
    return tcp.Server


def _uvloop_reactor_class() -> type[Any]:
    """Twisted's asyncio reactor, made to notice the sockets uvloop stops polling.

    libuv reports a socket with a pending error (a peer's RST: ``POLLERR``) as a failed
    poll; uvloop then runs the reader once more and closes its poll handle for good
    (``UVPoll._fatal_error``). When that last read still returns bytes the peer sent
    before its reset, Twisted sees no error, waits for an event that never comes, and the
    descriptor stays open for the life of the process: port scanners and mobile clients
    would exhaust the descriptor limit. So after each callback a pending socket error
    (``SO_ERROR``, one getsockopt) ends the connection as a failed read would have.

    The check runs in sweeps, not after every event: a socket that had an event is
    remembered, and at most ``ERROR_SWEEP_S`` later one getsockopt per remembered socket
    looks for its error. A per-event check cost a system call on every request of a
    keep-alive connection (about 3% of HTTP/1.1 requests/s at one connection); a sweep
    costs one per active connection and sweep, and a reset peer is noticed within the
    interval instead of at once.
    """
    from twisted.internet import error
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.python.failure import Failure

    check_reactor_internals(AsyncioSelectorReactor)

    class UvloopSelectorReactor(_direct_dispatch_reactor_class(socket_errors=True)):  # type: ignore[misc]
        def __init__(self, event_loop: asyncio.AbstractEventLoop) -> None:
            self._suspects: set[Any] = set()
            super().__init__(event_loop)

        def _schedule_sweep(self) -> None:
            self.callLater(ERROR_SWEEP_S, self._sweep_socket_errors)

        def _sweep_socket_errors(self) -> None:
            suspects, self._suspects = self._suspects, set()
            for selectable in suspects:
                sock = getattr(selectable, "socket", None)  # gone once the connection is lost
                try:
                    code = sock.getsockopt(SOL_SOCKET, SO_ERROR) if sock is not None else 0
                except OSError:
                    code = 0
                if code:
                    self._socket_failed(selectable, code)

        def _readOrWrite(self, selectable: Any, read: bool) -> None:
            # Twisted's own registration (descriptors epoll refused) still lands here.
            self._dispatch(selectable, read)

        def _socket_failed(self, selectable: Any, code: int) -> None:
            # What Twisted does when a read fails (posixbase._disconnectSelectable).
            self.removeReader(selectable)
            self.removeWriter(selectable)
            reason = error.ConnectionLost(f"socket error {errno.errorcode.get(code, code)}")
            selectable.connectionLost(Failure(reason))  # type: ignore[no-untyped-call]

    return UvloopSelectorReactor


def check_reactor_internals(reactor_class: type[Any]) -> None:
    """Fail at start-up, not with leaked descriptors, if Twisted's reactor changed shape.

    The uvloop reactor above overrides ``_readOrWrite``, a private method that
    ``addReader``/``addWriter`` hand to the loop as the callback of every descriptor, and
    the direct dispatch does its work with ``_disconnectSelectable``.
    """
    registers = getattr(reactor_class.addReader, "__code__", None)
    if (
        "_readOrWrite" not in vars(reactor_class)
        or "_unregisterFDInAsyncio" not in vars(reactor_class)
        or not hasattr(reactor_class, "_disconnectSelectable")
        or registers is None
        or not {"_readOrWrite", "_readers", "_continuousPolling"} <= set(registers.co_names)
    ):
        raise ConfigError(
            "this Twisted version's asyncio reactor no longer dispatches through "
            "_readOrWrite, which asgid relies on with uvloop: use --loop asyncio, or install "
            "a Twisted version within the range asgid's pyproject.toml names"
        )


def installed() -> Any:
    """The reactor ``install`` set up, for code that embeds a ``Server`` (Django's runserver).

    Only this module, ``cli`` and ``server`` import ``twisted.internet.reactor``; everything
    else receives the reactor from them.
    """
    from twisted.internet import reactor

    return reactor
