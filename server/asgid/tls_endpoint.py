"""asgid's ``https:`` endpoint: Twisted's ``ssl:`` plus client certificates, ciphers, minimum
version, key password, certificate reload, and adopting an inherited socket.

``https:8443:interface=0.0.0.0:certKey=cert.pem:privateKey=key.pem:caCerts=ca.pem:
certReqs=required`` listens on TCP; ``fileno=N`` in place of the port wraps an inherited,
already listening socket (how the workers of ``--workers`` serve TLS). The plugin in
``twisted/plugins/asgid_tls.py`` makes the prefix known to Twisted's ``serverFromString``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint
from twisted.internet.interfaces import IStreamServerEndpoint, IStreamServerEndpointStringParser
from twisted.plugin import IPlugin
from twisted.protocols.haproxy import proxyEndpoint
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from asgid.errors import ConfigError
from asgid.tls_context import ReloadableContext, context_for
from asgid.tls_options import options_from_parameters

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorCore

PREFIX = "https"
_LISTEN_PARAMETERS = ("port", "interface", "backlog", "fileno")


@implementer(IStreamServerEndpoint)
class AdoptedTLSServerEndpoint:
    """TLS over another endpoint's connections: an inherited listening socket (Twisted has
    no adopted ``ssl:``), or one that reads a PROXY protocol header first."""

    def __init__(self, inner: IStreamServerEndpoint, creator: ReloadableContext) -> None:
        self._inner = inner
        self._creator = creator

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        wrapped = TLSMemoryBIOFactory(self._creator, False, protocolFactory)
        return self._inner.listen(wrapped)


@implementer(IPlugin, IStreamServerEndpointStringParser)
class TLSEndpointParser:
    """``https:PORT:certKey=...``: see the module docstring and docs/tls.md."""

    prefix = PREFIX

    def parseStreamServer(
        self, reactor: IReactorCore, *args: object, **kwargs: object
    ) -> IStreamServerEndpoint:
        return self.parse(reactor, args, kwargs, behind_proxy=False)

    def parse(
        self,
        reactor: IReactorCore,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        behind_proxy: bool,
    ) -> IStreamServerEndpoint:
        """The endpoint; ``behind_proxy``: a PROXY protocol header precedes the handshake."""
        params = {str(k): str(v) for k, v in kwargs.items()}
        if args:
            if len(args) > 1 or "port" in params:
                raise ConfigError("https: takes one port: write https:8443:certKey=... ")
            params["port"] = str(args[0])
        listen = {k: params.pop(k) for k in _LISTEN_PARAMETERS if k in params}
        creator = context_for(options_from_parameters(params))
        if "fileno" not in listen and not behind_proxy:
            port, backlog, interface = _tcp_parameters(listen)
            return SSL4ServerEndpoint(  # type: ignore[no-untyped-call]
                reactor, port, creator, backlog=backlog, interface=interface
            )
        if "fileno" in listen:
            from asgid.fd_endpoint import FileDescriptorEndpointParser

            inner = FileDescriptorEndpointParser().parseStreamServer(
                reactor, fileno=listen["fileno"]
            )
        else:
            port, backlog, interface = _tcp_parameters(listen)
            inner = TCP4ServerEndpoint(  # type: ignore[no-untyped-call]
                reactor, port, backlog=backlog, interface=interface
            )
        if behind_proxy:
            # HAProxy (send-proxy, accept-proxy) writes the header in clear, before the TLS
            # handshake, so the PROXY reader sits outside TLS; Twisted's haproxy: wrapper
            # around ssl: would expect it inside the encrypted stream.
            inner = proxyEndpoint(inner)
        return AdoptedTLSServerEndpoint(inner, creator)


def _tcp_parameters(listen: dict[str, str]) -> tuple[int, int, str]:
    port = listen.get("port", "")
    if not port.isdigit():
        raise ConfigError(f"https: needs a port number first, e.g. https:8443:..., not {port!r}")
    backlog = listen.get("backlog", "50")
    if not backlog.isdigit():
        raise ConfigError(f"https: backlog= must be a number of connections, not {backlog!r}")
    return int(port), int(backlog), listen.get("interface", "")


def parse_tls(
    reactor: IReactorCore, description: str, *, behind_proxy: bool = False
) -> IStreamServerEndpoint:
    """An ``https:`` string to its endpoint, without the Twisted plugin scan (see endpoints.py).

    ``behind_proxy`` is ``haproxy:https:...``: a PROXY protocol header, then TLS.
    """
    args, kwargs = split_description(description)
    return TLSEndpointParser().parse(reactor, args, kwargs, behind_proxy=behind_proxy)


def split_description(description: str) -> tuple[list[str], dict[str, str]]:
    """Positional and ``key=value`` fields of an endpoint string, ``\\:``/``\\=`` escapes undone."""
    args: list[str] = []
    kwargs: dict[str, str] = {}
    for field in _split(description.removeprefix(PREFIX + ":")):
        name, sep, value = _partition_unescaped(field)
        if sep:
            kwargs[_unescape(name)] = _unescape(value)
        elif field:
            args.append(_unescape(field))
    return args, kwargs


def _partition_unescaped(field: str) -> tuple[str, str, str]:
    escaped = False
    for index, char in enumerate(field):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "=":
            return field[:index], "=", field[index + 1 :]
    return field, "", ""


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def tcp_part(description: str) -> tuple[str, str]:
    """Split a ``https:`` string into the TCP endpoint to bind and the TLS parameters.

    For ``--workers``: the supervisor binds ``tcp:...`` and the workers get
    ``https:fileno=N:<parameters>``, loading the certificate (and reloading it) themselves.
    """
    fields = _split(description.removeprefix(PREFIX + ":"))
    listen: list[str] = []
    tls: list[str] = []
    for index, field in enumerate(fields):
        name = field.split("=", 1)[0] if "=" in field else ""
        if (not name and index == 0) or name in _LISTEN_PARAMETERS:
            listen.append(field)
        else:
            tls.append(field)
    if any(field.startswith("fileno=") for field in listen):  # --fd with --ssl-*
        return "fd:" + ":".join(listen), ":".join(tls)
    return "tcp:" + ":".join(listen), ":".join(tls)


def _split(text: str) -> list[str]:
    """Split on unescaped ':' keeping escapes as written (they are passed on unchanged)."""
    fields, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields
