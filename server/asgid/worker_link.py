"""A worker's ties to its supervisor: parent-death signal, parent pipe, heartbeats, request budget.

The endpoints a worker adopts (``ASGID_WORKER_ENDPOINTS``) are read here too, so that a
single process asks whether it is a worker without importing the supervisor.

A worker must never outlive its supervisor (a ``kill -9`` of the supervisor used to leave
orphans serving on the shared port). Two independent guards end it:

* Linux ``PR_SET_PDEATHSIG``: the kernel sends SIGTERM when the parent dies, so the worker
  drains gracefully like on any stop.
* The read end of a pipe whose only write end the supervisor holds: when the supervisor
  dies, however it dies and on any platform, the pipe reads EOF and the worker stops.

The request budget (``--limit-max-requests`` with jitter) is counted here; when it runs out
the worker asks the supervisor for a successor and keeps serving until told to drain, so
recycling costs no capacity.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asgid.errors import ConfigError
from asgid.heartbeat import Heartbeat
from asgid.systemd import CONNECTIONS_FIELD, RECYCLE_FIELD, REQUESTS_FIELD, notify

if TYPE_CHECKING:
    import random

logger = logging.getLogger(__name__)

PIPE_ENV = "ASGID_SUPERVISOR_FD"
PARENT_ENV = "ASGID_SUPERVISOR_PID"
HEARTBEAT_ENV = "ASGID_WORKER_HEARTBEAT_S"
WORKER_ENDPOINTS_ENV = "ASGID_WORKER_ENDPOINTS"
WORKER_METRICS_ENV = "ASGID_WORKER_METRICS_ENDPOINT"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def request_budget(limit: int, jitter: int, rng: random.Random | None = None) -> int:
    """``limit`` give or take up to ``jitter``, never below 1; 0 means no budget.

    The jitter keeps workers started together from all recycling at the same moment.
    """
    if limit <= 0:
        return 0
    import random  # only a worker with a budget draws; a single process never loads it

    spread = (rng or random.Random()).randint(-jitter, jitter) if jitter > 0 else 0
    return max(1, limit + spread)


@dataclass
class WorkerLink:
    """Built from the environment the supervisor gave this worker."""

    pipe_fd: int
    parent_pid: int
    heartbeat_s: float
    budget: int = 0
    requests: int = 0
    recycle_asked: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerLink | None:
        """The link, or None when this process is not a supervised worker."""
        if PIPE_ENV not in environ:
            return None
        return cls(
            pipe_fd=int(environ[PIPE_ENV]),
            parent_pid=int(environ.get(PARENT_ENV, "0")),
            heartbeat_s=float(environ.get(HEARTBEAT_ENV, "1")),
        )

    def bind_to_parent(self) -> bool:
        """Ask for SIGTERM when the supervisor dies; False if it is already gone."""
        if sys.platform.startswith("linux"):
            import ctypes  # here: only workers need it, and every start-up would pay its import
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
                logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        # The parent may have died before prctl: then we were re-parented already.
        return os.getppid() == self.parent_pid

    def watch(
        self,
        loop: asyncio.AbstractEventLoop,
        on_parent_gone: Callable[[], None],
        connections: Callable[[], int],
    ) -> Heartbeat:
        """Stop on pipe EOF; ping the supervisor with load figures; return the heartbeat."""

        def readable() -> None:
            try:
                data = os.read(self.pipe_fd, 64)
            except BlockingIOError:
                return
            if not data:  # EOF: the supervisor's write end closed, so it is gone
                loop.remove_reader(self.pipe_fd)
                logger.warning("supervisor %d is gone: stopping this worker", self.parent_pid)
                on_parent_gone()

        os.set_blocking(self.pipe_fd, False)
        loop.add_reader(self.pipe_fd, readable)

        def figures() -> str:
            return f"{CONNECTIONS_FIELD}={connections()}\n{REQUESTS_FIELD}={self.requests}"

        heartbeat = Heartbeat(loop, self.heartbeat_s, figures)
        heartbeat.start()
        return heartbeat

    def request_done(self) -> None:
        """Count one request; ask for a successor once the budget is spent."""
        self.requests += 1
        if self.budget and self.requests >= self.budget and not self.recycle_asked:
            self.recycle_asked = True
            logger.info(
                "worker %d served %d requests (--limit-max-requests): asking for a successor",
                os.getpid(),
                self.requests,
            )
            notify(f"{RECYCLE_FIELD}=1")


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
