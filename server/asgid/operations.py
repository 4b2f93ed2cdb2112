"""What limits, recycling and metrics add to one serving process: hooks, metrics listener.

Nothing here runs unless ``--limit-concurrency``, ``--limit-max-requests`` or
``--metrics-endpoint`` asks for it; with all three off the server gets no hooks at all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from asgid.config import Config
from asgid.endpoints import server_from_string
from asgid.hooks import RequestHooks

if TYPE_CHECKING:
    from asgid.metrics import PeriodicExport
    from asgid.worker_link import WorkerLink

logger = logging.getLogger(__name__)


def build_hooks(config: Config, link: WorkerLink | None) -> RequestHooks | None:
    """The request hooks this process needs, or None when nothing asks for them."""
    budget = link is not None and link.budget > 0
    if not (config.limit_concurrency or budget or config.metrics_endpoint):
        return None
    sink = None
    if config.metrics_endpoint:
        from asgid.metrics import PrometheusMetrics

        sink = PrometheusMetrics()
    return RequestHooks(
        limit=config.limit_concurrency,
        sink=sink,
        on_request_done=link.request_done if budget and link is not None else None,
    )


class MetricsListener:
    """``/metrics`` on its own endpoint, served by asgid's HTTP stack with no hooks."""

    def __init__(
        self,
        config: Config,
        reactor: Any,
        loop: asyncio.AbstractEventLoop,
        hooks: RequestHooks | None = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self.loop = loop
        self.hooks = hooks
        self.port: Any = None
        self._layers: PeriodicExport | None = None

    async def start(self, description: str) -> Any:
        from asgid.metrics import PeriodicExport, PrometheusMetrics, metrics_app
        from asgid.protocols.io.context import ServerContext
        from asgid.protocols.switcher import ASGIServerFactory

        hooks = self.hooks
        sink = hooks.sink if hooks is not None else None
        export = self._layers = PeriodicExport(
            self.loop,
            sink if isinstance(sink, PrometheusMetrics) else None,
            (lambda: hooks.in_flight) if hooks is not None else (lambda: 0),
        )
        ctx = ServerContext(
            config=self.config,
            app=metrics_app(before_scrape=export.flush),
            reactor=self.reactor,
            loop=self.loop,
        )
        endpoint = server_from_string(self.reactor, description)
        self.port = await endpoint.listen(ASGIServerFactory(ctx)).asFuture(self.loop)
        export.start()
        return self.port

    def close(self) -> None:
        """The server is done: the last counts go out (the drain is counted too)."""
        if self._layers is not None:
            self._layers.stop()
            self._layers = None

    async def stop(self) -> None:
        """Stop listening for scrapes (the drain begins); counting goes on until ``close``."""
        port, self.port = self.port, None
        if port is not None:
            from twisted.internet.defer import maybeDeferred

            await maybeDeferred(port.stopListening).asFuture(self.loop)
