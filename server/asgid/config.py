"""Frozen, typed ``Config``: every option, its default and its validation, in one place."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from asgid.errors import ConfigError
from asgid.tls_options import TLSOptions

LifespanMode = Literal["auto", "on", "off"]
LoopName = Literal["asyncio", "uvloop", "auto"]
LogFormat = Literal["text", "json"]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the server needs, built once (by the CLI or by embedding code).

    Durations end in ``_s`` (seconds; ``None`` means "no limit"), sizes in ``_bytes``
    (``0`` means "no limit" where noted).
    """

    # application
    app: str = ""
    factory: bool = False
    app_dir: str | None = None
    lifespan: LifespanMode = "auto"
    root_path: str = ""

    # listening
    endpoints: tuple[str, ...] = ()
    http2: bool = True
    loop: LoopName = "auto"
    asgi_threads: int | None = None
    workers: int = 1

    # logging
    verbosity: int = 1
    access_log: str | None = None
    log_fmt: str | None = None

    # HTTP behaviour and limits
    server_name: str | None = "asgid"
    http_timeout_s: float | None = None
    application_close_timeout_s: float = 10.0
    send_timeout_s: float = 30.0  # 0: a response send may wait for the client forever
    graceful_timeout_s: float = 30.0
    timeout_keep_alive_s: float = 5.0
    timeout_request_headers_s: float = 10.0
    limit_request_line_bytes: int = 8190
    limit_request_headers: int = 100
    limit_request_header_bytes: int = 65536
    max_request_body_bytes: int = 0  # 0: unlimited, as in Daphne
    h2_max_concurrent_streams: int = 100
    h2_max_header_list_bytes: int = 65536
    h2_initial_window_bytes: int = 65535
    # longest wait before a new connection from an address just cut off for flooding is
    # read (protocols/io/penalties.py); 0: no wait
    flood_penalty_max_s: float = 2.0

    # proxies
    proxy_headers: bool = False
    proxy_headers_host: str | None = None
    proxy_headers_port: str | None = None
    forwarded_allow_ips: tuple[str, ...] | None = None

    # WebSockets
    websocket_timeout_s: float | None = 86400.0
    websocket_connect_timeout_s: float = 5.0
    websocket_send_timeout_s: float = 30.0  # 0: a send may wait on a full buffer forever
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 30.0
    websocket_max_message_bytes: int = MIB  # 0: unlimited
    websocket_max_frame_bytes: int = MIB  # 0: unlimited
    ws_protocols: tuple[str, ...] = ()
    ws_per_message_deflate: bool = True

    # operations: worker pool, limits, metrics, logging (docs/operations.md)
    worker_timeout_s: float = 30.0
    limit_max_requests: int = 0  # 0: workers are never recycled
    limit_max_requests_jitter: int = 0
    limit_concurrency: int = 0  # 0: no limit
    backlog: int = 2048
    metrics_endpoint: str | None = None
    log_config: str | None = None
    log_format: LogFormat = "text"
    access_log_format: str | None = None
    # --reload (development): restart the server when watched files change
    reload: bool = False
    reload_dirs: tuple[str, ...] = ()
    reload_includes: tuple[str, ...] = ("*.py",)
    reload_excludes: tuple[str, ...] = ()
    # TLS of the -b/-p listener (https: endpoints carry their own settings); reload check
    ssl: TLSOptions | None = None
    ssl_reload_interval_s: float | None = None  # None: reload on SIGHUP only

    # derived, filled in by __post_init__
    server_header: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self)
        header = self.server_name.encode("latin-1") if self.server_name else None
        object.__setattr__(self, "server_header", header)

    @property
    def proxy_headers_enabled(self) -> bool:
        """Proxy headers are read when asked for with either Daphne's or uvicorn's flag."""
        return self.proxy_headers or self.forwarded_allow_ips is not None

    @property
    def trusted_proxies(self) -> tuple[str, ...]:
        """Who may set proxy headers; Daphne's bare ``--proxy-headers`` trusts every peer."""
        if self.forwarded_allow_ips is None:
            return ("*",) if self.proxy_headers else ()
        return self.forwarded_allow_ips

    def replace(self, **changes: object) -> Config:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _validate(config: Config) -> None:
    _check_choices(config)
    _check_seconds(config)
    _check_counts(config)
    if config.root_path and (
        not config.root_path.startswith("/") or config.root_path.endswith("/")
    ):
        raise ConfigError(
            "--root-path must start with '/' and not end with one, "
            f"e.g. /api (got {config.root_path!r})"
        )
    for item in config.forwarded_allow_ips or ():
        _check_trusted(item)
    if config.reload and config.workers > 1:
        raise ConfigError(
            "--reload runs one server process and cannot be combined with --workers "
            f"{config.workers}: use --reload while developing, --workers in production"
        )
    _check_operations(config)


