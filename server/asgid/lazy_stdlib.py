"""Defer the standard-library modules Twisted imports at start-up but a server never calls.

Why: ``twisted.python.compat`` (imported by ``twisted.internet.defer``, so by every
Twisted program) does ``from http import cookiejar``, only to re-export it as
``cookielib`` for ``twisted.web.client``. ``http.cookiejar`` imports ``urllib.request``,
which imports ``http.client``, the ``email`` parser, ``tempfile`` and ``hashlib``: about a
tenth of asgid's start-up CPU, for a module no server path uses.

How, and what it changes: before Twisted is imported, ``http.cookiejar`` is entered in
``sys.modules`` (and on the ``http`` package) as a lazy module (``importlib.util.
LazyLoader``): the name exists, and the module runs on the first attribute anyone reads
from it (an app's cookie jar, ``twisted.web.client``), then behaves as the real one.
Only a program that has not imported it yet is changed; one that already has keeps it.
"""

from __future__ import annotations

import importlib.util
import sys

DEFERRED = ("http.cookiejar",)


def defer_unused_imports() -> None:
    """Make the modules in ``DEFERRED`` lazy, unless something already imported them."""
    for name in DEFERRED:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # only arms the lazy load
        parent, _, child = name.rpartition(".")
        # `from http import cookiejar` reads the attribute, not sys.modules.
        setattr(sys.modules[parent], child, module)
