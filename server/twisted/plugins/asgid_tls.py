"""Twisted endpoint plugin ``https:`` (asgid's TLS listener with client certificates and reload).

Found through ``twisted.plugins`` like ``asgid_fd``; see ``asgid.tls_endpoint``.
"""

from __future__ import annotations

from asgid.tls_endpoint import TLSEndpointParser

asgid_tls = TLSEndpointParser()
