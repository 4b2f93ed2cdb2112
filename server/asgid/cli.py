"""argparse -> ``Config``, logging set-up, reactor installation, ``Server`` run; exits here only."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any

from asgid import __version__
from asgid.config import MIB, Config
from asgid.errors import AppImportError, ConfigError

logger = logging.getLogger("asgid")

EXIT_USAGE = 2
ENV_PREFIX = "ASGID_"


def _seconds_or_none(text: str) -> float | None:
    value = float(text)
    return None if value < 0 else value


FOREVER_S = 365 * 86400.0


def _seconds_or_forever(text: str) -> float:
    """Daphne's -1 ("no limit") for timeouts that ``Config`` keeps as a number of seconds."""
    value = float(text)
    return FOREVER_S if value < 0 else value


def _size(text: str) -> int:
    """Bytes, with an optional k/m/g suffix (powers of 1024)."""
    units = {"k": 1024, "m": MIB, "g": 1024 * MIB}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    environ = {} if environ is None else environ
    p = argparse.ArgumentParser(
        prog="asgid",
        description="Serve an ASGI 3 application over HTTP/1.1, HTTP/2 and WebSockets.",
        epilog=f"Every option can also be set as an environment variable {ENV_PREFIX}<OPTION>, "
        "e.g. ASGID_PORT=9000 or ASGID_PROXY_HEADERS=1.",
    )
    add = p.add_argument
    add(
        "application",
        nargs="?",
        default=environ.get(ENV_PREFIX + "APP"),
        help="the ASGI application, as module.path:attribute (or set ASGID_APP)",
    )
    add("--version", action="version", version=f"asgid {__version__}")
    # where to listen (Daphne's names)
    add(
        "-e",
        "--endpoint",
        dest="endpoints",
        action="append",
        metavar="ENDPOINT",
        help="Twisted endpoint string, repeatable: tcp:8000, "
        "ssl:8443:privateKey=k.pem:certKey=c.pem, unix:/run/asgid.sock, "
        "systemd:domain=INET:index=0, haproxy:tcp:8000, fd:fileno=3",
    )
    add("-b", "--bind", dest="host", help="address to bind (default 127.0.0.1)")
    add("-p", "--port", type=int, help="TCP port (default 8000)")
    add("-u", "--unix-socket", help="path of a unix socket to listen on")
    add("--fd", type=int, help="listen on an inherited, already bound socket file descriptor")
    # logging
    add("-v", "--verbosity", type=int, default=1, help="0 quiet .. 3 everything (default 1)")
    add(
        "--access-log",
        help="where to write the access log: a file path, or - for stdout "
        "(default: stdout when -v is 1 or more, as in Daphne)",
    )
    add("--log-fmt", help="logging format string for the server's log lines")
    # HTTP
    add(
        "-t",
        "--http-timeout",
        type=_seconds_or_none,
        default=None,
        help="answer 503 if the app has not responded within this many seconds (default none)",
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
        type=_csv,
        default=None,
        help="comma-separated proxies trusted for proxy headers (IPs, networks, unix, *)",
    )
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
        type=_size,
        default=65536,
        help="largest total size of request header fields (default 64k; larger: 431)",
    )
    add(
        "--max-request-body",
        type=_size,
        default=0,
        help="largest request body in bytes, k/m/g suffixes allowed "
        "(default 0: no limit; larger: 413)",
    )
    add("--http2", dest="http2", action="store_true", default=True, help="speak HTTP/2 (default)")
    add("--no-http2", dest="http2", action="store_false", help="HTTP/1.1 only")
    add(
        "--h2-max-concurrent-streams",
        type=int,
        default=100,
        help="concurrent HTTP/2 streams per connection (default 100)",
    )
    # WebSockets (Daphne's names, underscores included)
    add(
        "--websocket_timeout",
        "--websocket-timeout",
        dest="websocket_timeout",
        type=_seconds_or_none,
        default=86400.0,
        help="longest WebSocket lifetime in seconds, -1 for none (default 86400)",
    )
    add(
        "--websocket_connect_timeout",
        "--websocket-connect-timeout",
        dest="websocket_connect_timeout",
        type=_seconds_or_forever,
        default=5.0,
        help="seconds the app has to accept a WebSocket, -1 for no limit (default 5)",
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
    add(
        "--websocket-max-message-size",
        type=_size,
        default=MIB,
        help="largest WebSocket message in bytes, 0 for no limit (default 1 MiB)",
    )
    add(
        "--websocket-max-frame-size",
        type=_size,
        default=MIB,
        help="largest WebSocket frame in bytes, 0 for no limit (default 1 MiB)",
    )
    add(
        "--ws-protocol",
        action="append",
        type=_csv,
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
    # application loading
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
    return p


def _apply_environment(parser: argparse.ArgumentParser, environ: dict[str, str]) -> None:
    """``ASGID_<OPTION>`` supplies an option's default, so the command line still wins."""
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "version"):
            continue
        long_names = [s for s in action.option_strings if s.startswith("--")]
        names = {action.dest.upper()} | {s[2:].replace("-", "_").upper() for s in long_names}
        raw = next(
            (environ[ENV_PREFIX + n] for n in sorted(names) if ENV_PREFIX + n in environ), None
        )
        if raw is None:
            continue
        try:
            value = _env_value(action, raw)
        except (TypeError, ValueError):
            parser.error(f"environment variable for {long_names[0]} has an invalid value {raw!r}")
        parser.set_defaults(**{action.dest: value})


def _env_value(action: argparse.Action, raw: str) -> Any:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        truthy = raw.strip().lower() in ("1", "true", "yes", "on")
        return truthy if isinstance(action, argparse._StoreTrueAction) else not truthy
    if isinstance(action, argparse._AppendAction):
        return [action.type(item) if callable(action.type) else item for item in raw.split()]
    value = action.type(raw) if callable(action.type) else raw
    if action.choices is not None and value not in action.choices:
        raise ValueError(raw)
    return value


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> Config:
    """The one mapping from parsed flags to ``Config``."""
    from asgid.endpoints import build_descriptions

    if not args.application:
        raise ConfigError(
            "no application given: write asgid [options] module.path:attribute, "
            "e.g. asgid myproject.asgi:application (or set ASGID_APP)"
        )
    for flag, value in (
        ("--proxy-headers-host", args.proxy_headers_host),
        ("--proxy-headers-port", args.proxy_headers_port),
    ):
        if value and not (args.proxy_headers or args.forwarded_allow_ips is not None):
            # Daphne refuses these without --proxy-headers: they would silently do nothing.
            raise ConfigError(f"{flag} needs --proxy-headers (or --forwarded-allow-ips)")
    threads = environ.get("ASGI_THREADS")
    try:
        asgi_threads = int(threads) if threads else None
    except ValueError:
        raise ConfigError(f"ASGI_THREADS must be a whole number, not {threads!r}") from None
    return Config(
        app=args.application,
        factory=args.factory,
        app_dir=args.app_dir,
        lifespan=args.lifespan,
        root_path=args.root_path,
        endpoints=build_descriptions(
            endpoints=args.endpoints,
            host=args.host,
            port=args.port,
            unix_socket=args.unix_socket,
            fd=args.fd,
        ),
        http2=args.http2,
        loop=args.loop,
        asgi_threads=asgi_threads,
        workers=args.workers,
        verbosity=args.verbosity,
        # Daphne writes the access log to stdout unless -v 0 or told otherwise.
        access_log=args.access_log or ("-" if args.verbosity >= 1 else None),
        log_fmt=args.log_fmt,
        server_name=None if args.no_server_name else args.server_name,
        http_timeout_s=args.http_timeout,
        application_close_timeout_s=args.application_close_timeout,
        graceful_timeout_s=args.graceful_timeout,
        timeout_keep_alive_s=args.timeout_keep_alive,
        timeout_request_headers_s=args.timeout_request_headers,
        limit_request_line_bytes=args.limit_request_line,
        limit_request_headers=args.limit_request_headers,
        limit_request_header_bytes=args.limit_request_header_bytes,
        max_request_body_bytes=args.max_request_body,
        h2_max_concurrent_streams=args.h2_max_concurrent_streams,
        proxy_headers=args.proxy_headers,
        proxy_headers_host=args.proxy_headers_host or None,
        proxy_headers_port=args.proxy_headers_port or None,
        forwarded_allow_ips=args.forwarded_allow_ips,
        websocket_timeout_s=args.websocket_timeout,
        websocket_connect_timeout_s=args.websocket_connect_timeout,
        ping_interval_s=args.ping_interval,
        ping_timeout_s=args.ping_timeout,
        websocket_max_message_bytes=args.websocket_max_message_size,
        websocket_max_frame_bytes=args.websocket_max_frame_size,
        ws_protocols=tuple(name for group in args.ws_protocols or () for name in group),
        ws_per_message_deflate=args.ws_per_message_deflate == "on",
    )


def _fail(message: str, verbosity: int, exc: BaseException | None = None) -> None:
    if verbosity >= 2 and exc is not None:
        logger.error("%s", message, exc_info=exc)
    else:
        # Logging may not be configured yet; one plain line is what the user needs.
        sys.stderr.write(f"asgid: error: {message}\n")
    sys.exit(EXIT_USAGE)


def name_systemd_sockets(environ: MutableMapping[str, str]) -> None:
    """Give sockets passed without ``LISTEN_FDNAMES`` the name ``unknown``.

    sd_listen_fds_with_names(3) names such sockets "unknown", but Twisted's ``ListenFDs``
    ignores every inherited socket when the names are missing (``systemd-socket-activate``
    without ``--fdname``, systemd < 227), so ``systemd:index=0`` would find none. Twisted
    reads the environment when ``twisted.internet.endpoints`` is imported: call this first.
    """
    if environ.get("LISTEN_PID") != str(os.getpid()) or "LISTEN_FDNAMES" in environ:
        return
    try:
        count = int(environ.get("LISTEN_FDS", ""))
    except ValueError:
        return
    environ["LISTEN_FDNAMES"] = ":".join(["unknown"] * count)


def parse_args(argv: Sequence[str] | None, environ: dict[str, str]) -> argparse.Namespace:
    """Command line over ``ASGID_*`` environment over built-in defaults."""
    parser = build_parser(environ)
    _apply_environment(parser, environ)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    name_systemd_sockets(os.environ)
    environ = dict(os.environ)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv, environ)
    try:
        config = config_from_args(args, environ)
        from asgid.supervisor import worker_endpoints

        adopted = worker_endpoints(environ)
        if adopted is not None:  # a worker of --workers: the supervisor bound the sockets
            config = config.replace(endpoints=adopted, workers=1)
    except ConfigError as exc:
        _fail(str(exc), args.verbosity, exc)
        return
    from asgid import logging as asgid_logging

    asgid_logging.configure(config.verbosity, config.access_log, config.log_fmt)
    sys.exit(run(config, argv))


