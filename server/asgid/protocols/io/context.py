"""``ServerContext``: what every connection of one server shares (config, app, reactor, state)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from asgid.config import Config
from asgid.proxy_headers import TrustedProxies

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from asgid.types import ASGIApp


class Connection(Protocol):
    """A live connection the server can ask to wind down."""

    def graceful_shutdown(self) -> None:
        """Stop taking new requests; close once in-flight work is done."""

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
    _drained: asyncio.Future[None] | None = field(default=None, init=False)
    # Autobahn's shared per-server options object, built on the first WebSocket handshake
    websocket_factory: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.trusted = TrustedProxies.parse(self.config.trusted_proxies)

    def track(self, conn: Connection) -> None:
        self.connections.add(conn)

    def forget(self, conn: Connection) -> None:
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
