"""Several worker processes sharing the listening sockets; reload; systemd notify.

Theory of operation: the supervisor binds every endpoint once (``shared_sockets.py``) and
never runs the reactor. Each worker is a fresh ``python -m asgid`` with the same command
line, told through ``ASGID_WORKER_ENDPOINTS`` (a JSON list of endpoint strings, since a
certificate path may hold spaces or colons) to adopt the inherited sockets; the kernel
hands each new connection to whichever worker accepts first. Because each worker is a new
interpreter, a replacement always runs the code on disk now: that is how SIGHUP reloads.

Workers talk back with sd_notify(3) datagrams to a socket only the supervisor reads
(``READY=1``, ``WATCHDOG=1`` with load figures, a request-budget recycle request); the
kernel stamps each datagram with the sender's pid (``SO_PASSCRED``). One ``select`` loop
waits on that socket and on the signal wake-up pipe, so signals are handled between steps,
never in the middle of one. After every event, ``_balance`` moves the pool towards its
target: successors first, then the workers they replace drain, one at a time.

Signals: SIGTERM/SIGINT stop (passed on, workers drain); SIGHUP rolls every worker over;
SIGTTIN/SIGTTOU add/remove one. Workers are told to drain for a restart with SIGUSR1.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence

from asgid.config import Config
from asgid.metrics import SupervisorMetrics
from asgid.shared_sockets import SharedSocket
from asgid.systemd import (
    CONNECTIONS_FIELD,
    RECYCLE_FIELD,
    REQUESTS_FIELD,
    notify,
    parse_fields,
    reloading_message,
    watchdog_interval_s,
)
from asgid.worker_link import (
    HEARTBEAT_ENV,
    PARENT_ENV,
    PIPE_ENV,
    WORKER_ENDPOINTS_ENV,
    WORKER_METRICS_ENV,
    encode_worker_endpoints,
)
from asgid.workers import Backoff, Worker, WorkerState

logger = logging.getLogger(__name__)

FATAL_EXIT_CODES = (2, 3)  # usage error, lifespan startup failure: a restart fails the same way
RESTART_SIGNAL = signal.SIGUSR1  # "drain for a restart": WebSockets get 1012, not 1001
STATUS_EVERY_S = 1.0
HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU,
           signal.SIGCHLD)  # fmt: skip
# The supervisor's environment describes systemd's view of the supervisor, not a worker's.
NOT_FOR_WORKERS = ("WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


class Supervisor:
    """Keeps ``config.workers`` workers serving; replaces, reloads and scales them."""

    def __init__(
        self,
        config: Config,
        argv: Sequence[str],
        shared: Sequence[SharedSocket],
        metrics: SharedSocket | None = None,
    ) -> None:
        # configuration
        self.config = config
        self.argv = list(argv)
        self.fds = tuple(s.fileno for s in (*shared, *([metrics] if metrics else [])))
        self.descriptions = encode_worker_endpoints([s.worker_description for s in shared])
        self.metrics_description = metrics.worker_description if metrics else None
        self._metrics = SupervisorMetrics() if metrics else None
        self.target = config.workers
        self.heartbeat_s = min(1.0, config.worker_timeout_s / 4)
        # pool state
        self.workers: dict[int, Worker] = {}
        self.backoff = Backoff()
        self.next_spawn_at = 0.0
        self.ever_ready = False
        self.reloading = False
        self.stopping = False
        self.exit_code = 0
        self.restarts = 0
        # I/O: notify socket, signal wake-up pipe, the pipe whose EOF tells workers we died
        self._notify = _notify_socket()
        self._notify_address = self._notify.getsockname()
        self._signals: list[int] = []
        self._wake_r, self._wake_w = os.pipe()
        self._life_r, self._life_w = os.pipe()
        self._watchdog_s = watchdog_interval_s(os.environ)
        self._next_pet = 0.0
        self._status = ""
        self._next_status = 0.0
        self._announced = False  # READY=1 sent once the first full pool is up

    # -- main loop ----------------------------------------------------------------------

    def run(self) -> int:
        selector = selectors.DefaultSelector()
        selector.register(self._notify, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        os.set_blocking(self._wake_w, False)
        signal.set_wakeup_fd(self._wake_w)
        for signum in HANDLED:
            signal.signal(signum, self._on_signal)
        try:
            self._balance()
            while self.workers or not self.stopping:
                for key, _ in selector.select(self._timeout()):
                    if key.fileobj is self._notify:
                        self._read_notifications()
                    else:
                        os.read(self._wake_r, 512)
                self._handle_signals()
                self._reap()
                if not self.stopping:
                    self._check_heartbeats()
                    self._balance()
                    self._tell_systemd()
        finally:
            if self._metrics is not None:
                self._metrics.close()
            signal.set_wakeup_fd(-1)
            selector.close()
            self._notify.close()
            for fd in (self._wake_r, self._wake_w, self._life_r, self._life_w):
                os.close(fd)
        return self.exit_code

    def _timeout(self) -> float:
        now = time.monotonic()
        waits = [STATUS_EVERY_S, self.heartbeat_s]
        if self.next_spawn_at:
            waits.append(self.next_spawn_at - now)
        if self._watchdog_s:
            waits.append(self._next_pet - now)
        return max(0.0, min(waits))

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)  # handled in the loop, between steps

    def _handle_signals(self) -> None:
        pending, self._signals = self._signals, []
        for signum in pending:
            if signum in (signal.SIGTERM, signal.SIGINT):
                self._stop_all(signum)
            elif self.stopping or signum == signal.SIGCHLD:
                continue
            elif signum == signal.SIGHUP:
                self._reload()
            elif signum == signal.SIGTTIN:
                self.target += 1
                logger.info("SIGTTIN: %d workers wanted", self.target)
            elif signum == signal.SIGTTOU:
                self.target = max(1, self.target - 1)
                logger.info("SIGTTOU: %d workers wanted", self.target)

    # -- spawning and messages from workers ---------------------------------------------

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in NOT_FOR_WORKERS}
        env.update({
            WORKER_ENDPOINTS_ENV: self.descriptions,
            "NOTIFY_SOCKET": "@" + self._notify_address[1:].decode(),
            PIPE_ENV: str(self._life_r),
            PARENT_ENV: str(os.getpid()),
            HEARTBEAT_ENV: str(self.heartbeat_s),
        })  # fmt: skip
        if self.metrics_description:
            env[WORKER_METRICS_ENV] = self.metrics_description
        # Own session: a terminal's ^C reaches only the supervisor, which passes on one
        # SIGINT (a worker that got two would skip its graceful drain).
        proc = subprocess.Popen(
            [sys.executable, "-m", "asgid", *self.argv],
            env=env,
            pass_fds=(*self.fds, self._life_r),
            start_new_session=True,
        )
        self.workers[proc.pid] = Worker(proc)
        logger.info("started worker %d", proc.pid)

    def _read_notifications(self) -> None:
        while True:
            try:
                data, ancillary, _, _ = self._notify.recvmsg(4096, socket.CMSG_SPACE(12))
            except (BlockingIOError, InterruptedError):
                return
            worker = self.workers.get(_sender_pid(ancillary))
            if worker is not None:  # else a process the app started, or one already reaped
                self._on_message(worker, parse_fields(data))

    def _on_message(self, worker: Worker, fields: dict[str, str]) -> None:
        now = time.monotonic()
        if fields.get("WATCHDOG") == "1":
            worker.last_beat = now
            worker.connections = int(fields.get(CONNECTIONS_FIELD, worker.connections))
            worker.requests = int(fields.get(REQUESTS_FIELD, worker.requests))
        if fields.get("READY") == "1" and worker.state is WorkerState.STARTING:
            worker.state, worker.ready_at, self.ever_ready = WorkerState.READY, now, True
            logger.info("worker %d ready", worker.pid)
        if fields.get(RECYCLE_FIELD) == "1" and worker.serving and not worker.retiring:
            worker.retiring = True
            logger.info("worker %d spent its request budget: replacing it", worker.pid)

    # -- the pool -----------------------------------------------------------------------

    def _balance(self) -> None:
        """Successors first, then one retiring worker drains per successor ready."""
        now = time.monotonic()
        fresh = [w for w in self.workers.values() if w.serving and not w.retiring]
        retiring = [w for w in self.workers.values() if w.serving and w.retiring]
        ready = [w for w in fresh if w.state is WorkerState.READY]
        while retiring and len(ready) + len(retiring) > self.target:
            self._drain(retiring.pop(0), "replaced")
        for extra in sorted(fresh, key=_drain_order)[: max(0, len(fresh) - self.target)]:
            self._drain(extra, "SIGTTOU")
            fresh.remove(extra)
        missing = self.target - len(fresh)
        if missing <= 0 or now < self.next_spawn_at:
            self._finish_reload(fresh, retiring)
            return
        starting = sum(1 for w in fresh if w.state is WorkerState.STARTING)
        # During a roll, or after crashes, one new worker at a time.
        allowed = missing if not (retiring or self.backoff.crashes) else 1 - starting
        for _ in range(max(0, allowed)):
            self._spawn()
        if self.backoff.crashes and allowed > 0:
            self.next_spawn_at = now + self.backoff.delay_s

    def _drain(self, worker: Worker, reason: str) -> None:
        worker.state, worker.stop_reason = WorkerState.DRAINING, reason
        logger.info("worker %d draining (%s)", worker.pid, reason)
        _send(worker, RESTART_SIGNAL)

    def _reload(self) -> None:
        serving = [w for w in self.workers.values() if w.serving]
        logger.info("SIGHUP: replacing %d workers one at a time", len(serving))
        notify(reloading_message())
        for worker in serving:
            if worker.state is WorkerState.READY:  # a starting one has no handler yet
                # TLS certificates swap at once in the running workers (asgid.tls_reload);
                # their successors load the files afresh anyway.
                _send(worker, signal.SIGHUP)
        self.reloading = True
        for worker in serving:
            worker.retiring = True

    def _finish_reload(self, fresh: list[Worker], retiring: list[Worker]) -> None:
        if not self.reloading or retiring:
            return
        if all(w.state is WorkerState.READY for w in fresh):
            self.reloading = False
            logger.info("reload complete: %d workers", len(fresh))
            notify("READY=1")

    def _reap(self) -> None:
        for pid, worker in list(self.workers.items()):
            code = worker.proc.poll()
            if code is not None:
                del self.workers[pid]
                if self._metrics is not None:
                    self._metrics.worker_gone(pid)
                self._exited(worker, code)

    def _exited(self, worker: Worker, code: int) -> None:
        if self.stopping:
            self.exit_code = self.exit_code or (code if code > 0 else 0)
            return
        if worker.stop_reason and worker.stop_reason != "blocked":
            logger.info("worker %d exited with status %d (%s)", worker.pid, code,
                        worker.stop_reason)  # fmt: skip
            return
        if code in FATAL_EXIT_CODES and worker.ready_at is None:
            self._failed_start(worker, code)
            return
        self.restarts += 1
        if self._metrics is not None:
            self._metrics.restarted()
        delay = self.backoff.crashed(worker, time.monotonic())
        self.next_spawn_at = time.monotonic() + delay
        what = "killed (blocked event loop)" if worker.stop_reason else f"exited with status {code}"
        if self.backoff.in_crash_loop:
            logger.error(
                "crash loop: worker %d %s, %d in a row without %.0fs of uptime; "
                "next start in %.1fs: check the application's log above",
                worker.pid, what, self.backoff.crashes, self.backoff.stable_s, delay,
            )  # fmt: skip
        else:
            logger.warning("worker %d %s: starting another in %.1fs", worker.pid, what, delay)

    def _failed_start(self, worker: Worker, code: int) -> None:
        """A new worker cannot start: stop at startup, keep the old workers on a reload."""
        if not self.ever_ready:
            logger.error("worker %d exited with status %d: stopping", worker.pid, code)
            self.exit_code = code
            self._stop_all(signal.SIGTERM)
            return
        logger.error(
            "worker %d could not start (status %d): keeping the workers already running; "
            "fix the application and send SIGHUP again", worker.pid, code,
        )  # fmt: skip
        for other in self.workers.values():
            other.retiring = False
        self.target = max(1, min(self.target, sum(w.serving for w in self.workers.values())))
        if self.reloading:
            self.reloading = False
            notify("READY=1\nSTATUS=reload failed: new workers could not start")

    def _check_heartbeats(self) -> None:
        now = time.monotonic()
        for worker in self.workers.values():
            if worker.stop_reason != "blocked" and worker.is_blocked(now, self.timeout_s):
                logger.error(
                    "worker %d: event loop blocked for more than %ss (--worker-timeout): "
                    "killing it", worker.pid, self.timeout_s,
                )  # fmt: skip
                worker.stop_reason = "blocked"
                _send(worker, signal.SIGKILL)

    @property
    def timeout_s(self) -> float:
        return self.config.worker_timeout_s

    def _tell_systemd(self) -> None:
        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + STATUS_EVERY_S
            status = self._status_line()
            if status != self._status:
                self._status = status
                notify(f"STATUS={status}")
        ready = sum(w.state is WorkerState.READY for w in self.workers.values())
        if not self._announced and ready >= self.target:
            self._announced = True
            logger.info("asgid ready: %d workers", ready)
            notify("READY=1")
        if self._watchdog_s and now >= self._next_pet:
            if not any(w.is_blocked(now, self.timeout_s) for w in self.workers.values()):
                self._next_pet = now + self._watchdog_s
                notify("WATCHDOG=1")

    def _status_line(self) -> str:
        serving = [w for w in self.workers.values() if w.serving]
        connections = sum(w.connections for w in self.workers.values())
        line = f"{len(serving)} workers, {connections} connections open"
        if self.reloading:
            line += ", reloading"
        return line

    def _stop_all(self, signum: int) -> None:
        if not self.stopping:
            logger.info("%s received: stopping %d workers", signal.Signals(signum).name,
                        len(self.workers))  # fmt: skip
            notify("STOPPING=1")
        self.stopping = True
        for worker in self.workers.values():
            _send(worker, signum)


def _drain_order(worker: Worker) -> tuple[int, float]:
    """Which surplus worker goes first: one still starting, else the youngest."""
    return (0 if worker.state is WorkerState.STARTING else 1, -worker.started_at)


def _send(worker: Worker, signum: int) -> None:
    if worker.proc.poll() is None:
        worker.proc.send_signal(signum)


def _notify_socket() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    # Abstract namespace (Linux): nothing to clean up on disk; the kernel picks the name.
    sock.bind("")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.setblocking(False)
    return sock


def _sender_pid(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid: int = struct.unpack("3i", data[:12])[0]
            return pid
    return 0
