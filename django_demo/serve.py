#!/usr/bin/env python
"""What ``make demo`` runs: two asgid workers sharing Redis, or one in memory without Redis.

usage: python django_demo/serve.py [asgid options]   (default: -b 127.0.0.1 -p 8000)

Two worker processes behind one port show the channel layer at work from the first
command: a room is one room whichever process each browser landed on. When no Redis
answers at DEMO_REDIS_URL the demo still starts, with Channels' in-memory layer and a
single worker (an in-memory room cannot span processes), after one warning line.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import urlsplit

DEMO_DIR = Path(__file__).resolve().parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
APP = "demo.asgi:application"

logger = logging.getLogger("demo")


def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when something at ``url`` answers PING like a Redis server."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout_s
        ) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    # +PONG, or -NOAUTH from a Redis that wants a password: a Redis either way.
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def asgid_command(environ: MutableMapping[str, str], extra: list[str]) -> list[str]:
    """The asgid command line; switches ``environ`` to the memory layer if Redis is absent."""
    workers = 2
    url = environ.get("DEMO_REDIS_URL", DEFAULT_REDIS_URL)
    if environ.get("DEMO_CHANNEL_LAYER", "redis") == "redis" and not redis_answers(url):
        logger.warning(
            "no Redis answers at %s: serving with the in-memory channel layer and one worker "
            "(start redis-server, or set DEMO_REDIS_URL, for the two-process demo)",
            url,
        )
        environ["DEMO_CHANNEL_LAYER"] = "memory"
    if environ.get("DEMO_CHANNEL_LAYER") == "memory":
        workers = 1
    listen = extra or ["-b", "127.0.0.1", "-p", "8000"]
    return [sys.executable, "-m", "asgid", "--workers", str(workers), "--app-dir", str(DEMO_DIR),
            *listen, APP]  # fmt: skip


def main() -> None:
    logging.basicConfig(format="%(levelname)s %(message)s")
    command = asgid_command(os.environ, sys.argv[1:])
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
