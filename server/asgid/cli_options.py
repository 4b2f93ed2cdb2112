"""Every command-line flag (Daphne's names first), its group and its help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from asgid import __version__
from asgid.cli_env import ENV_PREFIX
from asgid.cli_values import (
    as_argument,
    parse_csv,
    parse_size,
    seconds_or_forever,
    seconds_or_none,
)
from asgid.config import MIB
from asgid.tls_options import (
    DEFAULT_CIPHERS,
    DEFAULT_MIN_VERSION,
    parse_cert_reqs,
    parse_min_version,
)


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    environ = {} if environ is None else environ
    p = argparse.ArgumentParser(
        prog="asgid",
        description="Serve an ASGI 3 application over HTTP/1.1, HTTP/2 and WebSockets.",
        epilog=f"Every option can also be set as an environment variable {ENV_PREFIX}<OPTION>, "
        "e.g. ASGID_PORT=9000 or ASGID_PROXY_HEADERS=1.",
    )
    p.add_argument(
        "application",
        nargs="?",
        default=environ.get(ENV_PREFIX + "APP"),
        help="the ASGI application, as module.path:attribute (or set ASGID_APP)",
    )
    p.add_argument("--version", action="version", version=f"asgid {__version__}")
    _listen_options(p.add_argument)
    _logging_options(p.add_argument)
    _http_options(p.add_argument)
    _proxy_options(p.add_argument)
    _lifecycle_options(p.add_argument)
    _limit_options(p.add_argument)
    _http2_options(p.add_argument)
    _websocket_options(p.add_argument)
    _websocket_protocol_options(p.add_argument)
    _app_options(p.add_argument)
    _operations_options(p.add_argument)
    _reload_options(p.add_argument)
    _tls_options(p.add_argument)
    return p


def _listen_options(add: Callable[..., Any]) -> None:
    """Where to listen (Daphne's names and rules)."""
    add(
        "-e",
        "--endpoint",
        dest="endpoints",
        action="append",
        metavar="ENDPOINT",
        help="Twisted endpoint string, repeatable: tcp:8000, "
        "https:8443:certKey=c.pem:privateKey=k.pem (see --ssl-*), unix:/run/asgid.sock, "
        "systemd:domain=INET:index=0, haproxy:tcp:8000, fd:fileno=3",
    )
    add("-b", "--bind", dest="host", help="address to bind (default 127.0.0.1)")
    add("-p", "--port", type=int, help="TCP port (default 8000)")
    add("-u", "--unix-socket", help="path of a unix socket to listen on")
    add("--fd", type=int, help="listen on an inherited, already bound socket file descriptor")


def _logging_options(add: Callable[..., Any]) -> None:
    """Log levels, access log, log format."""
    add("-v", "--verbosity", type=int, default=1, help="0 quiet .. 3 everything (default 1)")
    add(
        "--access-log",
        help="where to write the access log: a file path, or - for stdout "
        "(default: stdout when -v is 1 or more, as in Daphne)",
    )
    add("--log-fmt", help="logging format string for the server's log lines")


def _http_options(add: Callable[..., Any]) -> None:
    """HTTP timeouts, root path and Server header (Daphne's names)."""
    add(
        "-t",
        "--http-timeout",
        type=seconds_or_none,
        default=None,
        help="answer 503 if the app has not responded within this many seconds (default none)",
    )
    add(
        "--send-timeout",
        type=float,
        default=30.0,
        help="seconds an HTTP response send may wait while the client takes nothing (no "
        "HTTP/2 window, no reads) before its stream is reset or connection dropped, 0 for "
        "no limit (default 30)",
    )
    add(
        "--application-close-timeout",
        type=float,
        default=10.0,
        help="seconds an app instance may run on after its client left (default 10)",
    )
    add("--root-path", default="", help="the path this app is mounted at behind a proxy")
    add("-s", "--server-name", default="asgid", help="value of the Server header")
    add("--no-server-name", action="store_true", help="send no Server header")


def _proxy_options(add: Callable[..., Any]) -> None:
    """Proxy headers (Daphne's) and the trusted proxies (beyond Daphne)."""
    add(
        "--proxy-headers",
        action="store_true",
        help="use X-Forwarded-For/-Proto/-Port/-Host and Forwarded for client address and scheme",
    )
    add(
        "--proxy-headers-host",
        help="header that holds the client address (default X-Forwarded-For)",
    )
    add("--proxy-headers-port", help="header that holds the client port (default X-Forwarded-Port)")
    add(
        "--forwarded-allow-ips",
        type=parse_csv,
        default=None,
        help="comma-separated proxies trusted for proxy headers (IPs, networks, unix, *)",
    )


def _lifecycle_options(add: Callable[..., Any]) -> None:
    """Beyond Daphne: lifespan, graceful shutdown and connection timeouts."""
    add(
        "--lifespan",
        choices=["auto", "on", "off"],
        default="auto",
        help="run the ASGI lifespan protocol (default auto: if the app speaks it)",
    )
    add(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds in-flight requests get after SIGTERM (default 30)",
    )
    add(
        "--timeout-keep-alive",
        type=float,
        default=5.0,
        help="close idle keep-alive connections after this many seconds (default 5)",
    )
    add(
        "--timeout-request-headers",
        type=float,
        default=10.0,
        help="drop a client that has not sent a full request head in this many seconds "
        "(default 10)",
    )


def _limit_options(add: Callable[..., Any]) -> None:
    """Beyond Daphne: request size limits."""
    add(
        "--limit-request-line",
        type=int,
        default=8190,
        help="longest request target in bytes (default 8190; longer: 414)",
    )
    add(
        "--limit-request-headers",
        type=int,
        default=100,
        help="most request header fields (default 100; more: 431)",
    )
    add(
        "--limit-request-header-bytes",
        type=parse_size,
        default=65536,
        help="largest total size of request header fields (default 64k; larger: 431)",
    )
    add(
        "--max-request-body",
        type=parse_size,
        default=0,
        help="largest request body in bytes, k/m/g suffixes allowed "
        "(default 0: no limit; larger: 413)",
    )


def _http2_options(add: Callable[..., Any]) -> None:
    """Beyond Daphne: HTTP/2, and how long an address cut off for flooding waits."""
    add("--http2", dest="http2", action="store_true", default=True, help="speak HTTP/2 (default)")
    add("--no-http2", dest="http2", action="store_false", help="HTTP/1.1 only")
    add(
        "--h2-max-concurrent-streams",
        type=int,
        default=100,
        help="concurrent HTTP/2 streams per connection (default 100)",
    )
    add(
        "--flood-penalty-max",
        type=float,
        default=2.0,
        help="longest wait in seconds before a new connection from an address just cut off "
        "for flooding is read; it doubles per flood from 1/16 of this (default 2, 0: off)",
    )


def _websocket_options(add: Callable[..., Any]) -> None:
    """WebSocket timeouts and keepalive: Daphne's names, underscores included."""
    add(
        "--websocket_timeout",
        "--websocket-timeout",
        dest="websocket_timeout",
        type=seconds_or_none,
        default=86400.0,
        help="longest WebSocket lifetime in seconds, -1 for none (default 86400)",
    )
    add(
        "--websocket_connect_timeout",
        "--websocket-connect-timeout",
        dest="websocket_connect_timeout",
        type=seconds_or_forever,
        default=5.0,
        help="seconds the app has to accept a WebSocket, -1 for no limit (default 5)",
    )
    add(
        "--websocket-send-timeout",
        "--websocket_send_timeout",
        dest="websocket_send_timeout",
        type=float,
        default=30.0,
        help="seconds a websocket.send may wait while the client reads nothing before the "
        "connection is dropped (the app sees code 1006), 0 for no limit (default 30)",
    )
    add(
        "--ping-interval",
        type=float,
        default=20.0,
        help="seconds between WebSocket keepalive pings (default 20)",
    )
    add(
        "--ping-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a pong before dropping the socket (default 30)",
    )


def _websocket_protocol_options(add: Callable[..., Any]) -> None:
    """WebSocket size limits and what the handshake negotiates."""
    add(
        "--websocket-max-message-size",
        type=parse_size,
        default=MIB,
        help="largest WebSocket message in bytes, 0 for no limit (default 1 MiB)",
    )
    add(
        "--websocket-max-frame-size",
        type=parse_size,
        default=MIB,
        help="largest WebSocket frame in bytes, 0 for no limit (default 1 MiB)",
    )
    add(
        "--ws-protocol",
        action="append",
        type=parse_csv,
        dest="ws_protocols",
        default=[],
        help="WebSocket subprotocol the server accepts; repeatable or comma-separated",
    )
    add(
        "--ws-per-message-deflate",
        choices=["on", "off"],
        default="on",
        help="negotiate permessage-deflate when the client offers it (default on)",
    )


def _app_options(add: Callable[..., Any]) -> None:
    """How the application is loaded and run."""
    add(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the listening sockets (default 1)",
    )
    add("--factory", action="store_true", help="the application path names a factory to call")
    add("--app-dir", help="directory to import the application from (default: current)")
    add(
        "--loop",
        choices=["asyncio", "uvloop", "auto"],
        default="auto",
        help="event loop under the reactor (default auto: uvloop when installed)",
    )


def _operations_options(add: Callable[..., Any]) -> None:
    """Beyond Daphne: worker pool, limits, metrics, logging and the config file."""
    add("--config", metavar="FILE", help="TOML file of options by their long names")
    add(
        "--worker-timeout",
        type=float,
        default=30.0,
        help="kill and replace a worker whose event loop is blocked this many seconds (default 30)",
    )
    add(
        "--limit-max-requests",
        type=int,
        default=0,
        help="replace a worker after this many requests (default 0: never)",
    )
    add(
        "--limit-max-requests-jitter",
        type=int,
        default=0,
        help="vary --limit-max-requests per worker by up to this many (default 0)",
    )
    add(
        "--limit-concurrency",
        type=int,
        default=0,
        help="answer 503 beyond this many requests in flight per process (default 0: no limit)",
    )
    add(
        "--backlog",
        type=int,
        default=2048,
        help="listen backlog for -b/-p/-u (default 2048; endpoint strings take backlog=)",
    )
    add("--metrics-endpoint", metavar="ENDPOINT", help="serve Prometheus /metrics on ENDPOINT")
    add("--log-config", metavar="FILE", help="logging config: .json/.yaml dictConfig, .ini")
    add("--log-format", choices=["text", "json"], default="text", help="log line format")
    add(
        "--access-log-format",
        help="access line with named fields, e.g. '{client} {method} {path} {status}'",
    )


def _reload_options(add: Callable[..., Any]) -> None:
    """Development: restart when files change (needs the ``reload`` extra: watchfiles)."""
    add("--reload", action="store_true", help="restart the server when a watched file changes")
    add(
        "--reload-dir",
        action="append",
        dest="reload_dirs",
        metavar="DIR",
        default=[],
        help="directory to watch, repeatable (default: --app-dir, else the current one)",
    )
    add(
        "--reload-include",
        action="append",
        dest="reload_includes",
        metavar="GLOB",
        default=[],
        help="glob of files whose change restarts the server, repeatable (default *.py)",
    )
    add(
        "--reload-exclude",
        action="append",
        dest="reload_excludes",
        metavar="GLOB",
        default=[],
        help="glob of files to ignore, repeatable (wins over --reload-include)",
    )


def _tls_options(add: Callable[..., Any]) -> None:
    """TLS for the -b/-p listener (uvicorn's names); https: endpoints take the same settings."""
    add("--ssl-certfile", help="certificate (PEM, leaf first, then intermediates): -b/-p speak TLS")
    add("--ssl-keyfile", help="private key (PEM) of --ssl-certfile (default: in the certfile)")
    add(
        "--ssl-keyfile-password",
        help="password of an encrypted key (better: ASGID_SSL_KEYFILE_PASSWORD, kept out of ps)",
    )
    add("--ssl-ca-certs", help="CA certificates (PEM) that sign accepted client certificates")
    add(
        "--ssl-cert-reqs",
        type=as_argument(parse_cert_reqs),
        default="none",
        help="client certificates: none, optional or required (uvicorn's 0, 1, 2 too; "
        "default none)",
    )
    add("--ssl-ciphers", default=DEFAULT_CIPHERS, help="OpenSSL cipher list for TLS 1.2")
    add(
        "--ssl-min-version",
        type=as_argument(parse_min_version),
        default=DEFAULT_MIN_VERSION,
        help="lowest TLS version accepted: 1.2 (default) or 1.3",
    )
    add(
        "--ssl-reload-interval",
        type=float,
        default=None,
        help="seconds between checks of the certificate files' modification times; a change "
        "reloads them (default: reload on SIGHUP only)",
    )
