"""Listen on endpoints, track connections, handle signals, shut down gracefully and drain."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

from twisted.internet.endpoints import serverFromString

from asgid.config import Config
from asgid.errors import LifespanFailure
from asgid.lifespan import Lifespan
from asgid.logging import AccessLogWriter
from asgid.protocols.context import ServerContext
from asgid.protocols.factory import ASGIServerFactory

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort

    from asgid.types import ASGIApp

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_LIFESPAN = 3


def describe_port(description: str, port: IListeningPort) -> str:
    """``tcp:127.0.0.1:8000`` with the real port when 0 was asked for."""
    address: Any = port.getHost()
    kind = type(address).__name__
    if kind in ("IPv4Address", "IPv6Address"):
        scheme = "ssl" if description.startswith(("ssl:", "tls:")) else "tcp"
        host = f"[{address.host}]" if ":" in address.host else address.host
        return f"{scheme}:{host}:{address.port}"
    if kind == "UNIXAddress":
        name = address.name.decode() if isinstance(address.name, bytes) else address.name
        return f"unix:{name}"
    return description


class Server:
    """Owns the reactor run: lifespan, listening ports, signals and graceful shutdown."""

    def __init__(self, config: Config, app: ASGIApp, reactor: Any) -> None:
        self.config = config
        self.reactor = reactor
        self.loop: asyncio.AbstractEventLoop = reactor._asyncioEventloop
        self.ctx = ServerContext(
            config=config,
            app=app,
            reactor=reactor,
            loop=self.loop,
            access_log=AccessLogWriter() if config.access_log is not None else None,
        )
        self.lifespan = Lifespan(app, config.lifespan, self.loop)
        self.ctx.state = self.lifespan.state
        self.ports: list[IListeningPort] = []
        self.exit_code = EXIT_OK
        self._stop: asyncio.Future[None] | None = None
        self._signals = 0

    def run(self) -> int:
        """Run until stopped by a signal or a startup failure; return the exit status."""
        self.reactor.callWhenRunning(self._begin)
        self.reactor.run(installSignalHandlers=False)
        return self.exit_code

    def _begin(self) -> None:
        self._stop = self.loop.create_future()
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(signum, self._on_signal, signum)
        task = self.loop.create_task(self._serve())
        task.add_done_callback(self._served)

    async def _serve(self) -> None:
        try:
            await self.lifespan.startup()
        except LifespanFailure as exc:
            logger.error("Application startup failed: %s", exc)
            self.exit_code = EXIT_LIFESPAN
            return
        factory = ASGIServerFactory(self.ctx)
        for description in self.config.endpoints:
            endpoint = serverFromString(self.reactor, description)
            port = await endpoint.listen(factory).asFuture(self.loop)
            self.ports.append(port)
            logger.info("Listening on %s", describe_port(description, port))
        logger.info("asgid ready: serving %s", self.config.app or "the application")
        assert self._stop is not None
        await self._stop
        await self._drain()
        await self.lifespan.shutdown()

    async def _drain(self) -> None:
        ctx = self.ctx
        ctx.shutting_down = True
        await asyncio.gather(*(port.stopListening() for port in self.ports), return_exceptions=True)
        for conn in list(ctx.connections):
            conn.graceful_shutdown()
        try:
            await asyncio.wait_for(
                asyncio.shield(ctx.drained()), timeout=self.config.graceful_timeout_s
            )
        except asyncio.TimeoutError:
            logger.warning(
                "graceful timeout: closing %d connection(s) still open", len(ctx.connections)
            )
            for conn in list(ctx.connections):
                conn.abort()

    def _served(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            logger.error("server failed: %s", exc, exc_info=exc)
            self.exit_code = EXIT_ERROR
        self.reactor.stop()

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            logger.info(
                "%s received: finishing in-flight requests (up to %ss); signal again to quit now",
                signal.Signals(signum).name,
                self.config.graceful_timeout_s,
            )
            if self._stop is not None and not self._stop.done():
                self._stop.set_result(None)
            return
        if signum == signal.SIGINT or self._signals > 2:
            logger.warning("second %s: exiting now", signal.Signals(signum).name)
            for conn in list(self.ctx.connections):
                conn.abort()
            self.exit_code = EXIT_ERROR
            self.reactor.stop()
