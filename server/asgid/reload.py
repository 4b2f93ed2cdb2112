"""``--reload``: serve from a child process and restart it when a watched file changes.

Theory of operation: this process never imports the application, so a syntax error in it
cannot stop the watcher; it only owns the listening sockets (bound once, as for
``--workers``) and one child ``python -m asgid`` with the same command line, told to adopt
those sockets. On a change the child gets SIGTERM and drains its in-flight requests while
a fresh child starts on the same sockets; connections arriving in between wait in the
listen backlog instead of being refused. ``ssl:`` endpoints cannot be shared, so with them
the old child finishes first and the new one binds again. A child that exits on its own (an
import error, a failed startup) is reported once; the next change (or SIGHUP to this
process, which restarts as a change does) starts another.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asgid.config import Config
from asgid.errors import ConfigError

logger = logging.getLogger(__name__)

RELOAD_CHILD_ENV = "ASGID_RELOAD_CHILD"
POLL_MS = 300  # how soon a child that exited by itself is reported
DEBOUNCE_MS = 200  # an editor's save is often several writes
INSTALL_HINT = "--reload needs the watchfiles package: pip install 'asgid[reload]'"


def is_reload_child(environ: dict[str, str]) -> bool:
    return environ.get(RELOAD_CHILD_ENV) == "1"


def require_watchfiles() -> None:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


def watched_dirs(config: Config) -> tuple[Path, ...]:
    """``--reload-dir`` (repeatable), or the directory the application is imported from."""
    dirs = config.reload_dirs or (config.app_dir or os.getcwd(),)
    paths = tuple(Path(d).resolve() for d in dirs)
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"--reload-dir {path}: no such directory")
    return paths


class PathFilter:
    """Include/exclude globs, matched against the file name and the whole path."""

    def __init__(self, includes: Sequence[str], excludes: Sequence[str]) -> None:
        from watchfiles import DefaultFilter

        self.includes = tuple(includes)
        self.excludes = tuple(excludes)
        # Skips .git, __pycache__, virtualenvs and editor swap files.
        self._default = DefaultFilter()

    def __call__(self, change: Any, path: str) -> bool:
        if not self._default(change, path):
            return False
        if self._matches(path, self.excludes):
            return False
        return self._matches(path, self.includes)

    @staticmethod
    def _matches(path: str, patterns: Sequence[str]) -> bool:
        name = os.path.basename(path)
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)


def share_sockets(config: Config, reactor: Any) -> tuple[list[Any], str | None]:
    """Bind the endpoints here for the children to adopt; ``None`` when TLS forbids it."""
    from asgid.shared_sockets import bind_for_workers
    from asgid.worker_link import encode_worker_endpoints

    try:
        shared = bind_for_workers(config.endpoints, reactor)
    except ConfigError:
        # ssl: endpoints cannot be handed to another process (https: ones can).
        logger.info("each server process binds its own ssl: endpoints: a restart waits "
                    "for the old process to finish")  # fmt: skip
        return [], None
    return [s.port for s in shared], encode_worker_endpoints([s.worker_description for s in shared])


class Reloader:
    """One watched child server; restarts it on changes, passes signals on."""

    def __init__(self, config: Config, argv: Sequence[str], *, fds: Sequence[int],
                 shared_endpoints: str | None) -> None:  # fmt: skip
        self.config = config
        self.argv = list(argv)
        self.fds = tuple(fds)
        self.shared_endpoints = shared_endpoints
        self.dirs = watched_dirs(config)
        self.filter = PathFilter(config.reload_includes, config.reload_excludes)
        # run state
        self.child: subprocess.Popen[bytes] | None = None
        self.draining: list[subprocess.Popen[bytes]] = []
        self.reported_exit = False
        self.stop_signal: int | None = None
        # SIGHUPs received (written only by the handler) and acted on: the watch loop
        # restarts at its next turn, no flag to clear that a signal could race.
        self.hangups = self.hangups_seen = 0
        self._stop = threading.Event()

    def run(self) -> int:
        from watchfiles import watch

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        # Without a handler SIGHUP would end the watcher and orphan the child.
        signal.signal(signal.SIGHUP, self._on_hangup)
        logger.info("watching %s for %s", ", ".join(map(str, self.dirs)),
                    " ".join(self.filter.includes))  # fmt: skip
        self._start()
        for changes in watch(
            *self.dirs,
            watch_filter=self.filter,
            stop_event=self._stop,
            yield_on_timeout=True,
            rust_timeout=POLL_MS,
            debounce=DEBOUNCE_MS,
            raise_interrupt=False,
        ):
            self._reap()
            if self._stop.is_set():
                continue
            if changes:
                self._restart(_describe(sorted({path for _change, path in changes})))
            elif self.hangups != self.hangups_seen:
                self._restart("SIGHUP received")
            self.hangups_seen = self.hangups
        return self._shut_down()

    def _start(self) -> None:
        env = {**os.environ, RELOAD_CHILD_ENV: "1"}
        if self.shared_endpoints is not None:
            from asgid.worker_link import WORKER_ENDPOINTS_ENV

            env[WORKER_ENDPOINTS_ENV] = self.shared_endpoints
        # Own session: a terminal's ^C reaches only us, and we pass on exactly one signal.
        self.child = subprocess.Popen(
            [sys.executable, "-m", "asgid", *self.argv],
            env=env,
            pass_fds=self.fds,
            start_new_session=True,
        )
        self.reported_exit = False
        logger.info("started server process %d", self.child.pid)

    def _restart(self, reason: str) -> None:
        logger.info("%s; restarting", reason)
        old, self.child = self.child, None
        if old is not None and old.poll() is None:
            old.send_signal(signal.SIGTERM)
            if self.shared_endpoints is None:
                self._wait(old)  # the new process must bind the same ports
            else:
                self.draining.append(old)
        self._start()

    def _reap(self) -> None:
        self.draining = [proc for proc in self.draining if proc.poll() is None]
        child = self.child
        if child is None or self.reported_exit:
            return
        code = child.poll()
        if code is not None:
            self.reported_exit = True
            logger.error("server process %d exited with status %d; waiting for a file "
                         "change (or SIGHUP) to start it again", child.pid, code)  # fmt: skip

    def _on_hangup(self, _signum: int, _frame: object) -> None:
        self.hangups += 1

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
            self._stop.set()

    def _shut_down(self) -> int:
        procs = [p for p in [self.child, *self.draining] if p is not None and p.poll() is None]
        signum = self.stop_signal or signal.SIGTERM
        logger.info("%s received: stopping the server", signal.Signals(signum).name)
        for proc in procs:
            proc.send_signal(signum)
        for proc in procs:
            self._wait(proc)
        return 0

    def _wait(self, proc: subprocess.Popen[bytes]) -> None:
        """The child drains for up to --graceful-timeout; a little more, then it is killed."""
        try:
            proc.wait(self.config.graceful_timeout_s + 5)
        except subprocess.TimeoutExpired:
            logger.warning("server process %d did not stop: killing it", proc.pid)
            proc.kill()
            proc.wait()


def _describe(paths: list[str]) -> str:
    shown = ", ".join(os.path.relpath(p) for p in paths[:3])
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return f"changed: {shown}{more}"
