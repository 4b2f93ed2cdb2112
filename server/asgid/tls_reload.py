"""When certificates are reloaded: on SIGHUP, and on a change of the files' modification times.

``tls_context`` (pyOpenSSL) is imported when a reload is asked for, not with the server:
a server without TLS endpoints never needs it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

logger = logging.getLogger(__name__)


class TLSReloader:
    """SIGHUP handler plus the optional ``--ssl-reload-interval`` check, one timer per server."""

    def __init__(self, reactor: IReactorTime, interval_s: float | None) -> None:
        self.reactor = reactor
        self.interval_s = interval_s
        self._call: IDelayedCall | None = None

    def start(self) -> None:
        """Begin the modification-time checks (no-op without an interval)."""
        self._schedule()

    def on_sighup(self) -> None:
        """Reload every certificate of this process, changed or not (certbot deploy hooks)."""
        from asgid.tls_context import reload_tls

        logger.info("SIGHUP received: reloading TLS certificates")
        reload_tls()

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _schedule(self) -> None:
        if self.interval_s is not None:
            self._call = self.reactor.callLater(self.interval_s, self._check)

    def _check(self) -> None:
        from asgid.tls_context import reload_changed_tls

        self._call = None
        reload_changed_tls()
        self._schedule()
