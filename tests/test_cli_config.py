"""Every flag maps to its ``Config`` field (in-process: argparse + ``config_from_args`` only)."""

from __future__ import annotations

import pytest
from asgid.cli import config_from_args, name_systemd_sockets, parse_args
from asgid.config import MIB, Config
from asgid.errors import ConfigError


def config(*argv: str, environ: dict[str, str] | None = None) -> Config:
    environ = environ or {}
    return config_from_args(parse_args([*argv, "m:app"], environ), environ)


def test_defaults_match_daphne():
    c = config()
    assert c.endpoints == ("tcp:port=8000:interface=127.0.0.1:backlog=2048",)
    assert c.verbosity == 1 and c.access_log == "-"
    assert c.http_timeout_s is None and c.application_close_timeout_s == 10
    assert c.websocket_timeout_s == 86400 and c.websocket_connect_timeout_s == 5
    assert c.ping_interval_s == 20 and c.ping_timeout_s == 30
    assert c.websocket_max_message_bytes == MIB == c.websocket_max_frame_bytes
    assert c.root_path == "" and not c.proxy_headers and c.server_name == "asgid"


def test_every_flag_reaches_config():
    c = config(
        "-e", "tcp:1", "-e", "unix:/s", "-v", "2", "--access-log", "/tmp/a.log",
        "--log-fmt", "%(message)s", "-t", "7", "--application-close-timeout", "3",
        "--root-path", "/api", "--proxy-headers", "--proxy-headers-host", "X-Real-IP",
        "--proxy-headers-port", "X-Port", "-s", "edge", "--websocket_timeout", "-1",
        "--websocket_connect_timeout", "9", "--ping-interval", "4", "--ping-timeout", "6",
        "--websocket-max-message-size", "2m", "--websocket-max-frame-size", "64k",
        "--ws-protocol", "chat,v2", "--ws-protocol", "mqtt", "--lifespan", "on",
        "--graceful-timeout", "12", "--forwarded-allow-ips", "10.0.0.0/8,unix",
        "--limit-request-line", "100", "--limit-request-headers", "20",
        "--limit-request-header-bytes", "8k", "--max-request-body", "1m",
        "--timeout-keep-alive", "2", "--loop", "asyncio", "--factory", "--app-dir", "/srv",
    )  # fmt: skip
    assert c.endpoints == ("tcp:1", "unix:/s")
    assert (c.verbosity, c.access_log, c.log_fmt) == (2, "/tmp/a.log", "%(message)s")
    assert (c.http_timeout_s, c.application_close_timeout_s) == (7, 3)
    assert c.root_path == "/api" and c.proxy_headers
    assert (c.proxy_headers_host, c.proxy_headers_port) == ("X-Real-IP", "X-Port")
    assert c.server_name == "edge" and c.websocket_timeout_s is None
    assert (c.websocket_connect_timeout_s, c.ping_interval_s, c.ping_timeout_s) == (9, 4, 6)
    assert (c.websocket_max_message_bytes, c.websocket_max_frame_bytes) == (2 * MIB, 65536)
    assert c.ws_protocols == ("chat", "v2", "mqtt")
    assert (c.lifespan, c.graceful_timeout_s) == ("on", 12)
    assert c.forwarded_allow_ips == ("10.0.0.0/8", "unix")
    assert (c.limit_request_line_bytes, c.limit_request_headers) == (100, 20)
    assert (c.limit_request_header_bytes, c.max_request_body_bytes) == (8192, MIB)
    assert (c.timeout_keep_alive_s, c.loop, c.factory, c.app_dir) == (2, "asyncio", True, "/srv")


def test_minus_one_means_no_limit_as_in_daphne():
    c = config("--websocket_timeout", "-1", "--websocket_connect_timeout", "-1", "-t", "-1")
    assert c.websocket_timeout_s is None and c.http_timeout_s is None
    assert c.websocket_connect_timeout_s >= 365 * 86400


def test_no_server_name_and_quiet_access_log():
    assert config("--no-server-name").server_name is None
    assert config("-v", "0").access_log is None
    assert config("-v", "0", "--access-log", "-").access_log == "-"


def test_environment_supplies_defaults():
    environ = {"ASGID_PORT": "9001", "ASGID_BIND": "0.0.0.0", "ASGID_WS_PROTOCOL": "a b",
               "ASGID_WEBSOCKET_TIMEOUT": "60", "ASGID_NO_SERVER_NAME": "true",
               "ASGI_THREADS": "40"}  # fmt: skip
    c = config(environ=environ)
    assert c.endpoints == ("tcp:port=9001:interface=0.0.0.0:backlog=2048",)
    assert c.ws_protocols == ("a", "b") and c.websocket_timeout_s == 60
    assert c.server_name is None and c.asgi_threads == 40


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--root-path", "api/"], {}, "--root-path must start with '/'"),
        (["-v", "5"], {}, "verbosity"),
        (["--forwarded-allow-ips", "nonsense"], {}, "not an IP address"),
        ([], {"ASGI_THREADS": "many"}, "ASGI_THREADS"),
        (["--proxy-headers-host", "X-Real-IP"], {}, "needs --proxy-headers"),
    ],
)
def test_invalid_settings_raise_config_error(argv, environ, message):
    with pytest.raises(ConfigError, match=message):
        config(*argv, environ=environ)


def test_systemd_sockets_get_names_for_twisted():
    import os

    environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2"}
    name_systemd_sockets(environ)
    assert environ["LISTEN_FDNAMES"] == "unknown:unknown"
    other = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
    name_systemd_sockets(other)
    assert "LISTEN_FDNAMES" not in other
