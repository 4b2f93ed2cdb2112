"""``manage.py runserver`` with ``"asgid"`` in INSTALLED_APPS, run for real in a throwaway project.

Each test writes a small project into its tmp_path, starts ``manage.py runserver`` on a free
port and talks to it over real sockets: page, static file, HTTP/2 (h2c and TLS), a Channels
WebSocket echo, a code edit picked up by Django's autoreloader, ``--noasgi`` and Ctrl-C.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgid.certs import write_pair
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from tests.support.django_project import RunserverProcess, make_project, write_views
from tests.support.net import free_port
from tests.support.server import REPO

pytest.importorskip("channels")

READY = "asgid ready"
Start = Callable[..., tuple[RunserverProcess, str]]


@pytest.fixture
def runserver(tmp_path: Path) -> Iterator[Start]:
    """Start ``runserver`` on a free port in a fresh project; every one is killed afterwards."""
    started: list[RunserverProcess] = []

    def start(
        *args: str, ready: str = READY, debug: bool = True, **project: Any
    ) -> tuple[RunserverProcess, str]:
        manage_py = make_project(tmp_path / "site", debug=debug, **project)
        port = free_port()
        server = RunserverProcess(manage_py, f"127.0.0.1:{port}", *args)
        started.append(server)
        server.wait_for(ready)
        return server, f"127.0.0.1:{port}"

    yield start
    for server in started:
        server.stop()


def test_page_static_file_and_h2c(runserver: Start) -> None:
    server, address = runserver()
    page = httpx.get(f"http://{address}/")
    assert page.status_code == 200
    assert page.text == "hello from django"
    assert page.headers["server"] == "asgid"
    css = httpx.get(f"http://{address}/static/site_app/style.css")
    assert css.status_code == 200
    assert css.text == "body { color: teal; }\n"
    with httpx.Client(http1=False, http2=True) as client:
        info = client.get(f"http://{address}/info/")
    assert info.http_version == "HTTP/2"
    assert info.json() == {"http_version": "2", "scheme": "http"}
    assert "Starting ASGI/asgid version" in server.output
    assert f"development server at http://{address}/" in server.output
    assert '"GET /static/site_app/style.css HTTP/1.1" 200' in server.output


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_channels_websocket_echo(runserver: Start, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    _server, address = runserver("--loop", loop)
    with connect(f"ws://{address}/ws/echo/", open_timeout=10) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "echo: ping"


@pytest.mark.parametrize(
    ("args", "settings", "limit"),
    [
        ((), "DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = 64", 64),
        (("--websocket-max-message-size", "1k"), "DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = 64", 1024),
    ],
    ids=["daphne-setting", "flag-over-setting"],
)
def test_websocket_message_size_as_daphne_runserver(
    runserver: Start, args: tuple[str, ...], settings: str, limit: int
) -> None:
    _server, address = runserver("--noreload", *args, extra_settings=settings)
    with connect(f"ws://{address}/ws/echo/", open_timeout=10, max_size=None) as ws:
        ws.send("x" * (limit - len("echo: ")))  # the echo is the message plus its prefix
        assert len(ws.recv(timeout=10)) == limit
    with connect(f"ws://{address}/ws/echo/", open_timeout=10, max_size=None) as ws:
        ws.send("x" * (limit + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


def test_nostatic_and_insecure(runserver: Start) -> None:
    _server, address = runserver("--nostatic")
    assert httpx.get(f"http://{address}/static/site_app/style.css").status_code == 404
    _server, address = runserver("--insecure", debug=False)
    assert httpx.get(f"http://{address}/static/site_app/style.css").status_code == 200


def test_code_edit_reloads_the_server(runserver: Start, tmp_path: Path) -> None:
    server, address = runserver()
    assert httpx.get(f"http://{address}/").text == "hello from django"
    views = tmp_path / "site" / "site_app" / "views.py"
    server.wait_for(f"File {views} first seen")
    before = views.stat().st_mtime
    write_views(tmp_path / "site", "edited while running")
    os.utime(views, (before + 2, before + 2))  # later than the baseline, whatever the clock
    server.wait_for("views.py changed, reloading")
    server.wait_for(READY, times=2)
    assert httpx.get(f"http://{address}/").text == "edited while running"


def test_https_with_given_certificate_speaks_http2(runserver: Start, tmp_path: Path) -> None:
    cert, key = write_pair(tmp_path / "tls")
    server, address = runserver("--cert-file", str(cert), "--key-file", str(key), "--noreload")
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=str(cert))) as client:
        response = client.get(f"https://{address}/info/")
    assert response.http_version == "HTTP/2"
    assert response.json() == {"http_version": "2", "scheme": "https"}
    assert f"development server at https://{address}/" in server.output


def test_https_with_self_signed_certificate(runserver: Start) -> None:
    _server, address = runserver("--self-signed", "--noreload")
    with httpx.Client(http2=True, verify=False) as client:
        response = client.get(f"https://{address}/")
    assert (response.http_version, response.text) == ("HTTP/2", "hello from django")


def test_noasgi_falls_back_to_django_wsgi_server(runserver: Start) -> None:
    server, address = runserver("--noasgi", ready="Quit the server with")
    response = httpx.get(f"http://{address}/")
    assert response.text == "hello from django"
    assert response.headers["server"].startswith("WSGIServer")
    assert READY not in server.output
    # Static files in DEBUG, as Django's own runserver (staticfiles') serves them.
    css = httpx.get(f"http://{address}/static/site_app/style.css")
    assert (css.status_code, css.text) == (200, "body { color: teal; }\n")


@pytest.mark.parametrize("reload", [True, False], ids=["autoreload", "noreload"])
def test_ctrl_c_ends_cleanly(runserver: Start, reload: bool) -> None:
    server, address = runserver(*(() if reload else ("--noreload",)))
    assert httpx.get(f"http://{address}/").status_code == 200
    assert server.interrupt() == 0
    assert "Traceback" not in server.output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{address}/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cert-file", "cert.pem"), "--cert-file and --key-file go together"),
        (("--self-signed", "--noasgi"), "--noasgi serves plain HTTP"),
        (("--http_timeout", "0"), "--http-timeout must be a positive number of seconds"),
    ],
)
def test_bad_options_are_refused_before_serving(
    runserver: Start, args: tuple[str, ...], message: str
) -> None:
    server, _address = runserver(*args, ready="Error")
    assert server.proc.wait(30) == 1
    assert message in server.output
    assert "Traceback" not in server.output


def test_importing_asgid_imports_nothing_of_django() -> None:
    code = "import sys, asgid, asgid.cli; sys.exit('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0


def test_asgid_after_staticfiles_warns_and_runs_djangos_server(runserver: Start) -> None:
    apps = ["django.contrib.contenttypes", "django.contrib.staticfiles", "asgid", "site_app"]
    server, address = runserver("--noreload", ready="Quit the server with", apps=apps)
    assert "asgid.W001" in server.output
    assert 'Move "asgid" above "django.contrib.staticfiles"' in server.output
    assert httpx.get(f"http://{address}/").headers["server"].startswith("WSGIServer")
    # A warning, not an error: other commands are not blocked by the order.
    check = subprocess.run(
        [sys.executable, str(server.command[1]), "check"],
        cwd=str(Path(server.command[1]).parent),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert "asgid.W001" in check.stderr
