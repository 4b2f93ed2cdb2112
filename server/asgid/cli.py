"""argparse -> ``Config``, logging set-up, reactor installation, ``Server`` run; exits here only."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from asgid.cli_env import apply_environment
from asgid.cli_options import build_parser
from asgid.config import Config
from asgid.errors import AppImportError, ConfigError

if TYPE_CHECKING:
    from asgid.tls_options import TLSOptions
    from asgid.worker_link import WorkerLink

logger = logging.getLogger("asgid")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as the server itself exits on a second ^C


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> Config:
    """The one mapping from parsed flags to ``Config``.

    It stays one long call on purpose: every flag is mapped to its field in one place.
    """
    from asgid.endpoints import build_descriptions

    _check_args(args)
    asgi_threads = _asgi_threads(environ)
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
            backlog=args.backlog,
            tls=_tls_options(args),
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
        send_timeout_s=args.send_timeout,
        graceful_timeout_s=args.graceful_timeout,
        timeout_keep_alive_s=args.timeout_keep_alive,
        timeout_request_headers_s=args.timeout_request_headers,
        limit_request_line_bytes=args.limit_request_line,
        limit_request_headers=args.limit_request_headers,
        limit_request_header_bytes=args.limit_request_header_bytes,
        max_request_body_bytes=args.max_request_body,
        h2_max_concurrent_streams=args.h2_max_concurrent_streams,
        flood_penalty_max_s=args.flood_penalty_max,
        proxy_headers=args.proxy_headers,
        proxy_headers_host=args.proxy_headers_host or None,
        proxy_headers_port=args.proxy_headers_port or None,
        forwarded_allow_ips=args.forwarded_allow_ips,
        websocket_timeout_s=args.websocket_timeout,
        websocket_connect_timeout_s=args.websocket_connect_timeout,
        websocket_send_timeout_s=args.websocket_send_timeout,
        ping_interval_s=args.ping_interval,
        ping_timeout_s=args.ping_timeout,
        websocket_max_message_bytes=args.websocket_max_message_size,
        websocket_max_frame_bytes=args.websocket_max_frame_size,
        ws_protocols=tuple(name for group in args.ws_protocols or () for name in group),
        ws_per_message_deflate=args.ws_per_message_deflate == "on",
        # operations
        worker_timeout_s=args.worker_timeout,
        limit_max_requests=args.limit_max_requests,
        limit_max_requests_jitter=args.limit_max_requests_jitter,
        limit_concurrency=args.limit_concurrency,
        backlog=args.backlog,
        metrics_endpoint=args.metrics_endpoint,
        log_config=args.log_config,
        log_format=args.log_format,
        access_log_format=args.access_log_format,
        reload=args.reload,
        reload_dirs=tuple(args.reload_dirs),
        reload_includes=tuple(args.reload_includes) or ("*.py",),
        reload_excludes=tuple(args.reload_excludes),
        ssl=_tls_options(args),
        ssl_reload_interval_s=args.ssl_reload_interval,
    )


def _check_args(args: argparse.Namespace) -> None:
    """Flag combinations ``Config`` cannot see: it holds the result, not the flags."""
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


def _tls_options(args: argparse.Namespace) -> TLSOptions | None:
    """The --ssl-* flags as one value; None when -b/-p stay plain TCP."""
    from asgid.tls_options import TLSOptions

    if not args.ssl_certfile:
        given = [
            f for f in ("ssl_keyfile", "ssl_ca_certs", "ssl_keyfile_password") if getattr(args, f)
        ]
        if given or args.ssl_cert_reqs != "none":
            flag = "--" + (given[0] if given else "ssl_cert_reqs").replace("_", "-")
            raise ConfigError(f"{flag} needs --ssl-certfile (the server's certificate)")
        return None
    only_others = args.host is None and args.port is None and args.fd is None
    if (args.endpoints or args.unix_socket) and only_others:
        raise ConfigError(
            "--ssl-certfile applies to the -b/-p listener (and --fd); for -e endpoints write "
            "https:8443:certKey=cert.pem:privateKey=key.pem, and -u unix sockets do not "
            "speak TLS (see docs/tls.md)"
        )
    return TLSOptions(
        certfile=args.ssl_certfile,
        keyfile=args.ssl_keyfile,
        keyfile_password=args.ssl_keyfile_password,
        ca_certs=args.ssl_ca_certs,
        cert_reqs=args.ssl_cert_reqs,
        ciphers=args.ssl_ciphers,
        min_version=args.ssl_min_version,
    )


def _asgi_threads(environ: dict[str, str]) -> int | None:
    """Daphne's ``ASGI_THREADS``: the size of the default thread pool, if set."""
    threads = environ.get("ASGI_THREADS")
    try:
        return int(threads) if threads else None
    except ValueError:
        raise ConfigError(f"ASGI_THREADS must be a whole number, not {threads!r}") from None


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
    """Command line over ``ASGID_*`` environment over ``--config`` file over defaults."""
    from asgid.config_file import apply_file, config_path

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(environ)
    path = config_path(argv, environ)
    if path is not None:
        try:
            apply_file(parser, path)
        except ConfigError as exc:
            _fail(str(exc), 1, None)
        if environ.get("ASGID_APP"):  # the environment beats the file for the app too
            parser.set_defaults(application=environ["ASGID_APP"])
    apply_environment(parser, environ)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    from asgid.lazy_modules import defer_unused_imports

    defer_unused_imports()  # before anything imports Twisted
    name_systemd_sockets(os.environ)
    environ = dict(os.environ)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv, environ)
    try:
        config = config_from_args(args, environ)
        # worker_link, not supervisor: a single process need not import the supervisor.
        from asgid.worker_link import WORKER_METRICS_ENV, worker_endpoints

        adopted = worker_endpoints(environ)
        if adopted is not None:  # a worker of --workers: the supervisor bound the sockets
            metrics = environ.get(WORKER_METRICS_ENV)
            config = config.replace(endpoints=adopted, workers=1, metrics_endpoint=metrics)
    except ConfigError as exc:
        _fail(str(exc), args.verbosity, exc)
        return
    link = _worker_link(config, environ)
    from asgid import logging as asgid_logging
    from asgid.log_formats import AccessTemplate

    try:
        if config.access_log_format:
            AccessTemplate(config.access_log_format)  # a typo fails now, not per request
        asgid_logging.configure(
            config.verbosity,
            config.access_log,
            config.log_fmt,
            log_format=config.log_format,
            log_config=config.log_config,
        )
    except ConfigError as exc:
        _fail(str(exc), config.verbosity, exc)
        return
    try:
        status = run(config, argv, link)
    except KeyboardInterrupt:
        # ^C while the app is still importing, before the server's own handlers exist (a
        # supervisor passes ^C on to workers that may still be starting): no traceback.
        logger.warning("interrupted while starting")
        status = EXIT_INTERRUPTED
    sys.exit(status)


