"""``asgid --reload``: a real file change restarts the server; errors keep the watcher alive."""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from asgid.certs import write_pair

from tests.support.net import free_port
from tests.support.server import AsgidProcess, run_cli

pytest.importorskip("watchfiles")

READY = "asgid ready"
# The old process logs this once it stopped accepting: only the new one answers after it.
DRAINING = "SIGTERM received: finishing in-flight requests"

APP = """
import asyncio
import logging
from pathlib import Path

GREETING = {greeting!r}
log = logging.getLogger("slowapp")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        # Holds the request open until the test creates the release file.
        log.warning("slow request started")
        release = Path(__file__).with_name("release")
        while not release.exists():
            await asyncio.sleep(0.02)
    body = GREETING.encode()
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": body}})
"""


def _write_app(directory: Path, greeting: str) -> None:
    path = directory / "reloadapp.py"
    path.write_text(APP.format(greeting=greeting))


def _wait_count(server: AsgidProcess, text: str, times: int, timeout: float = 20.0) -> None:
    """Wait until ``text`` was logged ``times`` times (the n-th restart, the n-th ready)."""
    deadline = time.monotonic() + timeout
    while server.output.count(text) < times:
        if time.monotonic() > deadline or server.proc.poll() is not None:
            raise AssertionError(f"{text!r} not logged {times}x:\n{server.output}")
        time.sleep(0.02)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    _write_app(tmp_path, "v1")
    return tmp_path


Start = Callable[..., AsgidProcess]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_file_change_restarts_and_serves_the_new_code(
    asgid: Start, app_dir: Path, loop: str
) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    server = asgid("reloadapp:app", "--reload", "--app-dir", str(app_dir), "--loop", loop)
    _wait_count(server, READY, 1)
    assert httpx.get(server.url).text == "v1"
    _write_app(app_dir, "v2")
    _wait_count(server, READY, 2)
    _wait_count(server, DRAINING, 1)
    assert httpx.get(server.url).text == "v2"
    # Files outside the include globs do not restart anything.
    (app_dir / "notes.txt").write_text("not python")
    _write_app(app_dir, "v3")
    _wait_count(server, READY, 3)
    assert "notes.txt" not in server.output


def test_syntax_error_keeps_the_watcher_until_fixed(asgid: Start, app_dir: Path) -> None:
    server = asgid("reloadapp:app", "--reload", "--app-dir", str(app_dir))
    _wait_count(server, READY, 1)
    (app_dir / "reloadapp.py").write_text("def broken(:\n")
    server.wait_for("waiting for a file change")
    assert "SyntaxError" in server.output
    assert server.proc.poll() is None
    _write_app(app_dir, "fixed")
    _wait_count(server, READY, 2)
    assert httpx.get(server.url).text == "fixed"


def test_restart_lets_in_flight_requests_finish(asgid: Start, app_dir: Path) -> None:
    server = asgid("reloadapp:app", "--reload", "--app-dir", str(app_dir))
    _wait_count(server, READY, 1)
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(httpx.get(server.url + "/slow")))
    slow.start()
    server.wait_for("slow request started")
    _write_app(app_dir, "v2")
    _wait_count(server, READY, 2)
    _wait_count(server, DRAINING, 1)
    # The old process is draining: the new one already answers with the new code.
    assert httpx.get(server.url).text == "v2"
    (app_dir / "release").write_text("")
    slow.join(15)
    assert [(r.status_code, r.text) for r in answers] == [(200, "v1")]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_sighup_restarts_the_server_gracefully(asgid: Start, app_dir: Path, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    # The application file is not watched: only the SIGHUP can bring v2 in.
    server = asgid(
        "reloadapp:app", "--reload", "--app-dir", str(app_dir),
        "--reload-exclude", "reloadapp.py", "--loop", loop,
    )  # fmt: skip
    _wait_count(server, READY, 1)
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(httpx.get(server.url + "/slow")))
    slow.start()
    server.wait_for("slow request started")
    _write_app(app_dir, "v2")
    server.signal(signal.SIGHUP)
    _wait_count(server, "SIGHUP received; restarting", 1)
    _wait_count(server, READY, 2)
    _wait_count(server, DRAINING, 1)
    assert httpx.get(server.url).text == "v2"
    (app_dir / "release").write_text("")
    slow.join(15)
    assert [(r.status_code, r.text) for r in answers] == [(200, "v1")]
    assert server.proc.poll() is None and "changed:" not in server.output


def test_reload_dirs_and_include_exclude_globs(asgid: Start, app_dir: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    server = asgid(
        "reloadapp:app", "--reload", "--app-dir", str(app_dir),
        "--reload-dir", str(app_dir), "--reload-dir", str(templates),
        "--reload-include", "*.py", "--reload-include", "*.html",
        "--reload-exclude", "scratch_*",
    )  # fmt: skip
    _wait_count(server, READY, 1)
    (templates / "page.html").write_text("<p>second directory, included glob</p>")
    _wait_count(server, "; restarting", 1)
    _wait_count(server, READY, 2)
    # Neither of these restarts anything: the next restart names only the file after them.
    (app_dir / "scratch_notes.py").write_text("excluded = True\n")
    (templates / "notes.txt").write_text("not included")
    (templates / "other.html").write_text("<p>included</p>")
    _wait_count(server, "; restarting", 2)
    _wait_count(server, READY, 3)
    assert "other.html" in server.output
    assert "scratch_notes.py" not in server.output and "notes.txt" not in server.output


def test_ctrl_c_stops_watcher_and_server(asgid: Start, app_dir: Path) -> None:
    server = asgid("reloadapp:app", "--reload", "--app-dir", str(app_dir))
    _wait_count(server, READY, 1)
    server.signal(2)
    assert server.wait(20) == 0
    assert "Traceback" not in server.output


def test_reload_with_workers_is_refused() -> None:
    result = run_cli("examples.hello:app", "--reload", "--workers", "2")
    assert result.returncode == 2
    assert "--reload runs one server process and cannot be combined with --workers" in (
        result.stderr
    )


def test_reload_without_watchfiles_says_how_to_install(tmp_path: Path) -> None:
    # A package named watchfiles that fails to import stands in for a missing install.
    shadow = tmp_path / "watchfiles"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).resolve().parents[1]}"}
    result = run_cli("examples.hello:app", "--reload", env=env)
    assert result.returncode == 2
    assert "pip install 'asgid[reload]'" in result.stderr


def test_missing_reload_dir_is_refused(tmp_path: Path) -> None:
    result = run_cli("examples.hello:app", "--reload", "--reload-dir", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "no such directory" in result.stderr


def test_unshareable_ssl_endpoint_restarts_after_the_old_process(
    asgid: Start, app_dir: Path, tmp_path: Path
) -> None:
    """ssl: sockets stay in each child, so the new child binds the port again."""
    cert, key = write_pair(tmp_path / "tls")
    endpoint = f"ssl:{free_port()}:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    server = asgid("reloadapp:app", "--reload", "--app-dir", str(app_dir), endpoints=[endpoint])
    _wait_count(server, READY, 1)
    verify = ssl.create_default_context(cafile=str(cert))
    assert httpx.get(server.url, verify=verify).text == "v1"
    _write_app(app_dir, "v2")
    _wait_count(server, READY, 2)
    assert httpx.get(server.url, verify=verify).text == "v2"
