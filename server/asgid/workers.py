"""What the supervisor knows of each worker process, and the crash back-off policy."""

from __future__ import annotations

import enum
import subprocess
import time
from dataclasses import dataclass, field


class WorkerState(enum.Enum):
    STARTING = "starting"  # spawned; importing the app, lifespan startup
    READY = "ready"  # sent READY=1: listening and serving
    DRAINING = "draining"  # told to stop; finishing in-flight work


@dataclass(eq=False)
class Worker:
    proc: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    state: WorkerState = WorkerState.STARTING
    ready_at: float | None = None
    last_beat: float | None = None  # None until the first heartbeat: imports may be slow
    connections: int = 0
    requests: int = 0
    # Serving, but to be replaced as soon as a successor is ready (reload, request budget).
    retiring: bool = False
    stop_reason: str = ""  # why the supervisor ended it, for the exit log line

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def serving(self) -> bool:
        return self.state is not WorkerState.DRAINING

    def is_blocked(self, now: float, timeout_s: float) -> bool:
        """No heartbeat for ``timeout_s``: its event loop is stuck in app code."""
        return self.last_beat is not None and now - self.last_beat > timeout_s


class Backoff:
    """Delay before starting a worker after crashes: doubling, capped, reset by stability.

    A worker that ran ``stable_s`` after becoming ready proves the app can run, so the next
    crash starts the count again; otherwise crashes accumulate into a crash loop.
    """

    def __init__(self, first_s: float = 0.1, cap_s: float = 10.0, stable_s: float = 10.0):
        self.first_s = first_s
        self.cap_s = cap_s
        self.stable_s = stable_s
        self.crashes = 0

    def crashed(self, worker: Worker, now: float) -> float:
        """Record a crash; return the delay before the next start."""
        if worker.ready_at is not None and now - worker.ready_at >= self.stable_s:
            self.crashes = 0
        self.crashes += 1
        return self.delay_s

    @property
    def delay_s(self) -> float:
        if not self.crashes:
            return 0.0
        return float(min(self.cap_s, self.first_s * 2 ** (self.crashes - 1)))

    @property
    def in_crash_loop(self) -> bool:
        return self.crashes >= 3
