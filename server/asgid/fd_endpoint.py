"""The ``fd:fileno=N`` endpoint parser (Daphne's ``--fd``): listen on an inherited socket.

Its own module so that both endpoint front ends (``endpoints.py`` and ``tls_endpoint.py``,
which adopts an inherited socket for TLS) can use it without importing each other.
"""

from __future__ import annotations

import base64
import socket
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IStreamServerEndpoint, IStreamServerEndpointStringParser
from zope.interface import implementer

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorCore


# IPlugin is declared by twisted/plugins/asgid_fd.py: importing twisted.plugin (file paths,
# zip imports) would add to every start-up for the endpoints that never need the plugin.
@implementer(IStreamServerEndpointStringParser)
class FileDescriptorEndpointParser:
    """``fd:fileno=N``: listen on an already bound and listening socket inherited as fd N."""

    prefix = "fd"

    def parseStreamServer(
        self, reactor: IReactorCore, *args: object, **kwargs: object
    ) -> IStreamServerEndpoint:
        from twisted.internet.endpoints import AdoptedStreamServerEndpoint

        fileno = _fileno(args, kwargs)
        try:
            # Only to learn the address family; detach() leaves the descriptor open.
            probe = socket.socket(fileno=fileno)
        except OSError as exc:
            raise ValueError(f"fd:fileno={fileno} is not an open socket ({exc.strerror})") from None
        family = probe.family
        kind = probe.type
        probe.detach()
        if kind != socket.SOCK_STREAM:
            raise ValueError(f"fd:fileno={fileno} is not a stream (TCP or unix) socket")
        adopted = AdoptedStreamServerEndpoint(reactor, fileno, family)  # type: ignore[no-untyped-call]
        tls = kwargs.get("tls")
        if isinstance(tls, str):
            return _TLSOverAdopted(adopted, _tls_context(reactor, tls))
        return adopted


def _tls_context(reactor: Any, encoded: str) -> Any:
    """The context factory of the ``ssl:`` string a supervisor bound as plain TCP
    (``fd:fileno=N:tls=<the ssl: string, base64>``, see ``asgid.shared_sockets``)."""
    from twisted.internet.endpoints import serverFromString

    tls_endpoint = serverFromString(reactor, decode_tls(encoded))  # type: ignore[no-untyped-call]
    return tls_endpoint._sslContextFactory


@implementer(IStreamServerEndpoint)
class _TLSOverAdopted:
    """TLS done in this process on a listening socket inherited from the supervisor."""

    def __init__(self, adopted: Any, context_factory: Any) -> None:
        self.adopted = adopted
        self.context_factory = context_factory

    def listen(self, factory: Any) -> Any:
        from twisted.protocols.tls import TLSMemoryBIOFactory

        # As reactor.listenSSL does; the wrapped factory still answers the ALPN offer.
        return self.adopted.listen(TLSMemoryBIOFactory(self.context_factory, False, factory))


def _fileno(args: tuple[object, ...], kwargs: dict[str, object]) -> int:
    raw = kwargs.get("fileno", args[0] if args else None)
    if not isinstance(raw, str) or not raw.isdigit():
        raise ValueError("write fd:fileno=N with N the number of an inherited listening socket")
    return int(raw)


# A supervisor hands a worker an ``ssl:`` listener as ``fd:fileno=N:tls=<this>`` (see
# ``asgid.shared_sockets``): the ``ssl:`` string as one field value.
def encode_tls(description: str) -> str:
    """An endpoint string as one ``fd:`` field value (no ``:``, ``=`` or spaces)."""
    return base64.urlsafe_b64encode(description.encode()).decode().rstrip("=")


def decode_tls(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
