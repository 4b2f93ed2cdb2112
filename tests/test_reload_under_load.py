"""SIGHUP under load: two rolling reloads while clients keep requesting; nothing fails."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field

import httpx

APP_SOURCE = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"{version}"}})
"""


@dataclass
class Load:
    """Clients in threads: one keep-alive connection each, plus one new connection a request."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    served: int = 0
    failures: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_alive(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                self._one(client)

    def new_connections(self) -> None:
        while not self.stop.is_set():
            with httpx.Client(timeout=10) as client:
                self._one(client)

    def _one(self, client: httpx.Client) -> None:
        try:
            response = client.get(self.url)
        except httpx.HTTPError as exc:  # refused, reset, closed mid-response...
            with self._lock:
                self.failures.append(repr(exc))
            return
        with self._lock:
            self.served += 1
            self.bodies.append(response.text)
            if response.status_code != 200:
                self.failures.append(f"status {response.status_code}")


def test_two_reloads_under_load_fail_no_request_and_serve_the_new_code(asgid, tmp_path):
    module = tmp_path / "versioned.py"
    module.write_text(APP_SOURCE.format(version="v1"))
    server = asgid(
        "versioned:app", "--workers", "2", "--app-dir", str(tmp_path), "--access-log", "/dev/null",
        "--graceful-timeout", "5", cwd=tmp_path,
    )  # fmt: skip
    server.wait_for("asgid ready: 2 workers", timeout=20)
    load = Load(server.url + "/")
    threads = [threading.Thread(target=load.keep_alive) for _ in range(2)]
    threads.append(threading.Thread(target=load.new_connections))
    for thread in threads:
        thread.start()
    try:
        for round_, version in enumerate(("v2", "v3"), start=1):
            module.write_text(APP_SOURCE.format(version=version))
            server.signal(signal.SIGHUP)
            _wait_count(server, "reload complete", round_)
        before = load.served
        _wait_until(lambda: load.served > before + 50)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(15)
    assert load.failures == [], load.failures[:5]
    assert load.served > 100
    assert load.bodies[-20:] == ["v3"] * 20
    assert {"v1", "v3"} <= set(load.bodies)


def _wait_count(server, text: str, count: int, timeout: float = 20.0) -> None:
    _wait_until(lambda: server.output.count(text) >= count, timeout)


def _wait_until(condition, timeout: float = 20.0) -> None:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not condition():
            assert not done.wait(0.05), "timed out"
    finally:
        deadline.cancel()
