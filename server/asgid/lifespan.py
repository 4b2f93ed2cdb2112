"""Run the ASGI lifespan protocol; startup and shutdown outcomes come back as values or errors."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgid.config import LifespanMode
from asgid.errors import LifespanFailure
from asgid.types import ASGIApp, Message

logger = logging.getLogger(__name__)


class Lifespan:
    """One long-lived app call with ``scope["type"] == "lifespan"``.

    ``state`` is the dict the app fills during startup; every request scope gets a shallow
    copy of it (ASGI lifespan state extension).
    """

    def __init__(self, app: ASGIApp, mode: LifespanMode, loop: asyncio.AbstractEventLoop) -> None:
        self.state: dict[str, Any] = {}
        self._app = app
        self._mode = mode
        self._loop = loop
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done: asyncio.Future[Message] = loop.create_future()
        self._shutdown_done: asyncio.Future[Message] = loop.create_future()
        self._task: asyncio.Task[None] | None = None
        self._unsupported = False

    async def startup(self) -> None:
        """Raise ``LifespanFailure`` when the app refuses to start."""
        if self._mode == "off":
            return
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = self._loop.create_task(self._run(scope))
        await self._inbox.put({"type": "lifespan.startup"})
        message = await self._startup_done
        if message["type"] == "lifespan.startup.failed":
            raise LifespanFailure(message.get("message") or "the application failed to start")

    async def shutdown(self) -> None:
        if self._task is None or self._unsupported or self._task.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        message = await self._shutdown_done
        if message["type"] == "lifespan.shutdown.failed":
            logger.error("application shutdown failed: %s", message.get("message", ""))

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self._app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise  # the server gave up waiting (a signal during startup): not the app's fault
        except BaseException as exc:
            self._app_raised(exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            # An app that returns without answering both phases is done with lifespan.
            for future in (self._startup_done, self._shutdown_done):
                if not future.done():
                    future.set_result({"type": "lifespan.shutdown.complete"})
            if not self._startup_done.done():
                self._startup_done.set_result({"type": "lifespan.startup.complete"})

    def _app_raised(self, exc: BaseException) -> None:
        if self._startup_done.done():
            logger.error("application raised during lifespan shutdown", exc_info=exc)
            return
        if self._mode == "on":
            logger.error("application raised during lifespan startup", exc_info=exc)
            self._startup_done.set_result(
                {"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            return
        self._unsupported = True
        logger.info("ASGI 'lifespan' protocol appears unsupported by the application.")
        logger.debug("lifespan error", exc_info=exc)
        self._startup_done.set_result({"type": "lifespan.startup.complete"})

    async def _receive(self) -> Message:
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if not self._startup_done.done():
                self._startup_done.set_result(dict(message))
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if not self._shutdown_done.done():
                self._shutdown_done.set_result(dict(message))
        else:
            raise RuntimeError(f"expected a lifespan.* message, got {kind!r}")
