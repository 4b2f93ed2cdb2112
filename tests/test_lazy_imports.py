"""What a server process imports: only what the traffic it served needs (docs/design.md).

A plain ``tcp:`` server answering HTTP/1.1 has not imported pyOpenSSL, cryptography, h2,
Autobahn or prometheus_client; the first HTTP/2 connection (h2c) loads h2, the first
WebSocket loads Autobahn, and both then serve. A TLS endpoint still serves with the TLS
stack it needs. Every server here is a real process; the app reports its ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from asgid.protocols.websocket.loader import TESTED_AUTOBAHN, _installed_version, _tested_version
from asgid.reactor_tls import only_plain
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.server import AsgidProcess
from tests.support.tls_certs import TLSFiles

APP = "tests.apps.modules:app"
HEAVY = {"OpenSSL", "cryptography", "h2", "hpack", "autobahn", "txaio", "prometheus_client"}


@pytest.fixture(params=["uvloop", "asyncio"])
def server(request: pytest.FixtureRequest) -> Iterator[AsgidProcess]:
    proc = AsgidProcess(APP, "--loop", request.param, "--access-log", "/dev/null")
    yield proc
    proc.stop()


def imported(url: str, **client: object) -> set[str]:
    with httpx.Client(**client) as http:  # type: ignore[arg-type]
        response = http.get(url)
    assert response.status_code == 200
    return set(response.json())


async def echo_once(url: str) -> str:
    async with connect(url) as ws:
        await ws.send("ping")
        return str(await ws.recv())


def test_plain_http1_server_loads_no_tls_h2_or_websocket_stack(server: AsgidProcess) -> None:
    assert imported(server.url + "/") & HEAVY == set()


def test_h2c_then_websocket_load_their_stacks_on_first_use(server: AsgidProcess) -> None:
    over_h2 = imported(server.url + "/", http1=False, http2=True)  # prior knowledge (h2c)
    assert {"h2", "hpack"} <= over_h2
    assert over_h2 & {"OpenSSL", "autobahn"} == set()
    ws_url = server.url.replace("http://", "ws://") + "/"
    assert asyncio.run(echo_once(ws_url)) == "ping"
    assert asyncio.run(echo_once(ws_url)) == "ping"  # the second finds Autobahn loaded
    assert "autobahn" in imported(server.url + "/")


def test_tls_endpoint_loads_h2_at_start_and_serves_both(tls_files: TLSFiles) -> None:
    proc = AsgidProcess(APP, "--access-log", "/dev/null", endpoints=[tls_files.endpoint()])
    try:
        url = f"https://localhost:{proc.port}/"
        for http2 in (False, True):
            context = tls_files.client_context(alpn=["h2" if http2 else "http/1.1"])
            loaded = imported(url, http1=not http2, http2=http2, verify=context)
            # Over TLS, h2 is imported at start-up: most clients choose it by ALPN.
            assert {"OpenSSL", "h2"} <= loaded
    finally:
        proc.stop()


def test_twisted_plugin_endpoint_kind_does_not_load_every_plugin() -> None:
    # Twisted's plugin scan (serverFromString) imports every endpoint plugin, Autobahn's too.
    proc = AsgidProcess(APP, "--access-log", "/dev/null", endpoints=["tcp6:0:interface=\\:\\:1"])
    try:
        assert imported(proc.url + "/") & {"autobahn", "h2"} == set()
    finally:
        proc.stop()


def test_autobahn_changed_inside_the_version_range_refuses_websockets() -> None:
    proc = AsgidProcess("tests.apps.reshaped_autobahn:app", "--access-log", "/dev/null")
    try:
        ws_url = proc.url.replace("http://", "ws://") + "/"
        for _ in range(2):
            with pytest.raises(InvalidStatus) as refused:
                asyncio.run(echo_once(ws_url))
            assert refused.value.response.status_code == 500
        line = proc.wait_for("WebSocket upgrades are answered 500")
        assert "method sendFrame is gone" in line
        assert proc.output.count("WebSocket upgrades are answered 500") == 1
        assert "autobahn" in imported(proc.url + "/")  # HTTP is still served
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("version", "tested"),
    [("26.10.2", True), ("26.10", True), ("26.9.9", False), ("27.0.0", False),
     ("26.11.0rc1", False), (None, False)],
)  # fmt: skip
def test_autobahn_version_range(version: str | None, tested: bool) -> None:
    assert _tested_version(version) is tested


def test_autobahn_version_read_without_importlib_metadata() -> None:
    assert _installed_version() == version("autobahn")


def test_autobahn_range_is_the_one_pyproject_names() -> None:
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    bound = re.search(r'"autobahn>=([\d.]+),<([\d.]+)"', text)
    assert bound is not None
    as_tuple = [tuple(int(n) for n in part.split(".")) for part in bound.groups()]
    assert tuple(as_tuple) == TESTED_AUTOBAHN


@pytest.mark.parametrize(
    ("endpoints", "plain"),
    [(("tcp:8000:interface=127.0.0.1", None), True),
     (("unix:/tmp/a.sock", "tcp:9100", "fd:fileno=3", "haproxy:tcp:80"), True),
     (("systemd:domain=INET:index=0",), True),
     (("tcp:8000", "ssl:8443:privateKey=k:certKey=c"), False),
     (("https:8443:certKey=c:privateKey=k",), False),
     (("fd:fileno=3:tls=ab12",), False), (("haproxy:ssl:443",), False),
     (("le:/certs:tcp:443",), False)],
)  # fmt: skip
def test_which_endpoints_need_no_tls_stack(endpoints: tuple[str | None, ...], plain: bool) -> None:
    assert only_plain(endpoints) is plain


# Installs the reactor without Twisted's TLS stack, then listens with reactor.listenSSL (as
# an app sharing the reactor might) and answers one TLS client.
_LISTEN_SSL = """
import socket, ssl, sys, threading
from asgid import reactor as setup
setup.install("asyncio", tls=False)
assert "OpenSSL" not in sys.modules and "twisted.protocols.tls" not in sys.modules
from twisted.internet import reactor
from twisted.internet.interfaces import IReactorSSL
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import DefaultOpenSSLContextFactory
assert IReactorSSL.providedBy(reactor)
class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data.upper())
key, cert, ca = sys.argv[1:4]
port = reactor.listenSSL(0, Factory.forProtocol(Echo), DefaultOpenSSLContextFactory(key, cert),
                         interface="127.0.0.1")
