"""Every kind of listening endpoint over real sockets: tcp6, ssl, unix, systemd, haproxy, fd."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile

import httpx
import pytest
import trustme

from tests.support.net import free_port
from tests.support.server import REPO
from tests.support.tools import require_tool

APP = "tests.apps.ops:app"


def raw_request(port: int, data: bytes, host: str = "127.0.0.1") -> bytes:
    """Send bytes, read until the server closes (requests carry Connection: close)."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def body_json(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


GET_CLIENT = b"GET /client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_two_endpoints_ipv4_and_ipv6(asgid):
    server = asgid(APP, endpoints=("tcp:0:interface=127.0.0.1", "tcp6:0:interface=\\:\\:1"))
    v4, v6 = server.addresses
    assert v4.startswith("tcp:127.0.0.1:") and not v4.endswith(":0")
    assert v6.startswith("tcp:[::1]:") and not v6.endswith(":0")
    for address in server.addresses:
        host, port = address.removeprefix("tcp:").rsplit(":", 1)
        assert httpx.get(f"http://{host}:{port}/").text == "ok"
    client = httpx.get(f"http://[::1]:{v6.rsplit(':', 1)[1]}/client").json()["client"]
    assert client[0] == "::1"


def test_ssl_with_extra_cert_chain(asgid, tmp_path):
    ca = trustme.CA()
    intermediate = ca.create_child_ca()
    cert = intermediate.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    intermediate.cert_pem.write_to_path(str(tmp_path / "chain.pem"))
    endpoint = (
        f"ssl:0:interface=127.0.0.1:privateKey={tmp_path}/key.pem:certKey={tmp_path}/cert.pem"
        f":extraCertChain={tmp_path}/chain.pem"
    )
    server = asgid(APP, endpoints=(endpoint,))
    assert server.addresses[0].startswith("ssl:127.0.0.1:")
    # The client trusts only the root: it needs the intermediate the server sends.
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with httpx.Client(verify=context) as client:
        response = client.get(server.url + "/client")
    assert response.json()["scheme"] == "https"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_https_endpoint_is_logged_with_the_prefix_given(asgid, tmp_path, workers):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    endpoint = (
        f"https:0:interface=127.0.0.1:certKey={tmp_path}/cert.pem:privateKey={tmp_path}/key.pem"
    )
    server = asgid(APP, "--workers", workers, endpoints=(endpoint,))
    if workers == "2":  # the supervisor's line and each worker's
        server.wait_for("asgid ready: 2 workers")
        assert server.output.count(f"Listening on https:127.0.0.1:{server.port}") == 3
    assert server.addresses[0].startswith("https:127.0.0.1:")
    assert "Listening on ssl:" not in server.output
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with httpx.Client(verify=context) as client:
        assert client.get(server.url + "/client").json()["scheme"] == "https"