def _worker_link(config: Config, environ: dict[str, str]) -> WorkerLink | None:
    """A worker's tie to its supervisor; exits at once if the supervisor is already gone."""
    from asgid.worker_link import WorkerLink, request_budget

    link = WorkerLink.from_environ(environ)
    if link is None:
        return None
    if not link.bind_to_parent():
        sys.stderr.write("asgid: the supervisor exited before this worker started\n")
        sys.exit(1)
    # Until the server installs its handler, a SIGHUP (certificate reload) must not kill us.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    link.budget = request_budget(config.limit_max_requests, config.limit_max_requests_jitter)
    return link


def run(config: Config, argv: Sequence[str] = (), link: WorkerLink | None = None) -> int:
    """Import the app, install the reactor and serve; return the process exit status."""
    from asgid import endpoints, logging as asgid_logging, reactor as reactor_setup
    from asgid.importer import import_app
    from asgid.protocols.websocket.loader import check_autobahn_at_start_up
    from asgid.reactor_tls import only_plain

    try:
        # As Daphne: -v 3 also turns on asyncio debug.
        reactor_setup.install(
            config.loop,
            threads=config.asgi_threads,
            debug=config.verbosity >= 3,
            tls=not only_plain((*config.endpoints, config.metrics_endpoint)),
        )
        check_autobahn_at_start_up()
        if config.reload and not _is_reload_child():
            return _reload(config, argv)
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

    return Server(config, app, reactor, link).run()


def _is_reload_child() -> bool:
    from asgid.reload import is_reload_child

    return is_reload_child(dict(os.environ))


def _reload(config: Config, argv: Sequence[str]) -> int:
    """The watching parent of --reload: binds the sockets, never imports the app."""
    from twisted.internet import reactor

    from asgid.reload import Reloader, require_watchfiles, share_sockets, watched_dirs

    try:
        require_watchfiles()
        watched_dirs(config)
        ports, shared = share_sockets(config, reactor)
    except ConfigError as exc:
        _fail(str(exc), config.verbosity, exc)
        return EXIT_USAGE
    except Exception as exc:  # CannotListenError: port in use, permission denied
        logger.error("Cannot listen: %s", exc)
        return 1
    fds = [p.fileno() for p in ports]
    return Reloader(config, argv, fds=fds, shared_endpoints=shared).run()


def _supervise(config: Config, reactor: Any, argv: Sequence[str]) -> int:
    from asgid.shared_sockets import bind_for_workers
    from asgid.supervisor import Supervisor

    try:
        shared = bind_for_workers(config.endpoints, reactor)
        metrics = config.metrics_endpoint
        metrics_socket = bind_for_workers((metrics,), reactor)[0] if metrics else None
    except ConfigError as exc:
        _fail(str(exc), config.verbosity, exc)
        return EXIT_USAGE
    except Exception as exc:  # CannotListenError: port in use, permission denied
        logger.error("Cannot listen: %s", exc)
        return 1
    return Supervisor(config, argv, shared, metrics_socket).run()
