"""Logging set-up, the access-log writer, and the bridge from Twisted's log into stdlib once."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

from asgid.log_formats import AccessTemplate, JSONFormatter, NotAccess, load_log_config

access_logger = logging.getLogger("asgid.access")

LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(
    verbosity: int,
    access_log: str | None,
    log_fmt: str | None = None,
    *,
    log_format: str = "text",
    log_config: str | None = None,
) -> None:
    """Root handler on stderr at the level ``-v`` asks for; access log to a file or stdout.

    The access logger propagates, so handlers an app adds to the root logger see access
    lines too; asgid's own stderr handler skips them, as they have their own destination.
    A ``--log-config`` file is applied last and may change any of this.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(log_format, log_fmt or DEFAULT_FORMAT))
    handler.addFilter(NotAccess())
    root.addHandler(handler)
    root.setLevel(LEVELS.get(verbosity, logging.DEBUG))
    # Twisted's own chatter ("Starting factory ...") only at -v 3.
    logging.getLogger("twisted").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    _configure_access(access_log, log_format)
    if log_config is not None:
        load_log_config(log_config)


def _formatter(log_format: str, fmt: str) -> logging.Formatter:
    return JSONFormatter() if log_format == "json" else logging.Formatter(fmt)


def _configure_access(access_log: str | None, log_format: str) -> None:
    for handler in list(access_logger.handlers):
        access_logger.removeHandler(handler)
    access_logger.propagate = True
    if access_log is None:
        access_logger.disabled = True
        return
    access_logger.disabled = False
    target: logging.Handler
    if access_log == "-":
        target = logging.StreamHandler(sys.stdout)
    else:
        target = logging.FileHandler(access_log, encoding="utf-8")
    target.setFormatter(_formatter(log_format, "%(message)s"))
    access_logger.addHandler(target)
    access_logger.setLevel(logging.INFO)


def bridge_twisted_logs() -> None:
    """Send Twisted's log events to stdlib ``logging`` (loggers named ``twisted.*``)."""
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)


def _client(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return client[0] if client else "-"


def _escape(raw: bytes) -> str:
    """As Apache's mod_log_config does: ``"`` and ``\\`` backslashed, other bytes outside
    printable ASCII as ``\\xhh``, so a client cannot forge fields or lines."""
    if _PLAIN(raw) is not None:
        return raw.decode("ascii")
    return _UNSAFE.sub(_hex, raw).decode("ascii")


def _hex(match: re.Match[bytes]) -> bytes:
    char = match.group()
    return b"\\" + char if char in b'"\\' else b"\\x%02x" % char[0]


_PLAIN = re.compile(rb"[ !#-\[\]-~]*").fullmatch
_UNSAFE = re.compile(rb"[^ !#-\[\]-~]")


def _header(scope: Mapping[str, Any], wanted: bytes) -> str:
    for name, value in scope["headers"]:
        if name == wanted:
            return _escape(value)
    return "-"


class _Clock:
    """``[day/Mon/year:H:M:S zone]`` formatted once per second, not once per request."""

    second = -1
    text = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second = second
            cls.text = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second))
        return cls.text


def _timestamp() -> str:
    return _Clock.now()


class AccessLogWriter:
    """Apache combined format plus the request time in microseconds (``%D``), or the
    ``--access-log-format`` template; every line also carries its fields for JSON output."""

    def __init__(self, template: str | None = None) -> None:
        self.template = AccessTemplate(template) if template else None

    def http(self, scope: Mapping[str, Any], status: int, size: int, duration_s: float) -> None:
        query = scope["query_string"]
        target = _escape(scope["raw_path"] + (b"?" + query if query else b""))
        fields = {
            "client": _client(scope),
            "method": scope["method"],
            "path": target,
            "protocol": "HTTP/" + scope["http_version"],
            "status": status,
            "bytes": size,
            "duration_s": round(duration_s, 6),
            "referer": _header(scope, b"referer"),
            "user_agent": _header(scope, b"user-agent"),
        }
        if self.template is not None:
            access_logger.info("%s", self.template.render(fields), extra=fields)
            return
        access_logger.info(
            '%s - - [%s] "%s %s %s" %d %s "%s" "%s" %d',
            fields["client"],
            _timestamp(),
            fields["method"],
            target,
            fields["protocol"],
            status,
            size or "-",
            fields["referer"],
            fields["user_agent"],
            int(duration_s * 1_000_000),
            extra=fields,
        )

    def websocket(self, event: str, scope: Mapping[str, Any], duration_s: float | None) -> None:
        """``WSCONNECT`` / ``WSREJECT`` / ``WSDISCONNECT`` lines, as Daphne writes them."""
        fields = {
            "client": _client(scope),
            "method": event,
            "path": scope["path"],
            "protocol": "WebSocket",
            "status": None,
            "bytes": None,
            "duration_s": None if duration_s is None else round(duration_s, 6),
            "referer": "-",
            "user_agent": _header(scope, b"user-agent"),
        }
        if self.template is not None:
            access_logger.info("%s", self.template.render(fields), extra=fields)
            return
        access_logger.info(
            '%s - - [%s] "%s %s" - - "-" "%s" %s',
            fields["client"],
            _timestamp(),
            event,
            scope["path"],
            fields["user_agent"],
            "-" if duration_s is None else int(duration_s * 1_000_000),
            extra=fields,
        )
