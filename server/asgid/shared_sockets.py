"""Bind every endpoint once in the supervisor and describe it for the workers that adopt it.

The supervisor binds through Twisted's own endpoint parsers, so ``tcp:``, ``tcp6:``,
``unix:``, ``systemd:``, ``fd:`` and a ``haproxy:`` wrapper behave exactly as in one process,
but it never runs the reactor: it only owns the sockets. A TLS endpoint is bound as
plain TCP with the same port, interface and backlog; each worker adopts that socket and does
TLS itself, since a TLS session cannot move between processes: Twisted's ``ssl:`` with the
context the original string describes (``fd:...:tls=``), asgid's ``https:`` with its own
parameters (``https:fileno=N:...``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from asgid.endpoints import describe_port, server_from_string
from asgid.errors import ConfigError
from asgid.fd_endpoint import encode_tls

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharedSocket:
    """One bound listening port and how a worker names it."""

    port: Any  # IListeningPort
    worker_description: str

    @property
    def fileno(self) -> int:
        fileno: int = self.port.fileno()
        return fileno


def bind_for_workers(descriptions: tuple[str, ...], reactor: Any) -> list[SharedSocket]:
    """Bind each endpoint in this process, closing what was bound if one fails."""
    from twisted.internet.protocol import Factory

    shared: list[SharedSocket] = []
    try:
        for description in descriptions:
            wrapper = "haproxy:" if description.startswith("haproxy:") else ""
            inner = description.removeprefix(wrapper)
            tls_parameters = None
            if inner.startswith("https:"):
                # asgid's https: endpoint: workers wrap the socket and load (and reload) the
                # certificate themselves. Imported here: it brings in Twisted's TLS stack.
                from asgid.tls_endpoint import tcp_part

                inner, tls_parameters = tcp_part(inner)
            endpoint = server_from_string(reactor, inner)
            tls = ""
            if inner.startswith("ssl:"):
                endpoint, tls = _plain_twin(reactor, endpoint), f":tls={encode_tls(inner)}"
            # Listening binds at once (the Deferred fires synchronously); no reactor run.
            port = _result_now(endpoint.listen(Factory()), description)
            logger.info("Listening on %s", describe_port(description, port))
            if tls_parameters is None:
                adopted = f"{wrapper}fd:fileno={port.fileno()}{tls}"
            else:
                adopted = f"{wrapper}https:fileno={port.fileno()}:{tls_parameters}"
            shared.append(SharedSocket(port, adopted))
    except BaseException:
        for item in shared:
            item.port.stopListening()
        raise
    return shared


def _plain_twin(reactor: Any, endpoint: Any) -> Any:
    """A TCP endpoint on the TLS endpoint's port, interface and backlog."""
    from twisted.internet.endpoints import TCP4ServerEndpoint

    try:
        port, backlog, interface = endpoint._port, endpoint._backlog, endpoint._interface
    except AttributeError:  # a TLS endpoint from a plugin we do not know the shape of
        raise ConfigError(
            f"--workers cannot share {type(endpoint).__name__}: use ssl:PORT:... endpoint "
            "strings, or terminate TLS in a proxy"
        ) from None
    # Twisted's TCP port takes an IPv6 interface as well.
    return TCP4ServerEndpoint(reactor, port, backlog, interface)  # type: ignore[no-untyped-call]


def _result_now(deferred: Any, description: str) -> Any:
    box: list[Any] = []
    deferred.addBoth(box.append)
    if not box:
        raise ConfigError(f"{description!r} cannot be shared with --workers")
    if hasattr(box[0], "raiseException"):  # a Failure: CannotListenError and friends
        box[0].raiseException()
    return box[0]
