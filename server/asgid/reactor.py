"""Install Twisted's asyncio reactor once, explicitly, and fail clearly if another is installed."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from asgid.config import LoopName
from asgid.errors import ConfigError

logger = logging.getLogger(__name__)


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
    loop: LoopName = "auto", *, threads: int | None = None, debug: bool = False
) -> asyncio.AbstractEventLoop:
    """Install the asyncio reactor on a fresh loop and return that loop.

    ``threads`` sizes the loop's default executor (Daphne's ``ASGI_THREADS``): Django runs
    sync views through ``run_in_executor(None, ...)``, so this bounds their concurrency.
    """
    event_loop = _install(loop)
    event_loop.set_debug(debug)
    if threads is not None:
        from concurrent.futures import ThreadPoolExecutor

        event_loop.set_default_executor(
            ThreadPoolExecutor(threads, thread_name_prefix="asgi-thread")
        )
    return event_loop


def _install(loop: LoopName) -> asyncio.AbstractEventLoop:
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        if type(reactor).__name__ != "AsyncioSelectorReactor":
            raise ConfigError(
                f"another Twisted reactor ({type(reactor).__name__}) is already installed; "
                "asgid needs the asyncio reactor: do not import twisted.internet.reactor "
                "before asgid starts"
            )
        installed: Any = reactor
        loop_in_use: asyncio.AbstractEventLoop = installed._asyncioEventloop
        return loop_in_use
    from twisted.internet import asyncioreactor

    event_loop = new_event_loop(loop)
    asyncio.set_event_loop(event_loop)
    asyncioreactor.install(event_loop)  # type: ignore[no-untyped-call]
    logger.debug("installed the asyncio reactor on %s", type(event_loop).__name__)
    return event_loop
