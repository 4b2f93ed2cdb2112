"""Build and validate Twisted endpoint strings from ``-e/-b/-p/-u/--fd``; plain ``tcp:`` fast.

Every ``-e`` string is parsed as Twisted's ``serverFromString`` parses it, so any endpoint a
Twisted plugin provides works (``tcp:``, ``tcp6:``, ``ssl:``, ``unix:``, ``systemd:``,
``haproxy:``...); Twisted's own plugin kinds skip its plugin scan (``_twisted_core``).
``fd:fileno=N`` is Daphne's inherited-socket endpoint; Twisted has none, so asgid ships
one (``fd_endpoint.py``), also as a plugin (``twisted/plugins/asgid_fd.py``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred

from asgid.errors import ConfigError
from asgid.fd_endpoint import FileDescriptorEndpointParser

if TYPE_CHECKING:
    from asgid.tls_options import TLSOptions

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

EXAMPLES = (
    "tcp:8000:interface=127.0.0.1, tcp6:8000:interface=\\:\\:1, "
    "ssl:8443:privateKey=key.pem:certKey=cert.pem, https:8443:certKey=cert.pem:privateKey=key.pem, "
    "unix:/run/asgid.sock:mode=660, "
    "systemd:domain=INET:index=0, haproxy:tcp:8000 or fd:fileno=3"
)


def _escape(value: str) -> str:
    """Endpoint strings split on ':' and '='; a literal one is written '\\:'."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def build_descriptions(
    *,
    endpoints: list[str] | None,
    host: str | None,
    port: int | None,
    unix_socket: str | None,
    fd: int | None,
    backlog: int | None = None,
    tls: TLSOptions | None = None,
) -> tuple[str, ...]:
    """Daphne's rules, endpoints listed in the order given.

    ``-b`` alone listens on port 8000, ``-p`` alone on 127.0.0.1; ``-u`` and ``--fd`` add
    one endpoint each; with none of ``-e/-b/-p/-u/--fd`` asgid listens on 127.0.0.1:8000.
    With ``tls`` (the ``--ssl-*`` flags) that -b/-p (or default) listener, and ``--fd``,
    speak TLS.
    """
    listener = "tcp:" if tls is None else "https:"
    tail = "" if tls is None else ":" + tls.endpoint_parameters()
    descriptions: list[str] = list(endpoints or [])
    # Twisted's default backlog is 50: a burst of new connections would be refused.
    queue = "" if backlog is None else f":backlog={backlog}"
    if host or port is not None:
        # Daphne accepts "-b [::1]" as well as "-b ::1".
        bind = _escape((host or DEFAULT_HOST).strip("[]"))
        port = DEFAULT_PORT if port is None else port
        descriptions.append(f"{listener}port={port}:interface={bind}{tail}{queue}")
    if unix_socket:
        descriptions.append(f"unix:{_escape(unix_socket)}{queue}")
    if fd is not None:
        # uvicorn's --fd with --ssl-* serves TLS on the inherited socket; so does asgid.
        descriptions.append(f"fd:fileno={fd}" if tls is None else f"https:fileno={fd}{tail}")
    if not descriptions:
        descriptions.append(f"{listener}port={DEFAULT_PORT}:interface={DEFAULT_HOST}{tail}{queue}")
    return tuple(descriptions)


def server_from_string(reactor: Any, description: str) -> Any:
    """``serverFromString``, except that ``fd:`` and ``https:`` are always asgid's own parsers.

    Twisted picks the first plugin of a prefix it finds, and Daphne installs an ``fd``
    plugin too: where both are installed (common while moving from Daphne), which one
    served ``--fd`` would depend on plugin scan order. Parsing it here keeps it ours, and
    also works in editable installs, whose layout hides ``twisted/plugins`` from the scan.
    """
    prefix = description.split(":", 1)[0]
    if prefix == "https" or description.startswith("haproxy:https:"):
        from asgid.tls_endpoint import parse_tls

        inner = description.removeprefix("haproxy:")
        return parse_tls(reactor, inner, behind_proxy=inner != description)
    if prefix == "tcp":
        plain = _plain_tcp(reactor, description)
        if plain is not None:
            return plain
    if prefix == FileDescriptorEndpointParser.prefix:
        # fd: takes only plain digits, so no '\\:' escapes to honour here.
        fields = description.split(":")[1:]
        args = [f for f in fields if "=" not in f]
        kwargs = dict(f.split("=", 1) for f in fields if "=" in f)
        return FileDescriptorEndpointParser().parseStreamServer(reactor, *args, **kwargs)
    if prefix.lower() in _TWISTED_CORE_KINDS:
        core = _twisted_core(reactor, description)
        if core is not None:
            return core
    from twisted.internet.endpoints import serverFromString

    return serverFromString(reactor, description)  # type: ignore[no-untyped-call]


# Kinds Twisted ships as plugins of its own (twisted/plugins/twisted_core.py).
_TWISTED_CORE_KINDS = frozenset({"tcp6", "systemd", "haproxy", "tls", "stdio"})


