"""``RequestHooks``: the one object the request path reports to (limits, budget, metrics).

The wire protocols and ASGI cycles hold ``ctx.hooks``, which is ``None`` unless
``--limit-concurrency``, ``--limit-max-requests`` or ``--metrics-endpoint`` asks for it: with
all three off, the hot path pays one attribute check per request and nothing else.
Stdlib only; the metrics backend is whatever object fits ``MetricsSink``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

RETRY_AFTER_S = 1  # what a 503 from --limit-concurrency tells the client to wait

# scope["http_version"] -> the protocol label of requests
PROTOCOL_LABELS = {"1.1": "http/1.1", "1.0": "http/1.0", "2": "h2"}


class MetricsSink(Protocol):
    """What ``asgid.metrics`` records; the hooks call it only when metrics are on."""

    def request_finished(self, protocol: str, status: int, duration_s: float) -> None: ...

    def rejected(self, status: int) -> None: ...

    def connection_opened(self, protocol: str) -> None: ...

    def connection_closed(self, protocol: str) -> None: ...

    def websocket_message(self, direction: str) -> None: ...

    def app_exception(self) -> None: ...


class RequestHooks:
    """Per-process accounting of requests (and WebSocket handshakes) in flight."""

    __slots__ = ("limit", "in_flight", "sink", "_on_request_done")

    def __init__(
        self,
        *,
        limit: int = 0,
        sink: MetricsSink | None = None,
        on_request_done: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit  # 0: no limit
        self.in_flight = 0
        self.sink = sink
        self._on_request_done = on_request_done

    def admit(self) -> bool:
        """Count a request in; False (and a counted 503) when over ``--limit-concurrency``."""
        if self.limit and self.in_flight >= self.limit:
            if self.sink is not None:
                self.sink.rejected(503)
            return False
        self.in_flight += 1  # metrics sample this once a second: no per-request gauge work
        return True

    def finished(self, http_version: str, status: int, duration_s: float) -> None:
        """An admitted request is over (answered, failed or abandoned by its client)."""
        self.in_flight -= 1
        if self.sink is not None:
            protocol = PROTOCOL_LABELS.get(http_version, http_version)
            self.sink.request_finished(protocol, status, duration_s)
        if self._on_request_done is not None:
            self._on_request_done()

    def handshake_done(self, status: int, duration_s: float) -> None:
        """An admitted WebSocket handshake is answered (101 accepted, else refused)."""
        self.in_flight -= 1
        if self.sink is not None:
            self.sink.request_finished("websocket", status, duration_s)
        if self._on_request_done is not None:
            self._on_request_done()

    def rejected(self, status: int) -> None:
        """The wire refused a request (400, 408, 413, 414, 431...)."""
        if self.sink is not None:
            self.sink.rejected(status)

    def connection_opened(self, protocol: str) -> None:
        if self.sink is not None:
            self.sink.connection_opened(protocol)

    def connection_closed(self, protocol: str) -> None:
        if self.sink is not None:
            self.sink.connection_closed(protocol)

    def websocket_message(self, direction: str) -> None:
        if self.sink is not None:
            self.sink.websocket_message(direction)

    def app_exception(self) -> None:
        if self.sink is not None:
            self.sink.app_exception()
