"""sd_notify(3) datagrams to the service manager (or to a supervisor); the watchdog interval.

The same sender serves two listeners: systemd itself (``NOTIFY_SOCKET`` set by a
``Type=notify`` unit) and, inside ``--workers``, the supervisor, which hands each worker its
own ``NOTIFY_SOCKET`` and reads the same ``READY=1`` / ``WATCHDOG=1`` lines. Fields the
service manager does not know (``X_ASGID_*``) are ignored by systemd (sd_notify(3): "unknown
assignments are ignored"), so one message format serves both.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

logger = logging.getLogger(__name__)

# Load figures a worker reports to its supervisor beside WATCHDOG=1.
CONNECTIONS_FIELD = "X_ASGID_CONNECTIONS"
REQUESTS_FIELD = "X_ASGID_REQUESTS"
RECYCLE_FIELD = "X_ASGID_RECYCLE"


def _address(raw: str) -> str:
    return "\0" + raw[1:] if raw.startswith("@") else raw  # "@": abstract namespace


def notify(state: str, environ: Mapping[str, str] | None = None) -> None:
    """Send ``state`` (``KEY=value`` lines) to ``NOTIFY_SOCKET``, if a manager asked for it."""
    raw = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not raw:
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # A listener that stopped reading must not stall the event loop or supervisor:
            # with its queue full, this one message is dropped.
            sock.setblocking(False)
            sock.connect(_address(raw))
            sock.send(state.encode())
    except BlockingIOError:
        logger.debug("NOTIFY_SOCKET %s is full: dropped %r", raw, state)
    except OSError as exc:
        logger.warning("could not notify systemd at %s: %s", raw, exc)


def reloading_message() -> str:
    """``RELOADING=1`` with the ``MONOTONIC_USEC`` systemd 253+ requires beside it."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` when the watchdog is on for this process, else None.

    sd_watchdog_enabled(3): ``WATCHDOG_PID``, when set, names the one process that must pet;
    half the timeout is the interval the man page recommends.
    """
    raw = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not raw or (pid and pid != str(os.getpid())):
        return None
    try:
        usec = int(raw)
    except ValueError:
        logger.warning("ignoring WATCHDOG_USEC=%r: not a whole number of microseconds", raw)
        return None
    return usec / 2_000_000 if usec > 0 else None


def parse_fields(datagram: bytes) -> dict[str, str]:
    """``KEY=value`` lines of one datagram; lines without ``=`` are skipped."""
    fields: dict[str, str] = {}
    for line in datagram.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    return fields