def test_unix_socket_with_mode(asgid, tmp_path):
    path = tmp_path / "asgid.sock"
    server = asgid(APP, endpoints=(f"unix:{path}:mode=600",))
    assert server.addresses == [f"unix:{path}"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
        assert client.get("http://localhost/client").json()["client"] is None


def test_unix_socket_flag(asgid, tmp_path):
    path = tmp_path / "u.sock"
    server = asgid(APP, "-u", str(path), endpoints=())
    server.wait_for(f"Listening on unix:{path}")
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
        assert client.get("http://localhost/").text == "ok"


class Activated:
    """``systemd-socket-activate`` listening on a free port, exec'ing asgid on first connect."""

    def __init__(self, tool: str, *asgid_args: str, fdname: str | None = None) -> None:
        self.port = free_port()
        command = [tool, "-l", f"127.0.0.1:{self.port}"]
        if fdname:
            command.append(f"--fdname={fdname}")
        command += ["-E", f"PYTHONPATH={REPO}", "-E", "PYTHONUNBUFFERED=1"]
        command += [sys.executable, "-m", "asgid", APP, *asgid_args]
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{text!r} not seen:\n{''.join(self.lines)}")
            time.sleep(0.02)

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(15)
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


@pytest.mark.parametrize(
    ("selector", "fdname"), [("index=0", None), ("name=web", "web")], ids=["index", "name"]
)
def test_systemd_socket_activation(selector, fdname):
    tool = require_tool("systemd-socket-activate", "systemd")
    activated = Activated(tool, "-e", f"systemd:domain=INET:{selector}", fdname=fdname)
    try:
        activated.wait_for(f"Listening on 127.0.0.1:{activated.port}")
        # The first connection waits in the backlog while asgid starts and adopts the socket.
        response = httpx.get(f"http://127.0.0.1:{activated.port}/client", timeout=15)
        assert response.json()["client"][0] == "127.0.0.1"
        activated.wait_for(f"Listening on tcp:127.0.0.1:{activated.port}")
    finally:
        code = activated.stop()
        assert code == 0, "".join(activated.lines)


def proxy_v2_header(src: str, src_port: int, dst: str, dst_port: int) -> bytes:
    """PROXY protocol v2 (haproxy proxy-protocol.txt §2.2): PROXY command, TCP over IPv4."""
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    addresses = (
        socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", src_port, dst_port)
    )
    return signature + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses


def test_haproxy_proxy_protocol_v1_and_v2(asgid):
    server = asgid(APP, endpoints=("haproxy:tcp:0:interface=127.0.0.1",))
    v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 56324 80\r\n" + GET_CLIENT
    assert body_json(raw_request(server.port, v1))["client"] == ["203.0.113.7", 56324]
    v2 = proxy_v2_header("198.51.100.9", 40000, "127.0.0.1", 80) + GET_CLIENT
    assert body_json(raw_request(server.port, v2))["client"] == ["198.51.100.9", 40000]
    v1_ipv6 = b"PROXY TCP6 2001:db8::1 ::1 1234 80\r\n" + GET_CLIENT
    assert body_json(raw_request(server.port, v1_ipv6))["client"] == ["2001:db8::1", 1234]


def test_fd_flag_with_inherited_socket(asgid):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        server = asgid(
            APP, "--fd", str(listener.fileno()), endpoints=(), pass_fds=(listener.fileno(),)
        )
        server.wait_for(f"Listening on tcp:127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
    finally:
        listener.close()


PLUGINS = (
    "from twisted.plugin import getPlugins;"
    "from twisted.internet.interfaces import IStreamServerEndpointStringParser as I;"
    "print(sorted(p.prefix for p in getPlugins(I)))"
)


def test_fd_plugin_found_by_twisted_in_this_install(tmp_path):
    """Plain Twisted (no asgid code path) finds ``fd`` from the installed package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", PLUGINS], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert "'fd'" in result.stdout, result.stdout + result.stderr


def test_fd_plugin_in_the_built_wheel(tmp_path):
    """A non-editable install ships twisted/plugins/asgid_fd.py, without an __init__.py."""
    # Build from a copy: setuptools leaves build/ and *.egg-info next to the sources.
    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "dropin.cache")
    for name in ("server", "channel_layers"):
        shutil.copytree(REPO / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    if build.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(build.stderr)
        pytest.skip(f"cannot build a wheel here (offline?): {build.stderr[-200:]}")
    wheel = next(tmp_path.glob("asgid-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "twisted/plugins/asgid_fd.py" in names
    assert "twisted/plugins/__init__.py" not in names and "twisted/__init__.py" not in names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    # -S: no .pth processing, so only the unpacked wheel can supply the plugin.
    env = {"PYTHONPATH": f"{target}{os.pathsep}{site_packages}", "PATH": os.environ["PATH"]}
    result = subprocess.run(
        [sys.executable, "-S", "-c", PLUGINS + ";import asgid; print(asgid.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert "'fd'" in result.stdout, result.stdout + result.stderr
    assert str(target) in result.stdout


def test_endpoint_descriptions_follow_daphne():
    from asgid.endpoints import build_descriptions

    def build(**kw: object) -> tuple[str, ...]:
        args = {"endpoints": None, "host": None, "port": None, "unix_socket": None, "fd": None}
        return build_descriptions(**{**args, **kw})  # type: ignore[arg-type]

    assert build() == ("tcp:port=8000:interface=127.0.0.1",)
    assert build(port=9000) == ("tcp:port=9000:interface=127.0.0.1",)
    assert build(host="0.0.0.0") == ("tcp:port=8000:interface=0.0.0.0",)
    assert build(host="[::1]", port=1) == ("tcp:port=1:interface=\\:\\:1",)
    assert build(endpoints=["unix:/a"]) == ("unix:/a",)
    assert build(endpoints=["tcp:1"], unix_socket="/s", fd=3) == ("tcp:1", "unix:/s", "fd:fileno=3")


def test_plain_tcp_strings_skip_twisted_endpoint_parsing():
    from asgid.endpoints import PlainTCPEndpoint, server_from_string
    from twisted.internet.testing import MemoryReactor

    reactor = MemoryReactor()
    plain = server_from_string(reactor, "tcp:port=8001:backlog=7:interface=\\:\\:1")
    assert isinstance(plain, PlainTCPEndpoint)
    assert (plain.port, plain.interface, plain.backlog) == (8001, "::1", 7)
    plain.listen(object())
    assert reactor.tcpServers[0][:4] == (8001, reactor.tcpServers[0][1], 7, "::1")
    # Anything else is Twisted's to parse, and to explain when it is wrong.
    assert not isinstance(server_from_string(reactor, "tcp6:8001"), PlainTCPEndpoint)
    for wrong in ("tcp:http", "tcp:8001:colour=blue", "tcp:8001:port=8002"):
        with pytest.raises((ValueError, TypeError)):
            server_from_string(reactor, wrong)


def test_plain_tcp_with_escaped_ipv6_interface_and_backlog(asgid):
    server = asgid(APP, endpoints=("tcp:port=0:interface=\\:\\:1:backlog=16",))
    assert server.addresses[0].startswith("tcp:[::1]:")
    port = int(server.addresses[0].rsplit(":", 1)[1])
    assert httpx.get(f"http://[::1]:{port}/").text == "ok"


@pytest.mark.parametrize(
    "description",
    ["tcp6:8001", "TCP6:8001:interface=\\:\\:1", "tcp6:x", "tcp6:8001:colour=blue",
     "systemd:domain=INET:index=x", "haproxy:tcp6:80", "haproxy:nope:1", "stdio:", "nope:1"],
)  # fmt: skip
def test_twisted_kinds_without_the_plugin_scan_parse_as_twisted_does(description):
    """Twisted's own plugin kinds skip its plugin scan: same endpoint or same error as
    ``serverFromString``; an unknown kind still reaches ``serverFromString``."""
    from asgid.endpoints import server_from_string
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.testing import MemoryReactor

    def outcome(parse):
        try:
            endpoint = parse(MemoryReactor(), description)
        except Exception as exc:  # the error is what is compared
            return type(exc), str(exc)
        return type(endpoint), sorted(k for k in vars(endpoint) if k != "_reactor")

    assert outcome(server_from_string) == outcome(serverFromString)
