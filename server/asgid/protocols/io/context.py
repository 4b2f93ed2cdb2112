"""``ServerContext``: what every connection of one server shares (config, app, reactor, state)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from asgid.config import Config
from asgid.hooks import RequestHooks
from asgid.protocols.io.headers import DefaultFields
from asgid.protocols.io.penalties import Penalties
from asgid.proxy_headers import TrustedProxies

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from asgid.types import ASGIApp


class Connection(Protocol):
    """A live connection the server can ask to wind down."""

    # "http/1.1", "h2" or "websocket": the label of asgid_connections_open
    protocol_name: str

    def graceful_shutdown(self) -> None:
        """Stop taking new requests; close once in-flight work is done."""

    def service_restart(self, final: bool) -> None:
        """This process is being replaced by a new worker (reload, recycling).

        First call: finish in-flight work without racing the client (an idle HTTP/1.1
        connection stays until its next request, answered with ``Connection: close``, or
        its idle timeout; HTTP/2 sends GOAWAY; a WebSocket stays open). ``final`` comes at
        ``--graceful-timeout``: a WebSocket closes with 1012 (service restart).
        """

    def abort(self) -> None:
        """Drop the connection now (the graceful timeout ran out)."""


class AccessLog(Protocol):
    def http(self, scope: Mapping[str, Any], status: int, size: int, duration_s: float) -> None: ...

    def websocket(self, event: str, scope: Mapping[str, Any], duration_s: float | None) -> None: ...


@dataclass(eq=False)
class ServerContext:
    """Built once per server; connections keep a reference, never a copy."""

    config: Config
    app: ASGIApp
    reactor: IReactorTime
    loop: asyncio.AbstractEventLoop
    state: dict[str, Any] = field(default_factory=dict)  # lifespan state, copied per scope
    access_log: AccessLog | None = None
    connections: set[Connection] = field(default_factory=set)
    shutting_down: bool = False
    trusted: TrustedProxies = field(init=False)
    default_fields: DefaultFields = field(init=False)  # server and date, unless the app set them
    _drained: asyncio.Future[None] | None = field(default=None, init=False)
    # Autobahn's shared per-server options object, built on the first WebSocket handshake
    websocket_factory: Any = field(default=None, init=False, repr=False)
    # limits, request budget and metrics; None when all are off (one check per request)
    hooks: RequestHooks | None = None
    http_timeout_s: float | None = field(init=False)  # the config's, read once per request
    penalties: Penalties = field(init=False)  # addresses just cut off for flooding

    def __post_init__(self) -> None:
        self.http_timeout_s = self.config.http_timeout_s
        self.penalties = Penalties(self.reactor, self.config.flood_penalty_max_s)
        self.trusted = TrustedProxies.parse(self.config.trusted_proxies)
        self.default_fields = DefaultFields(self.config.server_header)

    def track(self, conn: Connection) -> None:
        self.connections.add(conn)
        if self.hooks is not None:
            self.hooks.connection_opened(conn.protocol_name)

    def forget(self, conn: Connection) -> None:
        if self.hooks is not None and conn in self.connections:
            self.hooks.connection_closed(conn.protocol_name)
        self.connections.discard(conn)
        if not self.connections and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def drained(self) -> asyncio.Future[None]:
        """Resolves once no connection is left (asked for during graceful shutdown)."""
        if self._drained is None:
            self._drained = self.loop.create_future()
            if not self.connections:
                self._drained.set_result(None)
        return self._drained
