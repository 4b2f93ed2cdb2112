"""Run one app coroutine per request or WebSocket: contain its errors, time it on the reactor."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

from asgid.asgi.http import DONE, HTTPCycle
from asgid.errors import ClientDisconnected, ProtocolError

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

    from asgid.asgi.websocket import WebSocketCycle  # an HTTP-only process never loads it
    from asgid.hooks import RequestHooks
    from asgid.types import ASGIApp

logger = logging.getLogger("asgid.app")
Task = asyncio.Task
TASK_NAME = "asgid-http"


class _Instance:
    """What both instance kinds share: once the client left, ``--application-close-timeout``
    for the app to notice, then its task is cancelled (on the reactor, like every timer)."""

    __slots__ = ("task", "_close_timer")
    task: asyncio.Task[None]
    _close_timer: IDelayedCall | None
    _STILL_RUNNING = "application instance still running %s after disconnect; cancelling it"

    def _cancel_later(self, reactor: IReactorTime, close_timeout_s: float, path: object) -> None:
        if not self.task.done() and self._close_timer is None:
            self._close_timer = reactor.callLater(close_timeout_s, self._on_close_timeout, path)

    def _on_close_timeout(self, path: object) -> None:
        self._close_timer = None
        if not self.task.done():
            logger.warning(self._STILL_RUNNING, path)
            self.task.cancel()


class AppHost(Protocol):
    """What an HTTP instance uses of its server (``ServerContext`` in ``protocols.io``)."""

    @property
    def app(self) -> ASGIApp: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def reactor(self) -> IReactorTime: ...
    @property
    def http_timeout_s(self) -> float | None: ...
    @property
    def hooks(self) -> RequestHooks | None: ...


class HTTPInstance(_Instance):
    """One running app coroutine for one ``HTTPCycle``, with its deadlines."""

    __slots__ = ("cycle", "_timer", "_hooks", "_started")

    def __init__(self, cycle: HTTPCycle, host: AppHost) -> None:
        # Two positional arguments: on Python 3.11 calling a class with keywords costs a
        # dict per call, and this runs once per request.
        self.cycle = cycle
        self._close_timer: IDelayedCall | None = None
        self._timer: IDelayedCall | None = None
        hooks = self._hooks = host.hooks
        if hooks is not None:
            self._started = time.monotonic()
            if not hooks.admit():
                self._hooks = None  # never admitted: nothing to count out
                self.task = host.loop.create_task(self._refuse())
                return
        timeout_s = host.http_timeout_s
        if timeout_s is not None:
            self._timer = host.reactor.callLater(timeout_s, self._on_http_timeout)
        loop = host.loop
        if loop.get_task_factory() is None:
            # What create_task does without a factory, less its wrapper, and named once
            # here: on Python 3.11 an unnamed task formats a "Task-<n>" name for itself.
            self.task = Task(self._run(host.app), loop=loop, name=TASK_NAME)
        else:
            self.task = loop.create_task(self._run(host.app))

    async def _refuse(self) -> None:
        """Over --limit-concurrency: 503 at once instead of queueing without bound."""
        self.cycle.respond_error(
            503, b"Service Unavailable: too many requests in flight", retry_after=True
        )
        self.cycle.finish()

    async def _run(self, app: ASGIApp) -> None:
        cycle = self.cycle
        try:
            await app(cycle.scope, cycle.receive, cycle.send)
            if cycle.state is not DONE and not cycle.disconnected:
                logger.error(
                    "ASGI application returned without %s its response (state: %s)",
                    "completing" if cycle.response_started else "starting",
                    cycle.state.value,
                )
        except asyncio.CancelledError:
            if not cycle.disconnected and not cycle.response_complete:
                logger.warning("ASGI application cancelled before it finished its response")
        except ClientDisconnected:
            logger.debug("application sent after the client disconnected")
        except ProtocolError as exc:
            logger.error("ASGI application broke the HTTP protocol: %s", exc)
        except Exception:
            logger.exception("Exception in ASGI application")
            if self._hooks is not None:
                self._hooks.app_exception()
        finally:
            if self._timer is not None or self._close_timer is not None:
                self._cancel_timers()
            cycle.finish()
            if self._hooks is not None:
                self._hooks.finished(
                    cycle.scope["http_version"], cycle.status, time.monotonic() - self._started
                )

    def _on_http_timeout(self) -> None:
        self._timer = None
        if self.cycle.respond_error(503, b"Service Unavailable: the application did not respond"):
            logger.warning("application did not respond in time; answered 503")
            self.task.cancel()

    def client_gone(self, reactor: IReactorTime, close_timeout_s: float) -> None:
        """The client left: give the app ``close_timeout_s`` to notice, then cancel it."""
        self.cycle.disconnect()
        self._cancel_later(reactor, close_timeout_s, self.cycle.scope.get("path"))

    def _cancel_timers(self) -> None:
        for timer in (self._timer, self._close_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._close_timer = None


class WebSocketInstance(_Instance):
    """One running app coroutine for one ``WebSocketCycle``, with its close timeout."""

    __slots__ = ("cycle",)
    _STILL_RUNNING = "WebSocket application for %s still running after disconnect; cancelling it"

    def __init__(
        self, app: ASGIApp, cycle: WebSocketCycle, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.cycle = cycle
        self._close_timer: IDelayedCall | None = None
        self.task = loop.create_task(self._run(app))

    async def _run(self, app: ASGIApp) -> None:
        cycle = self.cycle
        failed = False
        try:
            await app(cycle.scope, cycle.receive, cycle.send)
        except asyncio.CancelledError:
            if not cycle.disconnected:
                logger.warning("ASGI application cancelled while its WebSocket was open")
        except ClientDisconnected as exc:
            logger.debug("WebSocket application stopped: %s", exc)
        except ProtocolError as exc:
            failed = True
            logger.error("ASGI application broke the WebSocket protocol: %s", exc)
        except Exception:
            failed = True
            logger.exception("Exception in ASGI application")
        finally:
            timer, self._close_timer = self._close_timer, None
            if timer is not None and timer.active():
                timer.cancel()
            cycle.finish(failed)

    def client_gone(self, reactor: IReactorTime, close_timeout_s: float) -> None:
        """Give the app ``close_timeout_s`` to notice ``websocket.disconnect``, then cancel it."""
        self._cancel_later(reactor, close_timeout_s, self.cycle.scope.get("path"))
