"""``manage.py runserver`` served by asgid: HTTP/1.1, HTTP/2 and WebSockets, same options.

Django's own flags keep their meaning (``addrport``, ``--ipv6``, ``--noreload``,
``--nothreading``, ``--skip-checks``); with staticfiles installed, ``--nostatic`` and
``--insecure`` too. ``--noasgi`` falls back to Django's WSGI server. Beyond Daphne:
``--cert-file``/``--key-file`` or ``--self-signed`` serve HTTPS, where browsers speak HTTP/2.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from django.apps import apps  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]
from django.core.management import CommandError  # type: ignore[import-untyped]
from django.core.management.commands.runserver import Command as DjangoRunserver  # type: ignore[import-untyped]
from django.db import connections  # type: ignore[import-untyped]

from asgid import __version__, django_runner
from asgid.cli_values import parse_size
from asgid.config import MIB, Config
from asgid.errors import ConfigError


class Command(DjangoRunserver):  # type: ignore[misc]
    help = "Starts the asgid development server (HTTP/1.1, HTTP/2, WebSockets)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        add = parser.add_argument
        add("--noasgi", action="store_false", dest="use_asgi",
            help="Run Django's WSGI development server instead of asgid.")  # fmt: skip
        if apps.is_installed("django.contrib.staticfiles"):
            add("--nostatic", action="store_false", dest="use_static_handler",
                help="Do NOT serve static files at STATIC_URL.")  # fmt: skip
            add("--insecure", action="store_true", dest="insecure_serving",
                help="Serve static files even if DEBUG is False.")  # fmt: skip
        # Daphne's runserver spellings, so existing scripts keep working.
        add("--http_timeout", "--http-timeout", dest="http_timeout", type=float, default=None,
            help="Answer 503 when the app has not responded in this many seconds.")  # fmt: skip
        add("--websocket_handshake_timeout", "--websocket-handshake-timeout", type=float,
            dest="websocket_handshake_timeout", default=5.0,
            help="Seconds a consumer has to accept a WebSocket (default 5).")  # fmt: skip
        add("--websocket-max-message-size", type=parse_size, default=None,
            help="Largest WebSocket message in bytes, 0 for no limit (default: the "
                 "DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE setting, else 1 MiB).")  # fmt: skip
        add("--websocket-max-frame-size", type=parse_size, default=None,
            help="Largest WebSocket frame in bytes, 0 for no limit (default: the "
                 "DAPHNE_WEBSOCKET_MAX_FRAME_SIZE setting, else 1 MiB).")  # fmt: skip
        add("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
            help="Event loop under the reactor (default auto: uvloop when installed).")  # fmt: skip
        add("--cert-file", help="Serve HTTPS (and HTTP/2) with this PEM certificate.")
        add("--key-file", help="The PEM private key of --cert-file.")
        add("--self-signed", action="store_true",
            help="Serve HTTPS with a localhost certificate made on the fly.")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        self.tls = self._tls_files(options)
        if self.tls is not None:
            if not options["use_asgi"]:
                raise CommandError("--noasgi serves plain HTTP: drop --cert-file/--self-signed")
            self.protocol = "https"
        super().handle(*args, **options)

    def run(self, **options: Any) -> None:
        """Check the options once, before Django's autoreloader starts its child."""
        if options["use_asgi"]:
            try:
                self.config = self._config(options)
            except ConfigError as exc:
                raise CommandError(str(exc)) from exc
        super().run(**options)

    @staticmethod
    def _tls_files(options: dict[str, Any]) -> tuple[Path, Path] | None:
        cert: str = options.get("cert_file") or ""
        key: str = options.get("key_file") or ""
        if bool(cert) != bool(key):
            raise CommandError("--cert-file and --key-file go together: give both, or neither")
        if cert and options.get("self_signed"):
            raise CommandError("--self-signed makes its own certificate: drop --cert-file")
        if cert:
            for path in (cert, key):
                if not Path(path).is_file():
                    raise CommandError(f"{path}: no such file (make a pair with asgid-certs)")
            return Path(cert), Path(key)
        return django_runner.self_signed_files() if options.get("self_signed") else None

    def inner_run(self, *args: Any, **options: Any) -> None:
        if not options["use_asgi"]:
            return super().inner_run(*args, **options)  # type: ignore[no-any-return]
        from django.utils import autoreload  # type: ignore[import-untyped]

        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        for conn in connections.all(initialized_only=True):
            conn.close()
        django_runner.configure_logging(options["verbosity"])
        app = self.get_application(options)
        self._banner()
        on_main_thread = threading.current_thread() is threading.main_thread()
        status = django_runner.serve(self.config, app, handle_signals=on_main_thread)
        if status != 0:
            # The autoreloader runs us in a thread: only an OS exit ends the process.
            self.stderr.write(f"asgid stopped with status {status}")
            os._exit(status)
        if options.get("shutdown_message"):
            self.stdout.write(options["shutdown_message"])

    def _config(self, options: dict[str, Any]) -> Config:
        return Config(
            loop=options["loop"],
            # Only named in the "ready" line: runserver imports the app itself.
            app=getattr(settings, "ASGI_APPLICATION", None) or "get_asgi_application()",
            endpoints=(django_runner.endpoint(self._bind_addr(), int(self.port), self.tls),),
            root_path=getattr(settings, "FORCE_SCRIPT_NAME", None) or "",
            access_log="-" if options["verbosity"] >= 1 else None,
            http_timeout_s=options["http_timeout"],
            websocket_connect_timeout_s=options["websocket_handshake_timeout"],
            websocket_max_message_bytes=_size_option(options, "websocket_max_message_size"),
            websocket_max_frame_bytes=_size_option(options, "websocket_max_frame_size"),
            # A developer's ^C should not wait half a minute for an open browser tab.
            graceful_timeout_s=2.0,
        )

    def _bind_addr(self) -> str:
        return "0.0.0.0" if self.addr == "0" else str(self.addr)  # Django's "0:8000" shorthand

    def get_application(self, options: dict[str, Any]) -> Any:
        """The project's ASGI app, behind staticfiles' handler as Django's runserver does."""
        app = django_runner.default_application()
        if _serves_static(options):
            from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # type: ignore[import-untyped]

            return ASGIStaticFilesHandler(app)
        return app

    def get_handler(self, *args: Any, **options: Any) -> Any:
        """``--noasgi``: Django's WSGI handler, serving static files as staticfiles' runserver."""
        handler = super().get_handler(*args, **options)
        if _serves_static(options):
            from django.contrib.staticfiles.handlers import StaticFilesHandler

            return StaticFilesHandler(handler)
        return handler

    def _banner(self) -> None:
        addr = f"[{self.addr}]" if self._raw_ipv6 else self._bind_addr()
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        speaks = "HTTP/1.1, HTTP/2, WebSockets" if self.tls else "HTTP/1.1, h2c, WebSockets"
        self.stdout.write(
            f"{datetime.now().strftime('%B %d, %Y - %X')}\n"
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting ASGI/asgid version {__version__} development server at "
            f"{self.protocol}://{addr}:{self.port}/ ({speaks})\n"
            f"Quit the server with {quit_command}."
        )


def _serves_static(options: dict[str, Any]) -> bool:
    """staticfiles' rule: in DEBUG, or with ``--insecure``, unless ``--nostatic``."""
    use_static = options.get("use_static_handler", False)
    return bool(use_static and (settings.DEBUG or options.get("insecure_serving")))


def _size_option(options: dict[str, Any], name: str) -> int:
    """The flag, else Daphne's ``DAPHNE_<NAME>`` setting (so a switched project keeps it)."""
    value: int | None = options.get(name)
    if value is None:
        return int(getattr(settings, f"DAPHNE_{name.upper()}", MIB))
    return value
