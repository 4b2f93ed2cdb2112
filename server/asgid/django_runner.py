"""What ``manage.py runserver`` needs from asgid: the app, a ``Config``, logging and the run.

Django's autoreloader runs the server in a thread of a child process and restarts that
process when code changes, so the server here must not install signal handlers in that
case; with ``--noreload`` it runs on the main thread and Ctrl-C drains gracefully.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from asgid.config import Config
from asgid.endpoints import build_descriptions

if TYPE_CHECKING:
    from asgid.types import ASGIApp

logger = logging.getLogger("asgid")

# Renew the on-the-fly certificate well before its 30 days run out.
SELF_SIGNED_MAX_AGE_S = 20 * 86400
LOG_FORMAT = "[%(asctime)s] %(message)s"
LOG_DATE_FORMAT = "%d/%b/%Y %H:%M:%S"  # the format of Django's own runserver lines


def default_application() -> ASGIApp:
    """``settings.ASGI_APPLICATION`` if set (Channels projects), else Django's ASGI handler."""
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
    from django.utils.module_loading import import_string  # type: ignore[import-untyped]

    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        from django.core.asgi import get_asgi_application  # type: ignore[import-untyped]

        return get_asgi_application()  # type: ignore[no-any-return]
    try:
        return import_string(path)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"ASGI_APPLICATION is {path!r}, which cannot be imported: {exc}"
        ) from exc


def self_signed_files() -> tuple[Path, Path]:
    """A localhost certificate and key, kept per user so browsers are asked to trust it once."""
    from asgid.certs import write_pair

    directory = Path(tempfile.gettempdir()) / f"asgid-runserver-{os.getuid()}"
    cert, key = directory / "cert.pem", directory / "key.pem"
    fresh = (
        cert.exists()
        and key.exists()
        and time.time() - cert.stat().st_mtime < SELF_SIGNED_MAX_AGE_S
    )
    if not fresh:
        directory.mkdir(mode=0o700, exist_ok=True)
        cert, key = write_pair(directory)
    return cert, key


def _endpoint_value(value: str) -> str:
    """Endpoint strings split on ':' and '='; a literal one is written with a backslash."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def endpoint(addr: str, port: int, tls: tuple[Path, Path] | None) -> str:
    """The one endpoint runserver listens on: plain TCP, or TLS (HTTP/2 through ALPN)."""
    (description,) = build_descriptions(
        endpoints=None, host=addr, port=port, unix_socket=None, fd=None
    )
    if tls is None:
        return description
    cert, key = tls
    return (
        "ssl:" + description.removeprefix("tcp:")
        + f":privateKey={_endpoint_value(str(key))}:certKey={_endpoint_value(str(cert))}"
    )  # fmt: skip


def configure_logging(verbosity: int) -> None:
    """asgid's lines on stderr and the access log on stdout, each handler set once.

    Only asgid's own loggers get handlers: the root logger belongs to the project's
    ``LOGGING`` setting.
    """
    _own_handler("asgid", sys.stderr, logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
    logging.getLogger("asgid").setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    # Access lines carry their own timestamp.
    _own_handler("asgid.access", sys.stdout, logging.Formatter("%(message)s"))


def _own_handler(name: str, stream: TextIO, formatter: logging.Formatter) -> None:
    target = logging.getLogger(name)
    if not target.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        target.addHandler(handler)
    target.propagate = False


def serve(config: Config, app: ASGIApp, *, handle_signals: bool) -> int:
    """Install the reactor on this thread, serve until stopped; the exit status."""
    from asgid import logging as asgid_logging, reactor as reactor_setup

    reactor_setup.install(config.loop)
    from asgid.server import Server

    asgid_logging.bridge_twisted_logs()
    return Server(config, app, reactor_setup.installed(), handle_signals=handle_signals).run()