def run(config: Config, argv: Sequence[str] = ()) -> int:
    """Import the app, install the reactor and serve; return the process exit status."""
    from asgid import endpoints, logging as asgid_logging, reactor as reactor_setup
    from asgid.importer import import_app

    try:
        # As Daphne: -v 3 also turns on asyncio debug.
        reactor_setup.install(config.loop, threads=config.asgi_threads, debug=config.verbosity >= 3)
        app = import_app(config.app, factory=config.factory, app_dir=config.app_dir)
        from twisted.internet import reactor

        endpoints.validate(config.endpoints, reactor)
    except (ConfigError, AppImportError) as exc:
        _fail(str(exc), config.verbosity, exc)
        return EXIT_USAGE
    asgid_logging.bridge_twisted_logs()
    if config.workers > 1:
        return _supervise(config, reactor, argv)
    from asgid.server import Server

    return Server(config, app, reactor).run()


def _supervise(config: Config, reactor: Any, argv: Sequence[str]) -> int:
    from asgid.supervisor import Supervisor, bind_for_workers

    try:
        ports, descriptions = bind_for_workers(config, reactor)
    except ConfigError as exc:
        _fail(str(exc), config.verbosity, exc)
        return EXIT_USAGE
    except Exception as exc:  # CannotListenError: port in use, permission denied
        logger.error("Cannot listen: %s", exc)
        return 1
    return Supervisor(config, argv, [p.fileno() for p in ports], descriptions).run()