def _check_operations(config: Config) -> None:
    if config.worker_timeout_s <= 0:
        raise ConfigError("--worker-timeout must be a positive number of seconds")
    for name in ("limit_max_requests", "limit_max_requests_jitter", "limit_concurrency"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{_flag(name)} must be 0 (off) or a positive whole number")
    if config.backlog < 1:
        raise ConfigError("--backlog must be at least 1")
    if config.log_format not in ("text", "json"):
        raise ConfigError(f"--log-format must be text or json, not {config.log_format!r}")


def _check_choices(config: Config) -> None:
    if config.lifespan not in ("auto", "on", "off"):
        raise ConfigError(f"--lifespan must be auto, on or off, not {config.lifespan!r}")
    if config.loop not in ("asyncio", "uvloop", "auto"):
        raise ConfigError(f"--loop must be asyncio, uvloop or auto, not {config.loop!r}")
    if not 0 <= config.verbosity <= 3:
        raise ConfigError(f"-v/--verbosity must be 0, 1, 2 or 3, not {config.verbosity}")


def _check_seconds(config: Config) -> None:
    for name in (
        "application_close_timeout_s",
        "graceful_timeout_s",
        "timeout_keep_alive_s",
        "timeout_request_headers_s",
        "websocket_connect_timeout_s",
        "websocket_send_timeout_s",
        "send_timeout_s",
        "ping_interval_s",
        "ping_timeout_s",
        "flood_penalty_max_s",
    ):
        if getattr(config, name) < 0:
            raise ConfigError(f"{_flag(name)} must be zero or more seconds")
    if config.http_timeout_s is not None and config.http_timeout_s <= 0:
        raise ConfigError("--http-timeout must be a positive number of seconds")
    if config.ssl_reload_interval_s is not None and config.ssl_reload_interval_s <= 0:
        raise ConfigError("--ssl-reload-interval must be a positive number of seconds")


def _check_counts(config: Config) -> None:
    for name in ("limit_request_line_bytes", "limit_request_headers", "limit_request_header_bytes"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{_flag(name)} must be a positive number")
    unlimited_if_zero = (
        "max_request_body_bytes",
        "websocket_max_message_bytes",
        "websocket_max_frame_bytes",
    )
    for name in unlimited_if_zero:
        if getattr(config, name) < 0:
            raise ConfigError(f"{_flag(name)} must be 0 (no limit) or a positive number of bytes")
    if config.h2_max_concurrent_streams < 1:
        raise ConfigError("--h2-max-concurrent-streams must be at least 1")
    if config.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if config.asgi_threads is not None and config.asgi_threads < 1:
        raise ConfigError("ASGI_THREADS must be a positive whole number")


def _check_trusted(item: str) -> None:
    if item in ("*", "unix"):
        return
    try:
        ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise ConfigError(
            f"--forwarded-allow-ips: {item!r} is not an IP address or network; "
            "write e.g. 127.0.0.1,10.0.0.0/8 or * to trust every peer"
        ) from None


_FLAG_NAMES = {
    "application_close_timeout_s": "--application-close-timeout",
    "graceful_timeout_s": "--graceful-timeout",
    "timeout_keep_alive_s": "--timeout-keep-alive",
    "timeout_request_headers_s": "--timeout-request-headers",
    "websocket_connect_timeout_s": "--websocket_connect_timeout",
    "websocket_send_timeout_s": "--websocket-send-timeout",
    "send_timeout_s": "--send-timeout",
    "ping_interval_s": "--ping-interval",
    "ping_timeout_s": "--ping-timeout",
    "flood_penalty_max_s": "--flood-penalty-max",
    "limit_request_line_bytes": "--limit-request-line",
    "limit_request_headers": "--limit-request-headers",
    "limit_request_header_bytes": "--limit-request-header-bytes",
    "max_request_body_bytes": "--max-request-body",
    "websocket_max_message_bytes": "--websocket-max-message-size",
    "websocket_max_frame_bytes": "--websocket-max-frame-size",
}


def _flag(name: str) -> str:
    return _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
