"""``--workers``: workers never orphaned, scaling, recycling, crash back-off, blocked workers,
TLS endpoints, reload of WebSockets and a reload whose new code cannot start."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.server import AsgidProcess

APP = "tests.apps.ops:app"
LOOPS = ["uvloop", "asyncio"]


def started(server: AsgidProcess) -> list[int]:
    return [
        int(line.split()[-1]) for line in server.output.splitlines() if "started worker" in line
    ]


def wait_until(condition, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """Exited (a zombie re-parented to an init that does not reap counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_kill_9_of_the_supervisor_leaves_no_worker_and_frees_the_port(asgid):
    server = asgid(APP, "--workers", "2")
    server.wait_for("asgid ready: 2 workers", timeout=20)
    workers = started(server)
    assert httpx.get(server.url + "/pid").status_code == 200
    server.proc.kill()
    deadline = time.monotonic() + 2.0
    while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in workers), server.output
    assert refused(server.port)


def test_sigttin_adds_a_worker_and_sigttou_removes_one(asgid):
    server = asgid(APP, "--workers", "2")
    server.wait_for("asgid ready: 2 workers", timeout=20)
    server.signal(signal.SIGTTIN)
    server.wait_for("SIGTTIN: 3 workers wanted")
    wait_until(lambda: server.output.count("asgid ready: serving") == 3, what="a third worker")
    third = started(server)[2]
    server.signal(signal.SIGTTOU)
    server.wait_for(f"worker {third} draining (SIGTTOU)")
    server.wait_for(f"worker {third} exited with status 0")
    pids = {httpx.get(server.url + "/pid").text for _ in range(6)}
    assert str(third) not in pids


def test_request_budget_replaces_a_worker_without_failing_a_request(asgid):
    server = asgid(
        APP, "--workers", "2", "--limit-max-requests", "6", "--limit-max-requests-jitter", "2"
    )
    server.wait_for("asgid ready: 2 workers", timeout=20)
    first = set(started(server))
    with httpx.Client() as client:
        for _ in range(24):  # at most 8 per worker before it must be replaced
            assert client.get(server.url + "/pid").status_code == 200
    server.wait_for("spent its request budget: replacing it")
    wait_until(lambda: len(started(server)) >= 3, what="a successor")
    server.wait_for("draining (replaced)")
    assert set(started(server)) - first


def test_a_crash_loop_backs_off_and_is_logged_as_such(asgid):
    server = asgid("tests.apps.ops:crashes_soon", "--workers", "2")
    server.wait_for("crash loop:", timeout=20)
    delays = [
        float(d) for d in re.findall(r"(?:start in|starting another in) ([0-9.]+)s", server.output)
    ]
    assert delays == sorted(delays) and delays[-1] > delays[0], server.output
    assert "check the application's log above" in server.output


def test_a_worker_with_a_blocked_loop_is_killed_and_replaced(asgid):
    server = asgid(APP, "--workers", "2", "--worker-timeout", "1")
    server.wait_for("asgid ready: 2 workers", timeout=20)
    blocked = threading.Thread(
        target=lambda: _ignore_errors(httpx.get, server.url + "/block?s=30", timeout=30),
        daemon=True,
    )
    blocked.start()
    victim = int(server.wait_for("MARK blocking").split()[-1])
    server.wait_for(f"worker {victim}: event loop blocked for more than 1.0s", timeout=10)
    server.wait_for(f"worker {victim} killed (blocked event loop): starting another in")
    wait_until(lambda: server.output.count("asgid ready: serving") >= 3, what="a replacement")
    assert gone(victim)
    assert httpx.get(server.url + "/pid").status_code == 200


def _ignore_errors(call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except httpx.HTTPError:
        pass


def test_workers_share_a_tls_endpoint_and_speak_h2_over_it(asgid, tls_files):
    server = asgid(APP, "--workers", "2", endpoints=(tls_files.endpoint(),))
    server.wait_for("asgid ready: 2 workers", timeout=20)
    assert server.url.startswith("https://")
    with httpx.Client(verify=tls_files.client_context(alpn=["h2", "http/1.1"]), http2=True) as c:
        response = c.get(server.url + "/pid")
    assert response.http_version == "HTTP/2" and int(response.text) in started(server)
    with httpx.Client(verify=tls_files.client_context(alpn=["http/1.1"])) as c:
        assert c.get(server.url + "/pid").http_version == "HTTP/1.1"


@pytest.mark.parametrize("loop", LOOPS)
def test_reload_closes_open_websockets_with_1012_after_the_graceful_timeout(asgid, loop):
    server = asgid(APP, "--workers", "2", "--graceful-timeout", "1", "--loop", loop)
    server.wait_for("asgid ready: 2 workers", timeout=20)
    # A reload replaces every worker, so the WebSocket's worker is among them.
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send("before")
        assert ws.recv(timeout=5) == "before"
        reloaded_at = time.monotonic()
        server.signal(signal.SIGHUP)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=15)
        waited = time.monotonic() - reloaded_at
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert waited >= 1.0  # not before --graceful-timeout
    server.wait_for("reload complete", timeout=20)


def test_a_reload_whose_new_code_cannot_start_keeps_the_running_workers(asgid, tmp_path):
    module = tmp_path / "reloadable_app.py"
    module.write_text(_APP_SOURCE.format(version="v1", fail=False))
    server = asgid("reloadable_app:app", "--workers", "2", "--app-dir", str(tmp_path), cwd=tmp_path)
    server.wait_for("asgid ready: 2 workers", timeout=20)
    module.write_text(_APP_SOURCE.format(version="v2", fail=True))
    server.signal(signal.SIGHUP)
    server.wait_for("could not start (status 3): keeping the workers already running", timeout=20)
    with httpx.Client() as client:
        assert {client.get(server.url + "/").text for _ in range(4)} == {"v1"}
    assert server.proc.poll() is None


_APP_SOURCE = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        if {fail}:
            await send({{"type": "lifespan.startup.failed", "message": "new code is broken"}})
            return
        await send({{"type": "lifespan.startup.complete"}})
        await receive()
        await send({{"type": "lifespan.shutdown.complete"}})
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"{version}"}})
"""


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_sigttin_and_sigttou_are_ignored_without_workers(asgid, loop):
    server = asgid(APP, "--loop", loop)
    for signum in (signal.SIGTTIN, signal.SIGTTOU):
        mark = server.mark()
        server.signal(signum)
        server.wait_for(f"{signum.name} ignored: it adds or removes a worker only with --workers",
                        since=mark)  # fmt: skip
        # Their default action stops the process ("T"); ignored, it keeps serving.
        assert process_state(server.proc.pid) != "T"
        assert httpx.get(server.url + "/pid", timeout=5).text == str(server.proc.pid)
    assert server.output.count("ignored: it adds or removes a worker") == 2


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]
