"""Build and validate Twisted endpoint strings from ``-e/-b/-p/-u/--fd``."""

from __future__ import annotations

from typing import Any

from asgid.errors import ConfigError


def _escape(value: str) -> str:
    """Endpoint strings split on ':' and '='; a literal one is written '\\:'."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def build_descriptions(
    *,
    endpoints: list[str] | None,
    host: str | None,
    port: int | None,
    unix_socket: str | None,
    fd: int | None,
) -> tuple[str, ...]:
    """Daphne's rules: -b/-p make one tcp endpoint, -u a unix one, --fd an inherited one."""
    descriptions: list[str] = list(endpoints or [])
    if port is not None or host is not None:
        descriptions.append(f"tcp:port={port if port is not None else 8000}:interface={_escape(host or '127.0.0.1')}")
    if unix_socket is not None:
        descriptions.append(f"unix:{_escape(unix_socket)}")
    if fd is not None:
        descriptions.append(f"fd:fileno={fd}")
    if not descriptions:
        descriptions.append("tcp:port=8000:interface=127.0.0.1")
    return tuple(descriptions)


def validate(descriptions: tuple[str, ...], reactor: Any) -> None:
    """Parse every endpoint string now, so a typo fails at start with a clear line."""
    from twisted.internet.endpoints import serverFromString

    for description in descriptions:
        try:
            serverFromString(reactor, description)
        except Exception as exc:  # Twisted raises ValueError, KeyError, OSError, SSL errors...
            raise ConfigError(
                f"bad endpoint {description!r}: {exc or type(exc).__name__}; write e.g. "
                "tcp:8000:interface=127.0.0.1, ssl:8443:privateKey=key.pem:certKey=cert.pem, "
                "unix:/run/asgid.sock or systemd:domain=INET:index=0"
            ) from exc
