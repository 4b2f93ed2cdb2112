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
from bisect import bisect_left
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


class _Tally:
    """Events since the last flush for one labelled counter child: a plain int to add to."""

    __slots__ = ("child", "count")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.count = 0

    def flush(self) -> None:
        if self.count:
            count, self.count = self.count, 0
            self.child.inc(count)


class _Durations:
    """One protocol's request durations since the last flush, already sorted into the
    histogram's buckets (non-cumulative, as prometheus_client stores them)."""

    __slots__ = ("child", "buckets", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.buckets = [0] * len(child._upper_bounds)
        self.total = 0.0

    def flush(self) -> None:
        if not self.total and not any(self.buckets):
            return
        buckets, self.buckets = self.buckets, [0] * len(self.buckets)
        total, self.total = self.total, 0.0
        # prometheus_client has no public bulk observe(); the per-bucket values (plain or
        # mmap-backed under --workers) and the sum are what observe() itself increments.
        # Their layout has not changed since 0.4; _check_histogram_layout guards it.
        self.child._sum.inc(total)
        for value, count in zip(self.child._buckets, buckets, strict=True):
            if count:
                value.inc(count)


def _check_histogram_layout(pc: Any) -> None:
    """Refuse at start-up, not at the first flush, a prometheus_client whose histogram
    children lack the values ``_Durations.flush`` adds to."""
    init_names = pc.Histogram._metric_init.__code__.co_names
    bounds_names = pc.Histogram._prepare_buckets.__code__.co_names
    if not ({"_buckets", "_sum"} <= set(init_names) and "_upper_bounds" in bounds_names):
        raise ConfigError(
            "--metrics-endpoint: this prometheus_client stores histograms in a way asgid does"
            " not know; install prometheus-client>=0.20,<1 (pip install 'asgid[metrics]')"
        )


class PrometheusMetrics:
    """The ``MetricsSink`` the request hooks report to.

    A request costs a dict lookup and a few integer adds: counts and bucketed durations
    wait in plain Python objects until ``flush`` (once a second, before every scrape this
    process answers, and at shutdown) adds them to prometheus_client's values, so neither
    its locks nor, under ``--workers``, its mmap writes are paid per request.
    """

    def __init__(self) -> None:
        pc = _client()
        _check_histogram_layout(pc)
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
        # Upper bounds as observe() compares them (``amount <= bound``), +Inf last.
        self._bounds = (*DURATION_BUCKETS, float("inf"))
        self._answered: dict[tuple[str, int], tuple[_Tally, _Durations]] = {}
        self._durations: dict[str, _Durations] = {}
        self._rejected: dict[str, _Tally] = {}
        self._ws: dict[str, _Tally] = {}
        self._exceptions = _Tally(self.exceptions)
        self._pending: list[_Tally | _Durations] = [self._exceptions]
        self._connections: dict[str, Any] = {}

    # -- MetricsSink ------------------------------------------------------------------------
    def request_finished(self, protocol: str, status: int, duration_s: float) -> None:
        entry = self._answered.get((protocol, status))
        if entry is None:
            entry = self._answered_entry(protocol, status)
        entry[0].count += 1
        durations = entry[1]
        durations.buckets[bisect_left(self._bounds, duration_s)] += 1
        durations.total += duration_s

    def rejected(self, status: int) -> None:
        self._tally(self._rejected, self.rejected_requests, str(status)).count += 1

    def connection_opened(self, protocol: str) -> None:
        self._connection(protocol).inc()  # gauges go up and down: set at once, not batched

    def connection_closed(self, protocol: str) -> None:
        self._connection(protocol).dec()

    def websocket_message(self, direction: str) -> None:
        self._tally(self._ws, self.ws_messages, direction).count += 1

    def app_exception(self) -> None:
        self._exceptions.count += 1

    # -- batching ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Add what was counted since the last flush to prometheus_client's values."""
        for pending in self._pending:
            pending.flush()

    def _answered_entry(self, protocol: str, status: int) -> tuple[_Tally, _Durations]:
        durations = self._durations.get(protocol)
        if durations is None:
            durations = self._durations[protocol] = _Durations(self.duration.labels(protocol))
            self._pending.append(durations)
        tally = _Tally(self.requests.labels(protocol, str(status)))
        self._pending.append(tally)
        entry = self._answered[protocol, status] = (tally, durations)
        return entry

    def _tally(self, tallies: dict[str, _Tally], counter: Any, label: str) -> _Tally:
        tally = tallies.get(label)
        if tally is None:
            tally = tallies[label] = _Tally(counter.labels(label))
            self._pending.append(tally)
        return tally

    def _connection(self, protocol: str) -> Any:
        child = self._connections.get(protocol)
        if child is None:
            child = self._connections[protocol] = self.connections.labels(protocol)
        return child


def metrics_app(before_scrape: Callable[[], None] | None = None) -> Any:
    """The ASGI app answering scrapes: this process alone, or every worker's files summed.

    ``before_scrape`` runs first so the answer includes what this process counted since
    its last flush (other workers flush once a second).
    """
    pc = _client()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = pc.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        app = pc.make_asgi_app(registry)
    else:
        app = pc.make_asgi_app()  # the default registry: the app's own metrics show too
    if before_scrape is None:
        return app
    flush = before_scrape

    async def scrape(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            flush()
        await app(scope, receive, send)

    return scrape


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

    def flush(self) -> None:
        """Requests counted since the last flush, and the in-flight sample, go out now."""
        if self.sink is not None:
            self.sink.in_flight.set(self.in_flight())
            self.sink.flush()

    def _sync(self) -> None:
        self._timer = self.loop.call_later(LAYER_SYNC_S, self._sync)
        self.flush()
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