def client():
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port.getHost().port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"hello")
            print(tls.recv(5).decode(), flush=True)
    reactor.callFromThread(reactor.stop)
threading.Thread(target=client, daemon=True).start()
reactor.run()
"""


def test_reactor_without_tls_stack_still_listens_with_listen_ssl(tls_files: TLSFiles) -> None:
    files = [str(tls_files.key), str(tls_files.cert), str(tls_files.ca_pem)]
    done = subprocess.run(
        [sys.executable, "-c", _LISTEN_SSL, *files], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "HELLO"


# What a plain tcp: server needs neither for start-up nor for its first requests.
UNUSED_AT_START = {
    "twisted.internet.endpoints",  # tcp: goes straight to reactor.listenTCP
    "http.cookiejar",  # twisted.python.compat's import of it stays lazy (lazy_modules.py)
    "twisted.internet.process",  # lazy too: only spawnProcess and SIGCHLD handling call it
    "pty",
    "twisted.internet.unix",  # lazy: only unix sockets call it
    "twisted.internet.udp",  # lazy: only listenUDP calls it
    "urllib.request",
    "http.client",
    "email.parser",
    "email.utils",  # the Date header is formatted by asgid (protocols/io/headers.py)
}


def test_plain_tcp_server_runs_none_of_the_unused_modules(server: AsgidProcess) -> None:
    assert imported(server.url + "/?all") & UNUSED_AT_START == set()


def test_deferred_cookiejar_loads_on_first_use() -> None:
    # A fresh interpreter: the lazy entry must be made before Twisted is imported.
    check = (
        "import sys\n"
        "from asgid.lazy_modules import defer_unused_imports\n"
        "defer_unused_imports()\n"
        "import twisted.internet.defer\n"
        "assert 'urllib.request' not in sys.modules\n"
        "from http.cookiejar import CookieJar\n"
        "import http.cookiejar, urllib.request\n"
        "assert http.cookiejar.CookieJar is CookieJar and len(CookieJar()) == 0\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True)


# The reactor as asgid installs it, then each deferred Twisted module through the reactor
# method that needs it: a child process reaped, a UDP datagram echoed, a UNIX socket served.
_DEFERRED_TWISTED = """
import os, socket, sys, tempfile
from asgid.lazy_modules import defer_unused_imports
defer_unused_imports()
from asgid import reactor as setup
setup.install("asyncio", tls=False)
from twisted.internet import reactor
from twisted.internet.protocol import ClientFactory, DatagramProtocol, Factory, Protocol
from twisted.internet.protocol import ProcessProtocol
from tests.apps.modules import _has_run
names = ("twisted.internet.process", "twisted.internet.unix", "twisted.internet.udp")
assert not any(_has_run(sys.modules[name]) for name in names), "ran at import"
results = []
class Child(ProcessProtocol):
    def outReceived(self, data):
        results.append(data.strip().decode())
    def processEnded(self, reason):
        results.append(f"exit {reason.value.exitCode}")
        udp()
def udp():
    class Echo(DatagramProtocol):
        def datagramReceived(self, data, address):
            results.append(data.decode())
            unix()
    port = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(b"datagram", ("127.0.0.1", port.getHost().port))
def unix():
    class Hello(Protocol):
        def connectionMade(self):
            self.transport.write(b"unix")
            self.transport.loseConnection()
    class Reader(Protocol):
        def dataReceived(self, data):
            results.append(data.decode())
            reactor.stop()
    path = os.path.join(tempfile.mkdtemp(), "s")
    reactor.listenUNIX(path, Factory.forProtocol(Hello))
    reactor.connectUNIX(path, ClientFactory.forProtocol(Reader))
reactor.callWhenRunning(
    reactor.spawnProcess, Child(), sys.executable, [sys.executable, "-c", "print('child')"],
    env=None,
)
reactor.callLater(30, reactor.stop)
reactor.run()
assert all(_has_run(sys.modules[name]) for name in names)
print(" ".join(results))
"""


def test_deferred_twisted_modules_load_on_first_use() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _DEFERRED_TWISTED],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["child", "exit", "0", "datagram", "unix"]


@pytest.mark.parametrize("seconds", [0, 784111777, 951782400, 1795904549.9, 4102444799])
def test_date_header_matches_the_standard_library(seconds: float) -> None:
    from email.utils import formatdate

    from asgid.protocols.io.headers import http_date

    assert http_date(seconds) == formatdate(int(seconds), usegmt=True)
