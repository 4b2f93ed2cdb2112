"""Twisted endpoint plugin ``fd:fileno=N`` (Daphne's ``--fd``), found via ``twisted.plugins``.

This directory has no ``__init__.py`` on purpose: ``twisted.plugins`` extends its
``__path__`` with every ``twisted/plugins`` directory on ``sys.path`` that lacks one.
"""

from __future__ import annotations

from asgid.fd_endpoint import FileDescriptorEndpointParser
from twisted.plugin import IPlugin
from zope.interface import alsoProvides

asgid_fd = FileDescriptorEndpointParser()
alsoProvides(asgid_fd, IPlugin)
