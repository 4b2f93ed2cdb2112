"""``--workers N``: worker processes sharing the supervisor's listening sockets."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.server import run_cli

APP = "tests.apps.ops:app"


def wait_workers_ready(server, count: int) -> None:
    server.wait_for(f"asgid ready: {count} workers", timeout=20)


def test_two_workers_share_one_port(asgid):
    server = asgid(APP, "--workers", "2")
    wait_workers_ready(server, 2)
    assert server.output.count(f"Listening on tcp:127.0.0.1:{server.port}") == 3
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(httpx.get, server.url + "/block?s=1", timeout=10)
        line = server.wait_for("MARK blocking")
        first = int(line.split()[-1])
        # That worker's loop is blocked: the other one must take this connection.
        second = int(httpx.get(server.url + "/pid", timeout=5).text)
        assert int(blocked.result().text) == first
    assert first != second
    assert {first, second} <= {int(p) for p in _worker_pids(server.output)}


def _worker_pids(output: str) -> list[str]:
    return [line.split()[-1] for line in output.splitlines() if "started worker" in line]


def test_sigterm_drains_every_worker_and_exits_0(asgid):
    server = asgid(APP, "--workers", "2", "--graceful-timeout", "10")
    wait_workers_ready(server, 2)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.get, server.url + "/slow?s=1", timeout=10)
        server.wait_for("MARK slow start")
        server.signal(signal.SIGTERM)
        assert slow.result().text == "slow done"
    assert server.wait(15) == 0
    assert server.output.count("MARK lifespan shutdown") == 2


def test_a_dead_worker_is_replaced(asgid):
    server = asgid(APP, "--workers", "2")
    wait_workers_ready(server, 2)
    victim = int(_worker_pids(server.output)[0])
    os.kill(victim, signal.SIGKILL)
    server.wait_for(f"worker {victim} exited with status -9: starting another")
    deadline = time.monotonic() + 15
    while len(_worker_pids(server.output)) < 3:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.05)
    replacement = _worker_pids(server.output)[2]
    deadline = time.monotonic() + 15
    while server.output.count("asgid ready: serving") < 3:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.05)
    pids = {httpx.get(server.url + "/pid").text for _ in range(5)}
    assert str(victim) not in pids
    assert replacement.isdigit()


def test_lifespan_failure_in_workers_stops_the_supervisor(asgid):
    server = asgid("tests.apps.ops:startup_fails", "--workers", "2", expect_ready=False)
    assert server.wait(20) == 3
    assert "database unreachable" in server.output


def test_worker_endpoints_variable_must_be_a_json_list():
    result = run_cli(APP, env={"ASGID_WORKER_ENDPOINTS": "fd:fileno=3 fd:fileno=4"})
    assert result.returncode == 2
    assert "ASGID_WORKER_ENDPOINTS must be a JSON list" in result.stderr
    assert "Traceback" not in result.stderr
