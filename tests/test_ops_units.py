"""Pure parts of the operations code: request budget, crash back-off, sd_notify fields,
watchdog interval, access-log templates (no sockets, no processes)."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from asgid.errors import ConfigError
from asgid.log_formats import AccessTemplate
from asgid.systemd import parse_fields, watchdog_interval_s
from asgid.worker_link import request_budget
from asgid.workers import Backoff, Worker


def test_request_budget_stays_within_the_jitter_and_never_below_one():
    rng = random.Random(7)
    budgets = {request_budget(100, 10, rng) for _ in range(500)}
    assert min(budgets) >= 90 and max(budgets) <= 110 and len(budgets) > 15
    assert request_budget(0, 10) == 0  # off
    assert request_budget(100, 0) == 100
    assert min(request_budget(2, 50, rng) for _ in range(200)) == 1


def _worker(ready_at: float | None) -> Worker:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return Worker(proc, ready_at=ready_at)


def test_backoff_doubles_up_to_its_cap_and_resets_after_a_stable_run():
    backoff = Backoff(first_s=0.1, cap_s=1.0, stable_s=10.0)
    delays = [backoff.crashed(_worker(ready_at=100.0), now=101.0) for _ in range(6)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.in_crash_loop
    assert backoff.crashed(_worker(ready_at=100.0), now=111.0) == 0.1  # ran 11 s: stable
    assert not backoff.in_crash_loop


def test_notify_fields_and_the_watchdog_interval():
    assert parse_fields(b"WATCHDOG=1\nX_ASGID_CONNECTIONS=3\nnoise") == {
        "WATCHDOG": "1",
        "X_ASGID_CONNECTIONS": "3",
    }
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000"}) == 1.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None
    mine = {"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(mine) == 0.25
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_s({}) is None


def test_access_templates_render_fields_and_refuse_unknown_ones():
    template = AccessTemplate("{client} {method} {path} {status} {duration_ms}")
    fields = {"client": "10.0.0.1", "method": "GET", "path": "/x", "status": 200,
              "duration_s": 0.0125}  # fmt: skip
    assert template.render(fields) == "10.0.0.1 GET /x 200 12.500"
    with pytest.raises(ConfigError, match="unknown field"):
        AccessTemplate("{nope}")
    with pytest.raises(ConfigError, match="access-log-format"):
        AccessTemplate("{unclosed")
