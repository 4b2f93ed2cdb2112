"""Listen on endpoints, track connections, handle signals, shut down gracefully and drain.

Order of a run: lifespan startup (so no request arrives before the app is ready), then
listen on every endpoint, then wait for SIGTERM/SIGINT. A first signal stops accepting,
asks every connection to finish its in-flight work (idle keep-alive connections close at
once), waits up to ``graceful_timeout_s``, aborts what is left, then runs lifespan
shutdown. A second SIGINT (or a third SIGTERM) exits at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import maybeDeferred

from asgid.config import Config
from asgid.endpoints import describe_port, server_from_string
from asgid.errors import LifespanFailure
from asgid.heartbeat import Heartbeat
from asgid.lifespan import Lifespan
from asgid.logging import AccessLogWriter
from asgid.operations import MetricsListener, build_hooks
from asgid.protocols.io.context import ServerContext
from asgid.protocols.switcher import ASGIServerFactory
from asgid.reactor_tls import only_plain
from asgid.systemd import notify, watchdog_interval_s
from asgid.tls_reload import TLSReloader

if TYPE_CHECKING:
    from asgid.types import ASGIApp
    from asgid.worker_link import WorkerLink

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_LIFESPAN = 3
RESTART_CLOSE_S = 5.0  # after close 1012, time for WebSocket closing handshakes
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention for "killed by ^C"


def notify_systemd(state: str) -> None:
    """sd_notify(3): tell a ``Type=notify`` service manager (or our supervisor) our state."""
    notify(state)


def _freeze_startup_heap() -> None:
    """Keep what start-up built (the app, its framework, Twisted) out of later collections.

    A full collection walks every tracked object, and a Django app's import leaves hundreds
    of thousands: each one was a pause of many milliseconds in the request tail. Objects
    alive now live as long as the process, so they move to the permanent generation
    (``gc.freeze``, which costs nothing). No collection runs first: start-up leaves only a
    few dozen unreachable objects, and a full pass before the first request would delay
    it by more than they are worth. The collector stays on for everything made later.
    """
    gc.freeze()


class Server:
    """Owns the reactor run: lifespan, listening ports, signals and graceful shutdown."""

    def __init__(
        self,
        config: Config,
        app: ASGIApp,
        reactor: Any,
        link: WorkerLink | None = None,
        *,
        handle_signals: bool = True,
    ) -> None:
        # configuration
        self.config = config
        self.reactor = reactor
        # False when embedded off the main thread (Django's autoreloader runs the server in
        # a thread), where asyncio cannot install signal handlers.
        self.handle_signals = handle_signals
        self.loop: asyncio.AbstractEventLoop = reactor._asyncioEventloop
        self.ctx = ServerContext(
            config=config,
            app=app,
            reactor=reactor,
            loop=self.loop,
            access_log=(
                AccessLogWriter(config.access_log_format) if config.access_log is not None else None
            ),
            hooks=build_hooks(config, link),
        )
        self.lifespan = Lifespan(app, config.lifespan, self.loop)
        self.ctx.state = self.lifespan.state
        # run state
        self.ports: list[Any] = []  # IListeningPort providers
        self.exit_code = EXIT_OK
        self._stop: asyncio.Future[bool] | None = None  # result: a restart (True) or a stop
        self._signals = 0
        # supervision: the supervisor's link (a worker) or systemd's watchdog (alone)
        self.link = link
        self._heartbeat: Heartbeat | None = None
        self._metrics = MetricsListener(config, reactor, self.loop, self.ctx.hooks)
        self._tls_reload = TLSReloader(reactor, config.ssl_reload_interval_s)

    def run(self) -> int:
        """Run until stopped by a signal or a startup failure; return the exit status."""
        self.reactor.callWhenRunning(self._begin)
        self.reactor.run(installSignalHandlers=False)
        return self.exit_code

    def _begin(self) -> None:
        self._stop = self.loop.create_future()
        if self.handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.loop.add_signal_handler(signum, self._on_signal, signum)
            self.loop.add_signal_handler(signal.SIGHUP, self._tls_reload.on_sighup)
            if self.link is not None:
                self.loop.add_signal_handler(signal.SIGUSR1, self._on_restart)
            # SIGTTIN/SIGTTOU size the --workers pool; their default action would stop this
            # process (e.g. `systemctl kill -s TTIN` reaches every worker too).
            for signum in (signal.SIGTTIN, signal.SIGTTOU):
                self.loop.add_signal_handler(signum, self._on_pool_signal, signum)
        self._tls_reload.start()
        if self.link is not None:
            self._heartbeat = self.link.watch(self.loop, self._parent_gone, self._open)
        else:
            interval = watchdog_interval_s(os.environ)
            if interval is not None:
                self._heartbeat = Heartbeat(self.loop, interval, self._status)
                self._heartbeat.start()
        task = self.loop.create_task(self._serve())
        task.add_done_callback(self._served)

    async def _serve(self) -> None:
        if not await self._start_up():
            await self._cancel_leftover_tasks()
            return
        if await self._listen():
            _freeze_startup_heap()
            logger.info("asgid ready: serving %s", self.config.app or "the application")
            notify_systemd("READY=1")
            assert self._stop is not None
            restart = await self._stop
            notify_systemd("STOPPING=1")
            self._tls_reload.stop()
            await self._drain(restart)
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._metrics.close()
        await self.lifespan.shutdown()
        await self._cancel_leftover_tasks()

    async def _start_up(self) -> bool:
        """Lifespan startup; False when the app refused or a signal came first."""
        assert self._stop is not None
        startup = asyncio.ensure_future(self.lifespan.startup())
        waiting: list[asyncio.Future[Any]] = [startup, self._stop]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():
            # systemd may stop a unit whose app is still starting; nothing listens yet.
            logger.warning("stopped during application startup")
            startup.cancel()
            return False
        try:
            startup.result()
        except LifespanFailure as exc:
            logger.error("Application startup failed: %s", exc)
            self.exit_code = EXIT_LIFESPAN
            return False
        return True

    async def _listen(self) -> bool:
        """Listen on every endpoint; on the first failure close the others and say why."""
        factory = ASGIServerFactory(self.ctx, tls=not only_plain(self.config.endpoints))
        for description in self.config.endpoints:
            try:
                endpoint = server_from_string(self.reactor, description)
                port = await endpoint.listen(factory).asFuture(self.loop)
            except Exception as exc:  # CannotListenError, OSError from adopted sockets, ...
                logger.error("Cannot listen on %s: %s", description, exc)
                self.exit_code = EXIT_ERROR
                await self._stop_listening()
                return False
            self.ports.append(port)
            logger.info("Listening on %s", describe_port(description, port))
        return await self._listen_metrics()

    async def _listen_metrics(self) -> bool:
        description = self.config.metrics_endpoint
        if description is None:
            return True
        try:
            port = await self._metrics.start(description)
        except Exception as exc:
            logger.error("Cannot serve metrics on %s: %s", description, exc)
            self.exit_code = EXIT_ERROR
            await self._stop_listening()
            return False
        logger.info("Metrics on %s/metrics", describe_port(description, port))
        return True

    async def _stop_listening(self) -> None:
        await self._metrics.stop()
        ports, self.ports = self.ports, []
        for port in ports:
            await maybeDeferred(port.stopListening).asFuture(self.loop)

    async def _drain(self, restart: bool = False) -> None:
        ctx = self.ctx
        ctx.shutting_down = True
        await self._stop_listening()
        for conn in list(ctx.connections):
            if restart:
                conn.service_restart(final=False)
            else:
                conn.graceful_shutdown()
        timeout_s = self.config.graceful_timeout_s
        if restart and not await self._drained_within(timeout_s):
            for conn in list(ctx.connections):
                conn.service_restart(final=True)  # WebSockets: close 1012
            timeout_s = RESTART_CLOSE_S
        try:
            await asyncio.wait_for(asyncio.shield(ctx.drained()), timeout=timeout_s)
        except asyncio.TimeoutError:
            logger.warning(
                "graceful timeout (%ss): aborting %d connection(s) still open",
                self.config.graceful_timeout_s,
                len(ctx.connections),
            )
            for conn in list(ctx.connections):
                conn.abort()

    async def _drained_within(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self.ctx.drained()), timeout=timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    async def _cancel_leftover_tasks(self) -> None:
        """App tasks of aborted connections: cancel them so the loop closes cleanly."""
        current = asyncio.current_task()
        leftovers = [t for t in asyncio.all_tasks(self.loop) if t is not current]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=1.0)

    def _served(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            logger.error("server failed: %s", exc, exc_info=exc)
            self.exit_code = EXIT_ERROR
        if self.reactor.running:
            self.reactor.stop()

    def _on_pool_signal(self, signum: int) -> None:
        if self.link is None:  # a worker leaves the pool to its supervisor, silently
            logger.warning(
                "%s ignored: it adds or removes a worker only with --workers",
                signal.Signals(signum).name,
            )

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            logger.info(
                "%s received: finishing in-flight requests (up to %ss); "
                "send SIGINT again to quit now",
                name,
                self.config.graceful_timeout_s,
            )
            if self._stop is not None and not self._stop.done():
                self._stop.set_result(False)
            return
        if signum == signal.SIGINT or self._signals > 2:
            logger.warning("second %s: exiting now", name)
            for conn in list(self.ctx.connections):
                conn.abort()
            self.exit_code = EXIT_INTERRUPTED
            if self.reactor.running:
                self.reactor.stop()

    def _on_restart(self) -> None:
        """SIGUSR1 from the supervisor: a successor serves now; drain for a restart."""
        self._signals += 1
        logger.info("worker %d replaced: finishing in-flight requests", os.getpid())
        if self._stop is not None and not self._stop.done():
            self._stop.set_result(True)

    def _parent_gone(self) -> None:
        # The parent-death SIGTERM usually comes too; one graceful stop serves both.
        if self._stop is not None and not self._stop.done():
            self._signals += 1
            self._stop.set_result(False)

    def _open(self) -> int:
        return len(self.ctx.connections)

    def _status(self) -> str:
        return f"STATUS=serving, {len(self.ctx.connections)} connections open"
