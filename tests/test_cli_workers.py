"""``--workers N``: worker processes sharing the supervisor's listening sockets."""

from __future__ import annotations

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import trustme

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


def test_ready_sent_to_systemd_once_all_workers_are_up(asgid, tmp_path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(path))
        notify.settimeout(20)
        server = asgid(APP, "--workers", "2", env={"NOTIFY_SOCKET": str(path)})
        assert notify.recv(100) == b"READY=1"
        server.wait_for("asgid ready: 2 workers")  # logged just before READY=1 was sent
        server.signal(signal.SIGTERM)
        assert notify.recv(100) == b"STOPPING=1"
        assert server.wait(15) == 0


def test_lifespan_failure_in_workers_stops_the_supervisor(asgid):
    server = asgid("tests.apps.ops:startup_fails", "--workers", "2", expect_ready=False)
    assert server.wait(20) == 3
    assert "database unreachable" in server.output


def test_tls_endpoints_cannot_be_shared(tmp_path):
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "both.pem"))
    endpoint = f"ssl:0:interface=127.0.0.1:privateKey={tmp_path}/both.pem"
    result = run_cli(APP, "--workers", "2", "-e", endpoint)
    assert result.returncode == 2
    assert "--workers cannot share" in result.stderr and "Traceback" not in result.stderr


def test_worker_endpoints_variable_must_be_a_json_list():
    result = run_cli(APP, env={"ASGID_WORKER_ENDPOINTS": "fd:fileno=3 fd:fileno=4"})
    assert result.returncode == 2
    assert "ASGID_WORKER_ENDPOINTS must be a JSON list" in result.stderr
    assert "Traceback" not in result.stderr
