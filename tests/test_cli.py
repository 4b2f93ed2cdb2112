"""The ``asgid`` command line over real processes: errors, options, environment, threads."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.support.net import free_port
from tests.support.server import AsgidProcess, run_cli

APP = "tests.apps.ops:app"


def one_error_line(result) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("asgid ")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("nocolon", "must be written module.path:attribute"),
        ("tests.apps.nosuchmodule:app", "could not import module 'tests.apps.nosuchmodule'"),
        ("tests.apps.ops:missing", "has no attribute 'missing'"),
        ("tests.apps.ops:not_callable", "is int, not an ASGI application"),
    ],
)
def test_bad_application_path_exits_2_with_one_line(path, expected):
    assert expected in one_error_line(run_cli(path, "-p", "0"))


def test_app_that_fails_to_import(tmp_path):
    (tmp_path / "broken.py").write_text("import os\nraise RuntimeError('SECRET_KEY missing')\n")
    (tmp_path / "needs_dep.py").write_text("import not_installed_pkg_xyz\napp = None\n")
    line = one_error_line(run_cli("--app-dir", str(tmp_path), "broken:app"))
    assert "importing 'broken' raised RuntimeError: SECRET_KEY missing" in line
    line = one_error_line(run_cli("--app-dir", str(tmp_path), "needs_dep:app"))
    assert "not_installed_pkg_xyz" in line and "install the missing package" in line
    # -v 2 adds the traceback for whoever debugs the import.
    verbose = run_cli("--app-dir", str(tmp_path), "-v", "2", "broken:app")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_factory_errors_and_missing_app():
    line = one_error_line(run_cli("--factory", "tests.apps.ops:broken_factory"))
    assert "settings module missing" in line
    assert "no application given" in one_error_line(run_cli("-p", "0"))


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("bogus:1", "Unknown endpoint type: 'bogus'"),
        ("tcp:notaport", "bad endpoint 'tcp:notaport'"),
        ("systemd:domain=INET:index=0", "systemd passed no such socket"),
        ("fd:fileno=987", "not an open socket"),
    ],
)
def test_bad_endpoint_exits_2_with_one_line(endpoint, expected):
    line = one_error_line(run_cli(APP, "-e", endpoint))
    assert expected in line and "write e.g. tcp:8000" in line


def test_port_in_use_is_one_clear_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli(APP, "-b", "127.0.0.1", "-p", str(port))
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"Cannot listen on tcp:port={port}" in errors[0]


def test_bind_and_port_flags(asgid):
    port = free_port()
    server = asgid(APP, "-b", "127.0.0.1", "-p", str(port), endpoints=())
    server.wait_for(f"Listening on tcp:127.0.0.1:{port}")
    assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
    port6 = free_port()
    server6 = asgid(APP, "--bind", "::1", "--port", str(port6), endpoints=())
    server6.wait_for(f"Listening on tcp:[::1]:{port6}")


def test_environment_variables(asgid):
    env = {
        "ASGID_APP": "tests.apps.basic:scope_echo",
        "ASGID_ENDPOINT": "tcp:0:interface=127.0.0.1",
        "ASGID_ROOT_PATH": "/api",
        "ASGID_SERVER_NAME": "from-env",
        "ASGID_PROXY_HEADERS": "1",
    }
    server = AsgidProcess("--verbosity=1", env=env, endpoints=())
    try:
        server.wait_for("Listening on tcp:127.0.0.1:")
        address = server.output.split("Listening on tcp:")[1].split()[0]
        response = httpx.get(f"http://{address}/x", headers={"x-forwarded-for": "10.9.8.7"})
        scope = response.json()
        assert response.headers["server"] == "from-env"
        assert scope["root_path"] == "/api"
        assert scope["client"][0] == "10.9.8.7"
    finally:
        server.stop()


def test_command_line_beats_environment(asgid):
    server = asgid(APP, "-s", "from-cli", env={"ASGID_SERVER_NAME": "from-env"})
    assert httpx.get(server.url + "/").headers["server"] == "from-cli"


def test_bad_environment_value_is_an_error():
    result = run_cli(APP, env={"ASGID_PORT": "eighty"})
    assert result.returncode == 2 and "--port" in result.stderr


def test_server_name_and_access_log(asgid, tmp_path):
    log = tmp_path / "access.log"
    server = asgid(APP, "--no-server-name", "--access-log", str(log))
    response = httpx.get(server.url + "/hello?x=1", headers={"user-agent": "probe/1"})
    assert "server" not in response.headers
    deadline = time.monotonic() + 5
    while "GET /hello?x=1" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "no access log line"
        time.sleep(0.02)
    assert '"GET /hello?x=1 HTTP/1.1" 200 2' in log.read_text()


def test_access_log_defaults_to_stdout_like_daphne(asgid):
    server = asgid(APP)
    httpx.get(server.url + "/visible")
    server.wait_for("GET /visible")
    port = free_port()
    quiet = asgid(APP, "-v", "0", "-p", str(port), endpoints=(), expect_ready=False)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:  # -v 0 logs no "Listening on": poll until it answers
        try:
            httpx.get(url + "/invisible")
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline, quiet.output
            time.sleep(0.05)
    assert quiet.stop() == 0
    assert "/invisible" not in quiet.output
    assert "Listening on" not in quiet.output  # -v 0: warnings only


def test_log_format(asgid):
    server = asgid(APP, "--log-fmt", "CUSTOM[%(levelname)s] %(message)s")
    assert "CUSTOM[INFO] Listening on tcp:127.0.0.1:" in server.output


def test_factory_and_loop(asgid):
    server = asgid("tests.apps.ops:make_app", "--factory", "--loop", "asyncio")
    assert httpx.get(server.url + "/").text == "ok"
    server = asgid(APP, "--loop", "uvloop", "-v", "2")
    assert httpx.get(server.url + "/").text == "ok"
    assert "on Loop" in server.output  # uvloop.Loop under the reactor
    assert server.stop() == 0  # signals work on uvloop too
    assert "SIGTERM received" in server.output


def test_proxy_header_flags(asgid):
    server = asgid(APP, "--proxy-headers", "--proxy-headers-host", "X-Real-IP")
    client = httpx.get(server.url + "/client", headers={"x-real-ip": "192.0.2.5"}).json()
    assert client["client"][0] == "192.0.2.5"
    untrusted = asgid(APP, "--forwarded-allow-ips", "10.0.0.1")
    headers = {"x-forwarded-for": "192.0.2.5"}
    assert httpx.get(untrusted.url + "/client", headers=headers).json()["client"][0] == "127.0.0.1"
    line = one_error_line(run_cli(APP, "--proxy-headers-port", "X-Port"))
    assert "needs --proxy-headers" in line


def test_request_limits(asgid):
    server = asgid(
        APP,
        "--limit-request-line", "200",
        "--limit-request-headers", "6",  # httpx sends 6 with a POST body
        "--limit-request-header-bytes", "300",
        "--max-request-body", "10",
    )  # fmt: skip
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/" + "a" * 300).status_code == 414
        many = {f"x-h{i}": "1" for i in range(8)}
        assert client.get("/", headers=many).status_code == 431
        assert client.get("/", headers={"x-big": "b" * 400}).status_code == 431
        assert client.post("/", content=b"x" * 11).status_code == 413
        assert client.post("/", content=b"x" * 10).status_code == 200


def test_timeouts(asgid):
    server = asgid(APP, "-t", "0.5", "--timeout-keep-alive", "0.3")
    started = time.monotonic()
    assert httpx.get(server.url + "/slow?s=5", timeout=10).status_code == 503
    assert time.monotonic() - started < 3
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"ok"):
            data += idle.recv(4096)
        started = time.monotonic()
        assert idle.recv(1) == b""
        assert time.monotonic() - started < 2


@pytest.mark.parametrize(("threads", "calls"), [(3, 6), (12, 12)])
def test_asgi_threads_sizes_the_default_executor(asgid, threads, calls):
    server = asgid(APP, env={"ASGI_THREADS": str(threads)})
    result = json.loads(httpx.get(server.url + f"/threads?n={calls}", timeout=10).text)
    assert result == {"peak": threads, "threads": threads}
