"""Import Twisted's reactor without its TLS stack when no endpoint of the process speaks TLS.

Why: ``twisted.internet.posixbase`` and ``twisted.internet.tcp`` import Twisted's TLS
modules inside ``try/except ImportError`` (TLS is optional to Twisted), and those import
pyOpenSSL, cryptography and cffi at once: about 13 MB of RSS and a sizeable part of the
start-up of a server that only listens on plain TCP, in every worker.

How, and what it changes: for the one import of the reactor modules, ``sys.modules``
holds ``None`` for the three Twisted modules below, so Twisted takes its own no-TLS
branches; the entries are removed right after, so anything imported later (the app,
Autobahn, an ``ssl:`` endpoint) imports them normally. What Twisted decided in those
branches is then put back lazily: the reactor's ``listenSSL``/``connectSSL`` find a
stand-in that imports ``twisted.protocols.tls`` on first use, and the reactor class
declares ``IReactorSSL`` again. One thing stays off: Twisted's plain TCP transports of
this process lack ``startTLS`` (``ITLSTransport``), which asgid never calls on its own
connections. docs/design.md ("Start-up and memory") says when this applies.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

# posixbase: `from twisted.protocols import tls`, `from twisted.internet import ssl`;
# tcp: `from twisted.internet._newtls import ...`. All three import OpenSSL.
TLS_MODULES = ("twisted.protocols.tls", "twisted.internet.ssl", "twisted.internet._newtls")
REACTOR_MODULES = ("twisted.internet.posixbase", "twisted.internet.tcp")

# Endpoint kinds that never do TLS in the process (asgid's fd: unless it carries tls=).
PLAIN_PREFIXES = frozenset({"tcp", "tcp6", "unix", "systemd", "fd"})


def only_plain(descriptions: tuple[str | None, ...]) -> bool:
    """Whether every endpoint string (None: not configured) is one that never does TLS."""
    for description in descriptions:
        if description is None:
            continue
        inner = description.removeprefix("haproxy:")
        prefix = inner.split(":", 1)[0]
        if prefix not in PLAIN_PREFIXES or (prefix == "fd" and ":tls=" in inner):
            return False
    return True


def import_reactor_without_tls() -> bool:
    """Import Twisted's asyncio reactor module without its TLS stack; False if too late.

    Too late means that something imported the reactor modules or the TLS modules
    already (an embedding program, the app's own imports in Django's runserver): then
    nothing is changed.
    """
    if any(name in sys.modules for name in (*REACTOR_MODULES, *TLS_MODULES)):
        return False
    for name in TLS_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]  # "import fails": Python's rule
    try:
        import twisted.internet.asyncioreactor  # noqa: F401
    finally:
        for name in TLS_MODULES:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    _restore_reactor_tls()
    return True


class _ImportedOnFirstUse:
    """Stands in for a module in ``posixbase``'s globals until an attribute is read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def _restore_reactor_tls() -> None:
    from twisted.internet import posixbase
    from twisted.internet.interfaces import IReactorSSL
    from zope.interface import classImplements

    module: Any = posixbase
    if module.tls is None and module.ssl is None:
        module.tls = _ImportedOnFirstUse("twisted.protocols.tls")
        module.ssl = _ImportedOnFirstUse("twisted.internet.ssl")
        classImplements(posixbase.PosixReactorBase, IReactorSSL)
