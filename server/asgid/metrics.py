"""Prometheus metrics (``--metrics-endpoint``): the ``asgid_*`` series and the ``/metrics`` app.

Only imported when metrics are on; ``prometheus_client`` is the ``metrics`` extra. Under
``--workers`` every process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode, chosen when it is first imported: the supervisor
sets the directory before that), and whichever worker accepts a scrape answers with the sum
over all of them. Gauges sum the live processes only; counters keep what dead workers
counted, so they never go backwards.

Channel-layer counters: asgid never imports ``asgid_layers``. Every second the process looks
up Django Channels' own registry of configured layers (``channels.layers.channel_layers``,
through ``sys.modules``, so nothing is imported that the app did not import) and exports the
``stats()`` of each layer that has one as ``asgid_layer_<name>_total{alias}`` (and the
``buffered`` backlog as the gauge ``asgid_layer_buffered{alias}``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from asgid.errors import ConfigError

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LAYER_SYNC_S = 1.0
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError(
            "--metrics-endpoint needs prometheus_client: pip install 'asgid[metrics]'"
        ) from None
    return prometheus_client


class PrometheusMetrics:
    """The ``MetricsSink`` the request hooks report to; label children cached per value."""

    def __init__(self) -> None:
        pc = _client()
        self.requests = pc.Counter(
            "asgid_requests", "Requests answered", ["protocol", "status"]
        )  # fmt: skip
        self.duration = pc.Histogram(
            "asgid_request_duration_seconds",
            "Time from request head to the end of the response",
            ["protocol"],
            buckets=DURATION_BUCKETS,
        )
        self.in_flight = pc.Gauge(
            "asgid_requests_in_flight", "Requests being served", multiprocess_mode="livesum"
        )
        self.connections = pc.Gauge(
            "asgid_connections_open", "Open connections", ["protocol"], multiprocess_mode="livesum"
        )
        self.ws_messages = pc.Counter(
            "asgid_websocket_messages", "WebSocket messages", ["direction"]
        )  # fmt: skip
        self.exceptions = pc.Counter("asgid_app_exceptions", "Exceptions raised by the app")
        self.rejected_requests = pc.Counter(
            "asgid_rejected_requests", "Requests refused by the server", ["status"]
        )
        self.restarts = pc.Counter("asgid_worker_restarts", "Workers replaced after a crash")
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._pending: dict[tuple[str, int], int] = {}

    # -- MetricsSink ------------------------------------------------------------------------
    def request_finished(self, protocol: str, status: int, duration_s: float) -> None:
        children = self._children.get((protocol, status))
        if children is None:
            children = self._children[protocol, status] = (
                self.requests.labels(protocol, str(status)),
                self.duration.labels(protocol),
            )
        # Counted in a plain dict, added to the counter once a second (``flush``).
        pending = self._pending
        key = (protocol, status)
        pending[key] = pending.get(key, 0) + 1
        children[1].observe(duration_s)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for key, count in pending.items():
            self._children[key][0].inc(count)

    def rejected(self, status: int) -> None:
        self.rejected_requests.labels(str(status)).inc()

    def connection_opened(self, protocol: str) -> None:
        self.connections.labels(protocol).inc()

    def connection_closed(self, protocol: str) -> None:
        self.connections.labels(protocol).dec()

    def websocket_message(self, direction: str) -> None:
        self.ws_messages.labels(direction).inc()

    def app_exception(self) -> None:
        self.exceptions.inc()


def metrics_app() -> Any:
    """The ASGI app answering scrapes: this process alone, or every worker's files summed."""
    pc = _client()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = pc.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return pc.make_asgi_app(registry)
    return pc.make_asgi_app()  # the default registry: the app's own metrics show too


def worker_gone(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class PeriodicExport:
    """Once a second, on the loop: the requests in flight (a sample, so requests pay no
    gauge update) and the channel layers' ``stats()`` as counters."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sink: PrometheusMetrics | None = None,
        in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self.loop = loop
        self.sink = sink
        self.in_flight = in_flight
        self._metrics: dict[str, Any] = {}
        self._seen: dict[tuple[str, str], int] = {}
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._sync()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.sink is not None:
            self.sink.flush()  # what the last second counted stays in the files

    def _sync(self) -> None:
        self._timer = self.loop.call_later(LAYER_SYNC_S, self._sync)
        if self.sink is not None:
            self.sink.in_flight.set(self.in_flight())
            self.sink.flush()
        for alias, layer in configured_layers():
            try:
                stats = layer.stats()
            except Exception:  # a layer's bug must not stop the export of the others
                logger.exception("stats() of channel layer %r failed", alias)
                continue
            for name, value in stats.items():
                self._export(alias, name, int(value))

    def _export(self, alias: str, name: str, value: int) -> None:
        pc = _client()
        if name == "buffered":
            gauge = self._metric("asgid_layer_buffered", pc.Gauge, "livesum")
            gauge.labels(alias).set(value)
            return
        counter = self._metric(f"asgid_layer_{name}", pc.Counter, None)
        before = self._seen.get((alias, name), 0)
        if value > before:
            counter.labels(alias).inc(value - before)
        self._seen[alias, name] = value

    def _metric(self, name: str, kind: Any, mode: str | None) -> Any:
        metric = self._metrics.get(name)
        if metric is None:
            extra = {"multiprocess_mode": mode} if mode else {}
            doc = f"Channel layer stats(): {name.removeprefix('asgid_layer_')}"
            metric = self._metrics[name] = kind(name, doc, ["alias"], **extra)
        return metric


def configured_layers() -> list[tuple[str, Any]]:
    """Layers Channels has built in this process that offer ``stats()``."""
    module = sys.modules.get("channels.layers")
    manager = getattr(module, "channel_layers", None)
    backends = getattr(manager, "backends", None)
    if not isinstance(backends, dict):
        return []
    return [(alias, layer) for alias, layer in backends.items() if hasattr(layer, "stats")]


class SupervisorMetrics:
    """Shares one prometheus_client multiprocess directory with the workers."""

    def __init__(self) -> None:
        # Chosen before prometheus_client is first imported (here and in each worker).
        self.owned = not os.environ.get(MULTIPROC_ENV)
        if self.owned:
            os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="asgid-metrics-")
        self.directory = os.environ[MULTIPROC_ENV]
        self.metrics = PrometheusMetrics()

    def restarted(self) -> None:
        self.metrics.restarts.inc()

    def worker_gone(self, pid: int) -> None:
        worker_gone(pid)

    def close(self) -> None:
        if self.owned:
            shutil.rmtree(self.directory, ignore_errors=True)
