"""Defer the modules Twisted imports at start-up but a server never calls.

Why, module by module:

- ``http.cookiejar``: ``twisted.python.compat`` (imported by ``twisted.internet.defer``, so
  by every Twisted program) does ``from http import cookiejar``, only to re-export it as
  ``cookielib`` for ``twisted.web.client``. It imports ``urllib.request``, which imports
  ``http.client``, the ``email`` parser, ``tempfile`` and ``hashlib``: about a tenth of
  asgid's start-up CPU, for a module no server path uses.
- ``twisted.internet.process`` (with ``pty``, ``tty`` and ``termios``): imported by the
  reactor's signal handling (``_signals``) and ``posixbase``, called only by
  ``spawnProcess`` and by the SIGCHLD handling ``reactor.run`` installs when asked to
  install signal handlers; asgid's server runs the reactor without them.
- ``twisted.internet.unix``: called only by the reactor's ``listenUNIX``/``connectUNIX``
  and ``adoptStreamPort`` of an ``AF_UNIX`` socket; a ``unix:`` endpoint loads it when it
  listens.
- ``twisted.internet.udp``: called only by ``listenUDP``/``listenMulticast``.

Each is imported as ``from package import module`` and used by attribute inside methods,
which is what makes a lazy entry work; ``from module import name`` would run it at once.
All three Twisted modules are used from the reactor thread only, so their first use
cannot race another thread (``LazyLoader`` is not thread-safe before Python 3.12): this
is also why ``pickle``, which ``twisted.python.reflect`` imports the same way, stays
eager, since an app's threads may call it first at the same time.

How, and what it changes: before Twisted is imported, each module is entered in
``sys.modules`` (and on its parent package) as a lazy module (``importlib.util.
LazyLoader``): the name exists, and the module runs on the first attribute anyone reads
from it, then behaves as the real one. Only a program that has not imported it yet is
changed; one that already has keeps it.
"""

from __future__ import annotations

import importlib.util
import sys

DEFERRED = (
    "http.cookiejar",
    "twisted.internet.process",
    "twisted.internet.unix",
    "twisted.internet.udp",
)


def defer_unused_imports() -> None:
    """Make the modules in ``DEFERRED`` lazy, unless something already imported them."""
    for name in DEFERRED:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)  # imports the parent packages, not the module
        if spec is None or spec.loader is None:
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # only arms the lazy load
        parent, _, child = name.rpartition(".")
        # `from http import cookiejar` reads the attribute, not sys.modules.
        setattr(sys.modules[parent], child, module)
