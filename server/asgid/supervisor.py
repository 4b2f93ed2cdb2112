"""Several worker processes sharing the listening sockets; systemd notify.

Theory of operation: the supervisor binds every endpoint once (through Twisted's own
endpoint parsers, so ``tcp:``, ``tcp6:``, ``unix:``, ``systemd:``, ``fd:`` and a
``haproxy:`` wrapper behave exactly as in one process) but never runs the reactor; it only
owns the sockets. Each worker is a fresh ``python -m asgid`` with the same command line,
told through ``ASGID_WORKER_ENDPOINTS`` (a JSON list of endpoint strings, since a
certificate path may hold spaces or colons) to adopt the inherited sockets
(``fd:fileno=N``) instead. The kernel hands each new connection to whichever worker accepts first.

Workers report readiness with sd_notify(3) to a datagram socket the supervisor holds; once
all are ready the supervisor tells systemd ``READY=1`` itself (``NotifyAccess=main``). A
worker that dies is replaced; one that exits with a usage (2) or lifespan (3) error stops
everything, since a new one would fail the same way. SIGTERM/SIGINT are passed on to the
workers, which drain gracefully.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from asgid.config import Config
from asgid.endpoints import server_from_string
from asgid.errors import ConfigError
from asgid.server import describe_port, notify_systemd

logger = logging.getLogger(__name__)

WORKER_ENDPOINTS_ENV = "ASGID_WORKER_ENDPOINTS"
FATAL_EXIT_CODES = (2, 3)  # usage error, lifespan startup failure: a restart fails the same way
RESPAWN_DELAY_S = 0.5


def bind_for_workers(config: Config, reactor: Any) -> tuple[list[Any], list[str]]:
    """Bind each endpoint in this process; return the ports and the workers' descriptions."""
    from twisted.internet.protocol import Factory

    ports: list[Any] = []
    descriptions: list[str] = []
    for description in config.endpoints:
        wrapper = "haproxy:" if description.startswith("haproxy:") else ""
        inner = description.removeprefix(wrapper)
        if inner.startswith("ssl:"):
            raise ConfigError(
                f"--workers cannot share {description!r}: write it as an https: endpoint "
                "(https:8443:certKey=cert.pem:privateKey=key.pem), which workers share"
            )
        tls_parameters = None
        if inner.startswith("https:"):
            # Bind plain TCP here; every worker wraps it in TLS and loads (and reloads)
            # the certificate itself.
            # Imported here: it brings in Twisted's TLS stack, which plain TCP never needs.
            from asgid.tls_endpoint import tcp_part

            inner, tls_parameters = tcp_part(inner)
        endpoint = server_from_string(reactor, inner)
        # Listening binds at once (the Deferred fires synchronously); no reactor run needed.
        result = endpoint.listen(Factory())
        port = _result_now(result, description)
        logger.info("Listening on %s", describe_port(description, port))
        ports.append(port)
        if tls_parameters is None:
            descriptions.append(f"{wrapper}fd:fileno={port.fileno()}")
        else:
            descriptions.append(f"{wrapper}https:fileno={port.fileno()}:{tls_parameters}")
    return ports, descriptions


def _result_now(deferred: Any, description: str) -> Any:
    box: list[Any] = []
    deferred.addBoth(box.append)
    if not box:
        raise ConfigError(f"{description!r} cannot be shared with --workers")
    if hasattr(box[0], "raiseException"):  # a Failure: CannotListenError and friends
        box[0].raiseException()
    return box[0]


class Supervisor:
    """Starts ``config.workers`` workers, replaces dead ones, passes signals on."""

    def __init__(self, config: Config, argv: Sequence[str], fds: Sequence[int],
                 descriptions: Sequence[str]) -> None:  # fmt: skip
        self.config = config
        self.argv = list(argv)
        self.fds = tuple(fds)
        self.descriptions = encode_worker_endpoints(descriptions)
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.ready_count = 0  # READY=1 messages; replacements of dead workers send more
        self.stopping = False
        self.exit_code = 0
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # Abstract namespace (Linux): nothing to clean up on disk.
        self._notify_address = f"@asgid-supervisor-{os.getpid()}-{id(self)}"
        self._notify.bind("\0" + self._notify_address[1:])
        self._notify.settimeout(0.2)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGHUP, self._pass_on_sighup)
        for _ in range(self.config.workers):
            self._spawn()
        try:
            while self.workers:
                self._read_notifications()
                self._reap()
        finally:
            self._notify.close()
        return self.exit_code

    def _spawn(self) -> None:
        env = {
            **os.environ,
            WORKER_ENDPOINTS_ENV: self.descriptions,
            "NOTIFY_SOCKET": self._notify_address,
        }
        # Own session: a terminal's ^C reaches only the supervisor, which passes on one
        # SIGINT (a worker that got two would skip its graceful drain).
        proc = subprocess.Popen(
            [sys.executable, "-m", "asgid", *self.argv],
            env=env,
            pass_fds=self.fds,
            start_new_session=True,
        )
        self.workers[proc.pid] = proc
        logger.info("started worker %d", proc.pid)

    def _read_notifications(self) -> None:
        try:
            data, _ = self._notify.recvfrom(4096)
        except (TimeoutError, InterruptedError):
            return
        if b"READY=1" in data.split(b"\n") and not self.stopping:
            self.ready_count += 1
            if self.ready_count == self.config.workers:
                logger.info("asgid ready: %d workers", self.config.workers)
                notify_systemd("READY=1")

    def _reap(self) -> None:
        for pid, proc in list(self.workers.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.workers[pid]
            if self.stopping:
                self.exit_code = self.exit_code or (code if code > 0 else 0)
                continue
            if code in FATAL_EXIT_CODES:
                logger.error("worker %d exited with status %d: stopping", pid, code)
                self.exit_code = code
                self._stop_all(signal.SIGTERM)
                continue
            logger.warning("worker %d exited with status %d: starting another", pid, code)
            time.sleep(RESPAWN_DELAY_S)  # no tight crash loop
            self._spawn()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            logger.info("%s received: stopping %d workers", signal.Signals(signum).name,
                        len(self.workers))  # fmt: skip
            notify_systemd("STOPPING=1")
        self._stop_all(signum)

    def _pass_on_sighup(self, signum: int, _frame: object) -> None:
        """Every worker reloads its TLS certificates itself (``asgid.tls_context.reload_tls``)."""
        logger.info("SIGHUP received: passing it on to %d workers", len(self.workers))
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGHUP)

    def _stop_all(self, signum: int) -> None:
        self.stopping = True
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signum)


def encode_worker_endpoints(descriptions: Sequence[str]) -> str:
    """The value of ``ASGID_WORKER_ENDPOINTS``: JSON keeps any character of a file name."""
    return json.dumps(list(descriptions))


def worker_endpoints(environ: dict[str, str]) -> tuple[str, ...] | None:
    """The endpoints a worker adopts from its supervisor, or None outside a supervisor."""
    raw = environ.get(WORKER_ENDPOINTS_ENV)
    if not raw:
        return None
    try:
        decoded = json.loads(raw)
    except ValueError:
        decoded = None
    if not isinstance(decoded, list) or not all(isinstance(d, str) for d in decoded):
        raise ConfigError(
            f"{WORKER_ENDPOINTS_ENV} must be a JSON list of endpoint strings (it is set by "
            f"the asgid supervisor; unset it to run a single process), not {raw!r}"
        )
    return tuple(decoded)