def _twisted_core(reactor: Any, description: str) -> Any | None:
    """One of Twisted's own plugin endpoint kinds, without ``serverFromString``'s plugin scan.

    To find the parser of a kind it has not built in, ``serverFromString`` loads every
    endpoint plugin installed (``getPlugins``), importing each plugin's module: Autobahn's
    imports Autobahn and WAMP, about 20 MB and a fifth of a second of start-up. Twisted's
    own kinds are parsed here by the parser objects its plugin module exposes, given the
    arguments Twisted's own string parser makes. None (use ``serverFromString``) if either
    has moved.
    """
    try:
        from twisted.internet.endpoints import _parse
        from twisted.internet.interfaces import IStreamServerEndpointStringParser
        from twisted.plugins import twisted_core
    except ImportError:
        return None
    args, kwargs = _parse(description)  # type: ignore[no-untyped-call]
    kind = args[0].lower()
    for parser in vars(twisted_core).values():
        if IStreamServerEndpointStringParser.providedBy(parser) and parser.prefix.lower() == kind:
            return parser.parseStreamServer(reactor, *args[1:], **kwargs)
    return None


# tcp:PORT or tcp:port=PORT, then interface= and backlog= in any order; '\\:' escapes ':'.
_TCP_FIELD = re.compile(r"(?:[^:\\]|\\.)+")
_TCP_KEYS = frozenset({"port", "interface", "backlog"})


class PlainTCPEndpoint:
    """``tcp:`` straight to ``reactor.listenTCP``.

    ``twisted.internet.endpoints`` imports the whole TLS stack (pyOpenSSL, service_identity,
    idna) and Twisted's plugin scan runs on the first ``serverFromString``; a server
    that only listens on plain TCP skips both, which shortens start-up and keeps a few
    MB out of every worker. Anything this does not recognise goes to ``serverFromString``.
    """

    def __init__(self, reactor: Any, port: int, interface: str, backlog: int) -> None:
        self._reactor = reactor
        self.port = port
        self.interface = interface
        self.backlog = backlog

    def listen(self, factory: Any) -> Deferred[Any]:
        return maybeDeferred(
            self._reactor.listenTCP,
            self.port,
            factory,
            backlog=self.backlog,
            interface=self.interface,
        )


def _plain_tcp(reactor: Any, description: str) -> PlainTCPEndpoint | None:
    values: dict[str, str] = {}
    for index, raw in enumerate(_TCP_FIELD.findall(description[len("tcp:") :])):
        field = raw.replace("\\:", ":")
        if "\\" in field:
            return None
        key, sep, value = field.partition("=")
        if not sep:
            if index:
                return None
            key, value = "port", field
        if key not in _TCP_KEYS or key in values:
            return None
        values[key] = value
    port, backlog = values.get("port", ""), values.get("backlog", "50")
    if not port.isdigit() or not backlog.isdigit() or int(port) > 65535:
        return None  # Twisted's parser says what is wrong
    return PlainTCPEndpoint(reactor, int(port), values.get("interface", ""), int(backlog))


def validate(descriptions: tuple[str, ...], reactor: Any) -> None:
    """Parse every endpoint string now, so a typo fails at start with a clear line."""
    for description in descriptions:
        try:
            server_from_string(reactor, description)
        except ConfigError:
            raise  # asgid's own parsers (https:) already name the file or parameter at fault
        except Exception as exc:  # Twisted raises ValueError, KeyError, OSError, SSL errors...
            reason = _reason(description, exc)
            raise ConfigError(
                f"bad endpoint {description!r}: {reason}; write e.g. {EXAMPLES}"
            ) from exc


def _reason(description: str, exc: Exception) -> str:
    if description.startswith("systemd:") and isinstance(exc, (IndexError, KeyError)):
        # Twisted's systemd parser indexes LISTEN_FDS / LISTEN_FDNAMES without a check.
        return (
            "systemd passed no such socket (LISTEN_FDS/LISTEN_FDNAMES); start asgid from "
            "a .socket unit or under systemd-socket-activate"
        )
    if isinstance(exc, AttributeError) and description.startswith("systemd:"):
        return "domain= must be INET, INET6 or UNIX"
    return str(exc) or type(exc).__name__


def describe_port(description: str, port: Any) -> str:
    """``tcp:127.0.0.1:8000`` with the real port when 0 was asked for; a TLS endpoint keeps
    the prefix the user gave (``https:``, ``ssl:``)."""
    address: Any = port.getHost()
    kind = type(address).__name__
    if kind in ("IPv4Address", "IPv6Address"):
        scheme = _tls_prefix(description) or "tcp"
        host = f"[{address.host}]" if ":" in address.host else address.host
        return f"{scheme}:{host}:{address.port}"
    if kind == "UNIXAddress":
        name = address.name.decode() if isinstance(address.name, bytes) else address.name
        return f"unix:{name}"
    return description


def _tls_prefix(description: str) -> str | None:
    inner = description.removeprefix("haproxy:")
    prefix = inner.split(":", 1)[0]
    if prefix in ("ssl", "tls", "https"):
        return prefix
    # fd:...:tls= is a worker's adopted socket it does TLS on for an ssl: endpoint (see
    # shared_sockets.py); an https: endpoint stays https:fileno=N there.
    if prefix == "fd" and ":tls=" in inner:
        return "ssl"
    return None
