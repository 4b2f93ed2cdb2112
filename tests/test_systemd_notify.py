"""sd_notify to a fake ``NOTIFY_SOCKET``: READY, STATUS, RELOADING, STOPPING and WATCHDOG."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.support.notify import FakeNotifySocket

APP = "tests.apps.ops:app"


@pytest.fixture
def notify(tmp_path):
    fake = FakeNotifySocket(tmp_path / "notify.sock")
    yield fake
    fake.close()


def test_workers_report_ready_status_reload_and_stopping(asgid, notify):
    server = asgid(APP, "--workers", "2", env=notify.env)
    ready = notify.wait_for("READY=1")
    server.wait_for("asgid ready: 2 workers")
    status = notify.wait_for(lambda m: m.startswith("STATUS=2 workers"))
    assert "connections open" in notify.texts()[status]
    server.signal(signal.SIGHUP)
    reloading = notify.wait_for(lambda m: m.startswith("RELOADING=1"), start=ready + 1)
    fields = dict(line.split("=", 1) for line in notify.texts()[reloading].splitlines())
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert 0 < now_usec - int(fields["MONOTONIC_USEC"]) < 60_000_000
    again = notify.wait_for("READY=1", start=reloading + 1, timeout=30)
    server.wait_for("reload complete")
    server.signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1", start=again + 1)
    assert server.wait(15) == 0
    # READY=1 once at start and once after the reload, never for each worker.
    assert notify.texts().count("READY=1") == 2


def test_supervisor_pets_the_watchdog_at_half_the_interval(asgid, notify):
    env = {**notify.env, "WATCHDOG_USEC": "600000"}
    asgid(APP, "--workers", "2", env=env)
    first = notify.wait_for("WATCHDOG=1")
    second = notify.wait_for("WATCHDOG=1", start=first + 1)
    third = notify.wait_for("WATCHDOG=1", start=second + 1)
    times = [t for t, text in notify.messages[first : third + 1] if text == "WATCHDOG=1"]
    assert 0.2 < (times[-1] - times[0]) / (len(times) - 1) < 0.6


def test_single_process_stops_petting_while_its_loop_is_blocked(asgid, notify):
    env = {**notify.env, "WATCHDOG_USEC": "400000"}
    server = asgid(APP, env=env)
    notify.wait_for(lambda m: m.startswith("WATCHDOG=1"))
    blocked = threading.Thread(target=httpx.get, args=(server.url + "/block?s=2",), daemon=True)
    blocked.start()
    server.wait_for("MARK blocking")
    blocked.join(10)
    index = len(notify.messages)
    for _ in range(3):  # petting resumes once the loop runs again
        index = notify.wait_for(lambda m: m.startswith("WATCHDOG=1"), start=index) + 1
    pets = [t for t, text in notify.messages if text.startswith("WATCHDOG=1")]
    gaps = [b - a for a, b in zip(pets, pets[1:], strict=False)]
    assert max(gaps) >= 1.5  # nothing while blocked for 2 s
    assert sorted(gaps)[len(gaps) // 2] < 0.5  # about every 0.2 s otherwise
    status = [text for _, text in notify.messages if "STATUS=serving" in text]
    assert status and "connections open" in status[0]


def test_watchdog_of_another_pid_is_not_ours(asgid, notify):
    env = {**notify.env, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    server = asgid(APP, env=env)
    notify.wait_for("READY=1")
    assert httpx.get(server.url + "/pid").status_code == 200
    server.signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1")
    assert not any(text.startswith("WATCHDOG=1") for text in notify.texts())
